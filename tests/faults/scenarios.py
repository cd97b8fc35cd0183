"""The fault scenarios: each breaks a running fleet once, asserts it converged, says how fast.

Run by tests/faults/test_faults.py (which asserts) and by `python -m bench.faults` (which
also times the same change on the same fleet with no fault, and prints the figures
docs/RELIABILITY.md gives). Every scenario ends with the same checks
(`FaultFleet.converge` and `FaultFleet.check`, from tests.support.invariants):
converged to HEAD, generations that only increase, no report lost.

Converged means: the status branch records every node Synced at HEAD with its latest
report. `seconds` runs from the fault (the kill, or the broker's return after an
outage) to that; `total` from the push of the commit. What was killed is restarted
at once, so its start-up is part of both.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.faultfleet import FaultFleet
from tests.support.invariants import status_summary
from tests.support.waiting import wait_until

OUTAGE_SECONDS = 60.0
# A slow link from the controller to the broker: 512 bytes per 2 ms, so publishing a
# thousand documents takes seconds and a kill lands in the middle of it.
BROKER_LINK_DELAY = 0.002
# A slow API server until the kill: each request to it waits 20 ms, so an apply of 40
# objects takes seconds and the kill lands in it. The restarted edge (and the no-fault
# baseline) talk to it at full speed.
API_DELAY = 0.02


@dataclass
class Outcome:
    """What one scenario measured."""

    scenario: str
    fault: str  # what was done, and the point it landed at
    seconds: float  # fault -> converged
    total: float  # push -> converged
    facts: dict[str, Any] = field(default_factory=dict)
    baseline: float | None = None  # the same change on the same fleet, no fault: push -> converged

    def __str__(self) -> str:
        base = f", no fault {self.baseline:.1f} s" if self.baseline is not None else ""
        facts = ", ".join(f"{k} {v}" for k, v in self.facts.items())
        return (
            f"{self.scenario}: {self.fault}; converged {self.seconds:.1f} s after the fault "
            f"(push -> converged {self.total:.1f} s{base}; {facts})"
        )


def settled(measure: Callable[[], int], timeout: float = 30.0) -> int:
    """`measure()` once it stopped changing (three equal readings 0.2 s apart)."""
    readings: list[int] = []

    def steady() -> bool:
        readings.append(measure())
        return len(readings) >= 3 and len(set(readings[-3:])) == 1

    wait_until(steady, timeout, interval=0.2, message="the count never settled")
    return readings[-1]


def logged(fleet: FaultFleet, pattern: str) -> int:
    """The number in the controller's last log line matching `pattern` (0: none)."""
    found = re.findall(pattern, fleet.procs.log("controller"))
    return int(found[-1]) if found else 0


def timed(fleet: FaultFleet, change: Callable[[], str | None]) -> float:
    """Push -> converged for one change with no fault: the baseline."""
    started = time.monotonic()
    fleet.converge(change())
    return time.monotonic() - started


def controller_killed_mid_publish(
    root: Path, *, nodes: int = 1000, real: int = 1, measure_baseline: bool = False
) -> Outcome:
    """`kill -9` of the controller while it publishes a commit to every node; restarted."""
    with FaultFleet(root, nodes=nodes, real=real, bulk_objects=2) as fleet:
        fleet.start().converge()
        assert fleet.broker_link is not None and fleet.edges is not None
        fleet.broker_link.delay = BROKER_LINK_DELAY
        base = timed(fleet, fleet.change) if measure_baseline else None
        pushed = time.monotonic()
        head = fleet.change()
        edges = fleet.edges
        wait_until(lambda: edges.synced(head), 60, interval=0.005, message="no publish")
        fleet.kill_controller()
        killed = time.monotonic()
        at_kill = settled(lambda: fleet.desired_at(head))
        assert 0 < at_kill < nodes, f"the kill did not land mid-publish ({at_kill} of {nodes})"
        fleet.start_controller()
        fleet.converge(head)
        done = time.monotonic()
        fleet.check()
        resent = logged(fleet, r"(\d+) to resend")
        assert resent == nodes - at_kill, f"resent {resent}, lost {nodes - at_kill}"
        return Outcome(
            "controller killed mid-publish",
            f"kill -9 after {at_kill} of {nodes} documents reached the broker",
            done - killed,
            done - pushed,
            {"nodes": nodes, "real edges": real, "resent with their generation": resent},
            base,
        )


