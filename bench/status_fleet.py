"""A fleet of simulated edges: from `git push` to every node Synced, and to the status commit.

    python -m bench.status_fleet [--nodes 1000] [--connections 4] [--status-interval 1]
    python -m bench.status_fleet --nodes 10000 --commit-only

Sets up a Mosquitto broker (tests.support.mosquitto), a fleet repository of `--nodes`
nodes with one app (a bare remote plus a working clone), `shoal controller` as a real
process following the bare remote (its local-commit trigger notices the push), and
`--nodes` simulated edges multiplexed over `--connections` MQTT connections: each
subscribes to its nodes' desired topics and answers every Desired document with a
Reported one, Synced at that revision (no Kubernetes: this measures shoal, not apply).

After the fleet has converged once, it commits a change that touches every node,
pushes it and measures:

- push -> each node's Synced report (p50, p99, max), target p99 < 3 s;
- push -> the status commit that records all nodes at the new revision, target < 5 s;
- the status commit itself for all nodes (StatusBook + StatusBranch, in this
  process), target < 1 s, against a baseline: the same files written and committed
  with plain `git add -A && git commit`.

And where the time goes, in seconds after the push (one clock: `time.monotonic()`
of this process, where the simulated edges run): when each node's Desired document
arrived (first, p50, p99, max), when its Reported one was published (= Synced), the
simulated edge's own answer time in between (the apparatus), how many documents
arrived in each quarter second (stalls show as dips), when each status commit
reached the remote, and the CPU seconds the controller (with the git commands it
ran), Mosquitto and this process spent until every node was Synced and until the
status commit. The controller's own log lines for the rollout follow (its render
and hand-over to paho, each status commit with its size and time).

The status branch is watched by reading its ref file on the remote every 20 ms, and
a commit's summary.yaml is read once, when the ref moves (a `git show` and a
10,000-name parse every poll took most of a core from the controller it measures).
This process, which runs the 10,000 simulated edges' MQTT threads, tunes its
interpreter as the controller does (`transport.interpreter`): the apparatus should
not add GIL convoys or garbage-collector pauses of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench._processes import start_controller, stop_controller
from controller.status.book import StatusBook
from controller.status.branch import StatusBranch
from shadow import AppStatus, ReportedDocument
from tests.support.controller import FleetRepo, git
from tests.support.mosquitto import Mosquitto
from tests.support.simedges import SimulatedEdges
from tests.support.waiting import wait_until
from transport.interpreter import tune_interpreter


def make_fleet(root: Path, nodes: int) -> FleetRepo:
    """A working clone and its bare remote holding a fleet of `nodes` nodes and one app
    whose render every node depends on (the controller tests' fixture fleet)."""
    names = {f"node-{i:05}": {"site": f"s{i % 10}"} for i in range(nodes)}
    return FleetRepo.create(root, names, greeting="first")


def status_tip(remote: Path, branch: str = "shoal-status") -> str | None:
    """The status branch's tip on the remote, read from its ref file (a push writes a
    loose ref); `git rev-parse` only when the ref is packed. Cheap enough to poll every
    20 ms without taking a core from the controller the bench measures."""
    try:
        return (remote / "refs" / "heads" / branch).read_text().strip() or None
    except OSError:
        done = subprocess.run(
            ["git", "-C", str(remote), "rev-parse", "-q", "--verify", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() or None


def status_records(remote: Path, commit: str, revision: str, nodes: int) -> bool:
    """Does status commit `commit` record all `nodes` nodes at `revision`?"""
    done = subprocess.run(
        ["git", "-C", str(remote), "show", f"{commit}:summary.yaml"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return False
    summary = yaml.load(done.stdout, Loader=yaml.CSafeLoader)
    return bool(summary["revisions"].get(revision, {}).get("nodes") == nodes)


class StatusWatch:
    """Polls the status branch's tip; reads a commit's summary once, when the tip moves,
    so the wait costs a file read per poll, not a `git show` and a 10,000-name parse."""

    def __init__(self, remote: Path, nodes: int) -> None:
        self.remote, self.nodes = remote, nodes
        self.seen: str | None = None
        self.commits: list[tuple[float, str]] = []  # (when the tip was seen, commit)

    def records(self, revision: str) -> float | None:
        """When the tip was first seen at a commit recording every node at `revision`."""
        tip = status_tip(self.remote)
        if tip is None or tip == self.seen:
            return None
        when = time.monotonic()
        self.seen = tip
        self.commits.append((when, tip))
        return when if status_records(self.remote, tip, revision, self.nodes) else None


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` and its finished children (the git
    commands the controller runs) so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


STEP = 0.25  # seconds per bucket of the arrival timeline


def timeline(values: list[float]) -> str:
    """How many of `values` fall in each STEP-second bucket after the push."""
    counts = [0] * (int(max(values) / STEP) + 1)
    for value in values:
        counts[int(value / STEP)] += 1
    return " ".join(str(c) for c in counts)


def spread(values: list[float]) -> str:
    return (
        f"first {min(values):5.2f}  p50 {statistics.median(values):5.2f}  p99 {percentile(values, 99):5.2f}  "
        f"max {max(values):5.2f}"
    )


def measure_end_to_end(args: argparse.Namespace, root: Path) -> None:
    # The simulated edges' network threads share this process with their own work, the
    # bench's polling and a large heap: tuned as the controller is (transport.interpreter).
    tune_interpreter()
    broker = Mosquitto(root / "mosquitto").start()
    repo = make_fleet(root, args.nodes)
    work, remote = repo.work, repo.remote
    names = [f"node-{i:05}" for i in range(args.nodes)]
    edges = SimulatedEdges(broker.url, names, args.connections)
    log = (root / "controller.log").open("wb")
    controller = start_controller(
        remote, broker.url, root / "controller", log, status_interval=args.status_interval
    )
    watch = StatusWatch(remote, args.nodes)
    try:
        first = git(work, "rev-parse", "HEAD")
        wait_until(
            lambda: len(edges.synced(first)) == args.nodes,
            120,
            message="timed out waiting for the first rollout",
        )
        wait_until(
            lambda: watch.records(first),
            120,
            message="timed out waiting for the first status",
        )
        # A change every node's render depends on.
        app = yaml.safe_load((work / "apps" / "web" / "app.yaml").read_text())
        app["vars"]["greeting"] = "second"
        repo.write_yaml("apps/web/app.yaml", app)
        second = repo.commit("a new greeting for every node")
        load = os.getloadavg()[0]
        watch.commits.clear()
        assert broker.proc is not None
        pids = {"controller": controller.pid, "mosquitto": broker.proc.pid, "bench": os.getpid()}
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        pushed = time.monotonic()
        git(work, "push", "-q", "origin", "main")
        push_returned = time.monotonic() - pushed
        # Both watched at once: the status commits made while nodes still report count too.
        done: dict[str, Any] = {}

        def progress() -> bool:
            if "recorded" not in done and (when := watch.records(second)) is not None:
                done["recorded"] = when
            if "synced" not in done and len(s := edges.synced(second)) == args.nodes:
                done["synced"] = s
                done["cpu"] = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
            return len(done) == 3

        wait_until(progress, 120, message="timed out waiting for every node Synced and recorded")
        synced, recorded = done["synced"], done["recorded"] - pushed
        used = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
        received = edges.received(second)
        delays = [t - pushed for t in synced.values()]
        arrivals = [t - pushed for t in received.values()]
        answers = [synced[n] - received[n] for n in synced if n in received]
        print(
            f"push -> node Synced ({args.nodes} nodes, {len(edges.clients)} connections, "
            f"load {load:.1f} at the push):"
        )
        print(
            f"  p50 {statistics.median(delays):.2f} s   p99 {percentile(delays, 99):.2f} s   "
            f"max {max(delays):.2f} s   (target p99 < 3 s)"
        )
        print(
            f"push -> status commit recording all {args.nodes}: {recorded:.2f} s (target < 5 s; "
            f"--status-interval {args.status_interval:g}: at most one commit per interval)"
        )
        print("  stages, seconds after the push (p50 / p99 / max over the nodes):")
        print(f"    git push returned                         {push_returned:5.2f}")
        print(f"    Desired document at the simulated edge    {spread(arrivals)}")
        print(f"    the edge's Reported published (Synced)    {spread(delays)}")
        print(f"    (the simulated edge's own answer time     {spread(answers)})")
        print(f"    Desired documents arriving per {STEP}s: {timeline(arrivals)}")
        for when, commit in watch.commits:
            print(f"    status commit {commit[:7]} on the remote        {when - pushed:5.2f}")
        print(
            "  CPU seconds from the push to every node Synced / to the status commit: "
            + ", ".join(f"{n} {done['cpu'][n]:.2f} / {used[n]:.2f}" for n in pids)
            + f" (2 cores: {2 * max(delays):.1f} / {2 * recorded:.1f} available)"
        )
        commits = git(remote, "rev-list", "--count", "shoal-status")
        print(f"  status commits in total: {commits} (two rollouts)")
        print("controller log (the second rollout):")
        lines = (root / "controller.log").read_text().splitlines()
        start = next((i for i, x in enumerate(lines) if second[:12] in x), len(lines))
        for line in lines[start:]:
            if second[:12] in line or "status:" in line:
                print(f"  {line}")
    finally:
        stop_controller(controller)
        log.close()
        edges.close()
        broker.stop()


def measure_status_commit(args: argparse.Namespace, root: Path) -> None:
    remote = root / "status.git"
    git(root, "init", "-q", "--bare", str(remote))
    branch = StatusBranch(str(remote), root / "status-work")
    branch.open()
    book = StatusBook()
    revision = "a" * 40
    for i in range(args.nodes):
        book.record(
            ReportedDocument(
                node=f"node-{i:05}",
                observed_generation=1,
                observed_digest="sha256:" + "0" * 64,
                revision=revision,
                state="Synced",
                apps={"web": AppStatus("Ready")},
            )
        )
    started = time.monotonic()
    change = book.changes()
    assert change is not None
    rendered = time.monotonic()
    branch.commit(change.files, change.message)
    committed = time.monotonic()
    branch.push()
    pushed = time.monotonic()
    book.mark_committed(change)
    print(f"status commit of {args.nodes} nodes (StatusBook + StatusBranch):")
    print(
        f"  {pushed - started:.3f} s in all: files+summary+message {rendered - started:.3f} s, "
        f"commit (git fast-import) {committed - rendered:.3f} s, push {pushed - committed:.3f} s "
        "(target < 1 s)"
    )
    # Baseline: the same files, written and committed with plain git.
    plain = root / "plain"
    git(root, "init", "-q", str(plain))
    started = time.monotonic()
    for rel, text in change.files.items():
        target = plain / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(plain, "add", "-A")
    git(plain, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "baseline")
    print(
        f"  baseline: write + git add -A + git commit of the same files: "
        f"{time.monotonic() - started:.3f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status_fleet", description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--status-interval", type=float, default=1.0)
    parser.add_argument(
        "--commit-only", action="store_true", help="only time the status commit (no broker)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
        root = Path(tmp)
        measure_status_commit(args, root)
        if not args.commit_only:
            measure_end_to_end(args, root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