def broker_killed(
    root: Path, *, nodes: int = 200, real: int = 3, measure_baseline: bool = False
) -> Outcome:
    """`kill -9` of Mosquitto after a rollout its last save predates, with one edge down;
    restarted at once from that save: every retained document and report is the older
    one."""
    with FaultFleet(root, nodes=nodes, real=real, bulk_objects=2, production_saves=True) as fleet:
        fleet.start().converge()
        base = timed(fleet, fleet.change) if measure_baseline else None
        fleet.broker.save()  # the broker's last autosave
        pushed = time.monotonic()
        head = fleet.change()
        fleet.converge(head)
        down = fleet.real[-1]
        last_report = fleet.latest("reported")[down]
        fleet.kill_edge(down)
        fleet.broker.kill()
        killed = time.monotonic()
        fleet.start_broker_again()
        fleet.converge(head, offline={down: last_report})
        done = time.monotonic()
        repaired = logged(fleet, r"(\d+) documents \w+ again to repair the broker")
        assert repaired == nodes, f"{repaired} of {nodes} Desired documents repaired"
        fleet.start_edge(down)
        fleet.converge(head)
        fleet.check()
        return Outcome(
            "broker killed",
            "kill -9 of the broker after a rollout its last save predates, one edge down; "
            "restarted from that save",
            done - killed,
            done - pushed,
            {"nodes": nodes, "real edges": real, "resent to repair the broker": repaired},
            base,
        )


def edge_killed_mid_apply(
    root: Path, *, objects: int = 40, measure_baseline: bool = False
) -> Outcome:
    """`kill -9` of an edge agent after a few of an app's objects were created."""
    with FaultFleet(root, nodes=2, real=1, bulk_objects=2) as fleet:
        node = fleet.real[0]
        fleet.start().converge()
        base = None
        if measure_baseline:
            base = timed(fleet, lambda: fleet.set_bulk(objects))
            fleet.converge(fleet.set_bulk(2))
        fleet.links[node].delay = API_DELAY
        pushed = time.monotonic()
        head = fleet.set_bulk(objects)
        wait_until(lambda: fleet.bulk_count(node) >= 6, 60, message="the apply never started")
        fleet.kill_edge(node)
        killed = time.monotonic()
        at_kill = fleet.bulk_count(node)
        assert at_kill < objects, f"the kill did not land mid-apply ({at_kill} of {objects})"
        fleet.links[node].delay = 0.0
        fleet.start_edge(node)
        fleet.converge(head)
        done = time.monotonic()
        fleet.check()
        assert fleet.bulk_count(node) == objects
        return Outcome(
            "edge killed mid-apply",
            f"kill -9 of the edge with {at_kill} of {objects} objects created",
            done - killed,
            done - pushed,
            {"objects": objects},
            base,
        )


def edge_killed_mid_prune(
    root: Path, *, objects: int = 60, kept: int = 4, measure_baseline: bool = False
) -> Outcome:
    """`kill -9` of an edge agent after a few of the objects that left an app were deleted."""
    with FaultFleet(root, nodes=2, real=1, bulk_objects=objects) as fleet:
        node = fleet.real[0]
        fleet.start().converge()
        base = None
        if measure_baseline:
            base = timed(fleet, lambda: fleet.set_bulk(kept))
            fleet.converge(fleet.set_bulk(objects))
        fleet.links[node].delay = API_DELAY
        pushed = time.monotonic()
        head = fleet.set_bulk(kept)
        wait_until(
            lambda: fleet.bulk_count(node) <= objects - 3, 60, message="the prune never started"
        )
        fleet.kill_edge(node)
        killed = time.monotonic()
        at_kill = fleet.bulk_count(node)
        assert at_kill > kept, f"the kill did not land mid-prune ({at_kill} left, {kept} kept)"
        fleet.links[node].delay = 0.0
        fleet.start_edge(node)
        fleet.converge(head)
        done = time.monotonic()
        fleet.check()
        assert fleet.bulk_objects(node) == [f"bulk-{i:03}" for i in range(kept)]
        assert fleet.sims[node].get("v1", "ConfigMap", "kube-root-ca.crt", "bulk") is not None
        return Outcome(
            "edge killed mid-prune",
            f"kill -9 of the edge with {objects - at_kill} of {objects - kept} objects deleted",
            done - killed,
            done - pushed,
            {"objects": objects, "kept": kept},
            base,
        )


def broker_down_while_a_commit_lands(
    root: Path,
    *,
    nodes: int = 100,
    real: int = 2,
    outage: float = OUTAGE_SECONDS,
    measure_baseline: bool = False,
) -> Outcome:
    """The broker stopped for `outage` seconds; a commit is pushed meanwhile."""
    with FaultFleet(root, nodes=nodes, real=real, bulk_objects=2) as fleet:
        fleet.start().converge()
        base = timed(fleet, fleet.change) if measure_baseline else None
        fleet.broker.stop()
        down = pushed = time.monotonic()
        head = fleet.change()
        wait_until(
            lambda: f"revision {head[:12]}" in fleet.procs.log("controller"),
            60,
            interval=0.2,
            message="the controller never reconciled the commit while the broker was down",
        )
        assert "queued, waiting for the broker" in fleet.procs.log("controller")
        remaining = outage - (time.monotonic() - down)
        if remaining > 0:
            time.sleep(remaining)  # the outage itself: nothing to poll for
        for node in fleet.real:
            assert fleet.procs.running(node), f"{node} stopped while the broker was away"
        fleet.start_broker_again()
        back = time.monotonic()
        fleet.converge(head)
        done = time.monotonic()
        fleet.check()
        return Outcome(
            "broker down while a commit lands",
            f"broker stopped for {back - down:.0f} s, a commit pushed meanwhile",
            done - back,
            done - pushed,
            {"nodes": nodes, "real edges": real},
            base,
        )


HOOK = """\
#!/bin/sh
# Fault test: hold the first push to the status branch after `armed` appears.
dir='{dir}'
while read old new ref; do
  if [ "$ref" = refs/heads/shoal-status ] && [ -e "$dir/armed" ]; then
    rm -f "$dir/armed"
    touch "$dir/held"
    i=0
    while [ ! -e "$dir/released" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
    echo "held by the fault test" >&2
    exit 1
  fi
done
exit 0
"""


def controller_killed_mid_status_commit(
    root: Path, *, nodes: int = 200, real: int = 1, measure_baseline: bool = False
) -> Outcome:
    """`kill -9` of the controller (and its git) between its status commit and the push."""
    with FaultFleet(root, nodes=nodes, real=real, bulk_objects=2) as fleet:
        hooks = root / "hook"
        hooks.mkdir()
        hook = fleet.repo.remote / "hooks" / "pre-receive"
        hook.write_text(HOOK.format(dir=hooks))
        hook.chmod(0o755)
        try:
            fleet.start().converge()
            base = timed(fleet, fleet.change) if measure_baseline else None
            (hooks / "armed").touch()
            pushed = time.monotonic()
            head = fleet.change()
            wait_until((hooks / "held").exists, 60, interval=0.05, message="no status push")
            fleet.kill_controller()
            killed = time.monotonic()
        finally:
            (hooks / "released").touch()
        private = root / "controller" / "status-branch"
        subject = subprocess.run(
            ["git", "--git-dir", str(private), "log", "-1", "--format=%s", "shoal-status"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert head[:7] in subject, f"the kill did not land after the status commit: {subject}"
        assert not fleet_records(fleet, head), "the held push reached the remote"
        fleet.start_controller()
        fleet.converge(head)
        done = time.monotonic()
        fleet.check()
        fsck(fleet.repo.remote)
        fsck(private)
        return Outcome(
            "controller killed mid-status-commit",
            f"kill -9 of the controller and its git push of the status commit '{subject.strip()}'",
            done - killed,
            done - pushed,
            {"nodes": nodes, "real edges": real},
            base,
        )


# What a kill leaves when it lands while git rewrites a file: the file's lock.
LEFT_LOCKS = (
    "repo.git/refs/shoal/main.lock",  # killed in `git fetch`
    "repo.git/worktrees/checkout/index.lock",  # killed in the checkout of a revision
    "status-branch/refs/heads/shoal-status.lock",  # killed in a status commit's ref update
)


def controller_killed_while_git_holds_a_lock(
    root: Path, *, nodes: int = 20, measure_baseline: bool = False
) -> Outcome:
    """`kill -9` of the controller in the instant one of its gits holds a lock file.

    That instant lasts microseconds, so the kill is made first and the lock files it
    would leave are put back by hand: git refuses to run while they exist."""
    with FaultFleet(root, nodes=nodes) as fleet:
        fleet.start().converge()
        base = timed(fleet, fleet.change) if measure_baseline else None
        fleet.kill_controller()
        killed = time.monotonic()
        work = root / "controller"
        for rel in LEFT_LOCKS:
            assert (work / rel).parent.is_dir(), rel
            (work / rel).touch()
        fleet.start_controller()
        pushed = time.monotonic()
        head = fleet.change()
        fleet.converge(head)
        done = time.monotonic()
        fleet.check()
        assert not [rel for rel in LEFT_LOCKS if (work / rel).exists()]
        return Outcome(
            "controller killed while git holds a lock",
            f"kill -9 of the controller, leaving {len(LEFT_LOCKS)} git lock files; "
            "restarted, then a commit pushed",
            done - killed,
            done - pushed,
            {"nodes": nodes},
            base,
        )


def fleet_records(fleet: FaultFleet, head: str) -> bool:
    summary = status_summary(fleet.repo.remote) or {}
    return head in (summary.get("revisions") or {})


def fsck(repo: Path) -> None:
    done = subprocess.run(
        ["git", "--git-dir", str(repo), "fsck", "--no-progress"], capture_output=True, text=True
    )
    assert done.returncode == 0, f"git fsck {repo}: {done.stdout}{done.stderr}"


SCENARIOS = (
    controller_killed_mid_publish,
    broker_killed,
    edge_killed_mid_apply,
    edge_killed_mid_prune,
    broker_down_while_a_commit_lands,
    controller_killed_mid_status_commit,
    controller_killed_while_git_holds_a_lock,
)
