"""The dashboard's server time per page at 10,000 nodes, against reading the status branch.

    python -m bench.dashboard [--nodes 10000] [--repeat 20]

Builds a fleet repository of `--nodes` nodes (one app, ten sites), loads and renders
it as the controller does, makes a report per node (5 % Failed with a message, 1 %
offline, 2 % on an older revision) and commits them twice to a status branch, so
every node has history. Then times the `Dashboard` request handler itself (what the
HTTP server calls; no sockets) for each page, two ways:

- warm: the fleet snapshot is current (the common case: many requests between reports);
- rebuilt: a report arrived just before the request, so the snapshot is brought up
  to date inside the request (the rows of the nodes that reported, the counts);
- built whole: the first request after the controller starts builds every row
  (printed, not part of the verdict; for a new revision the same build runs in a
  background thread while pages show the previous snapshot).

Target: every page under 200 ms and 1 MB. Baselines measured in the same run: reading
and parsing every node file of the status branch (one `git cat-file --batch` by blob
id), and serving the dashboard's static CSS file through the same handler.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.dashboard import Dashboard
from controller.dashboard.metrics import FleetCollector
from controller.dashboard.source import StatusCounts
from controller.fleet.loading import load_fleet
from controller.render.incremental import Baseline
from controller.render.rendering import render_fleet
from controller.service.metrics import Metrics
from controller.status.book import StatusBook, parse_entry
from controller.status.branch import StatusBranch
from shadow import node_digest
from tests.support.controller import FleetRepo, git
from tests.support.reports import report

SMALL_ARGS = ["--nodes", "500", "--repeat", "3"]


class BenchState:
    """A `FleetState` of the benchmark's own making."""

    def __init__(self, served: Baseline, head: str, fleet_dir: Path, status_dir: Path) -> None:
        self.branch = "main"
        self.status_branch = "shoal-status"
        self._served, self._head = served, head
        self._fleet_dir, self._status_dir = fleet_dir, status_dir
        self.book = StatusBook()

    def served(self) -> Baseline:
        return self._served

    def branch_head(self) -> str:
        return self._head

    def rejected(self) -> None:
        return None

    def reports(self) -> tuple[int, dict[str, dict[str, Any]]]:
        return self.book.version, self.book.entries()

    def fleet_dir(self) -> Path:
        return self._fleet_dir

    def status_dir(self) -> Path:
        return self._status_dir

    def status_counts(self) -> StatusCounts:
        return StatusCounts()


def make_reports(
    book: StatusBook, names: list[str], head: str, old: str, stamp: str, digests: dict[str, str]
) -> None:
    """A report per node: at `head` with the digest it renders, but 2 % still on `old`
    (another digest), 5 % Failed, 1 % offline."""
    for i, node in enumerate(names):
        failed = i % 20 == 7
        behind = i % 50 == 3
        book.record(
            report(
                node,
                state="Failed" if failed else "Synced",
                revision=old if behind else head,
                apps={"web": "Failed" if failed else "Ready"},
                time=stamp,
                digest="sha256:" + "1" * 64 if behind else digests[node],
            )
        )
        if i % 100 == 11:
            book.set_online(node, False)


def read_status_branch(status_dir: Path) -> int:
    """Every node file at the status branch's tip, read in one `git cat-file --batch` by
    blob id and parsed: the least that rebuilding the fleet from git costs."""
    listing = git(status_dir, "ls-tree", "refs/heads/shoal-status:nodes").splitlines()
    blobs = [row.split()[2] for row in listing]
    out = subprocess.run(
        ["git", "--git-dir", str(status_dir), "cat-file", "--batch"],
        input="".join(f"{b}\n" for b in blobs).encode(),
        capture_output=True,
        check=True,
    ).stdout
    pos, count = 0, 0
    for _ in blobs:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        count += parse_entry(out[header_end + 1 : header_end + 1 + size].decode()) is not None
        pos = header_end + 2 + size
    return count


def timed(
    call: Callable[[], Any], repeat: int, before: Callable[[], None] | None = None
) -> list[float]:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def line(label: str, times: list[float], size: int | None = None) -> str:
    times = sorted(times)
    extra = f"  {size / 1024:7.1f} KB" if size is not None else ""
    return f"  {label:<34} median {statistics.median(times):7.1f} ms  p95 {p95(times):7.1f} ms  max {times[-1]:7.1f} ms{extra}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shoal-bench-dashboard-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        names = [f"node-{i:05}" for i in range(args.nodes)]
        repo = FleetRepo.create(root, {n: {"site": f"s{i % 10}"} for i, n in enumerate(names)})
        old = repo.head()
        repo.write_yaml("groups/s1.yaml", {"selector": "site=s1", "vars": {"greeting": "bonjour"}})
        head = repo.commit_and_push("greet s1 in French")
        fleet = load_fleet(repo.work)
        rendered = render_fleet(fleet)
        served = Baseline(head, fleet, rendered.apps)
        status_remote = root / "status.git"
        git(root, "init", "-q", "--bare", str(status_remote))
        branch = StatusBranch(str(status_remote), root / "status-work")
        branch.open()
        state = BenchState(served, head, repo.remote, branch.path)
        digests = {node: node_digest(apps) for node, apps in rendered.apps.items()}
        for stamp, revision in (("2026-11-25T00:00:00Z", old), ("2026-11-25T00:05:00Z", head)):
            make_reports(state.book, names, revision, old, stamp, digests)
            change = state.book.changes()
            assert change is not None
            branch.commit(change.files, change.message)
            state.book.mark_committed(change)
        print(f"{args.nodes} nodes set up in {time.monotonic() - started:.1f} s")

        dashboard = Dashboard(state)
        metrics = Metrics()
        metrics.add_collector(FleetCollector(state, dashboard.snapshots))
        app = next(iter(fleet.apps))
        pages = {
            "overview": "/",
            "overview, page 50": "/?page=50",
            "overview, selector + state": "/?selector=site%3Ds7&state=Failed",
            "overview, name search": "/?q=node-0999",
            f"app {app}": f"/apps/{app}",
            "node page (tags, apps, history)": f"/nodes/{names[len(names) // 2]}",
            "unknown node (404, did you mean)": "/nodes/node-0x",
            "live part of the overview": "/",
        }
        headers = {"x-shoal-partial": "1"}

        def touch() -> None:  # one report arrives: the next request rebuilds the snapshot
            state.book.record(report(names[0], time="2026-11-25T00:06:00Z"))

        print("baselines (same run):")
        entries = timed(lambda: read_status_branch(branch.path), max(3, args.repeat // 4))
        print(line("read + parse the status branch", entries))
        print(
            line(
                "static file (dashboard.css)",
                timed(lambda: dashboard("/static/dashboard.css", {}), args.repeat),
            )
        )
        print("dashboard pages, snapshot warm:")
        worst = 0.0
        biggest = 0
        for label, path in pages.items():
            hdrs = headers if label.startswith("live") else {}
            reply = dashboard(path, hdrs)
            assert reply.status in (200, 404), (path, reply.status)
            times = timed(lambda p=path, h=hdrs: dashboard(p, h), args.repeat)
            worst = max(worst, p95(times))
            biggest = max(biggest, len(reply.body))
            print(line(label, times, len(reply.body)))
        print(line("/metrics (fleet gauges)", timed(metrics.render, args.repeat)))
        print("dashboard pages, snapshot rebuilt inside the request (a report just arrived):")
        for label in ("overview", f"app {app}", "node page (tags, apps, history)"):
            path = pages[label]
            dashboard.snapshots._current = None
            times = timed(
                lambda p=path: dashboard(p, {}), args.repeat, before=_rebuild(dashboard, touch)
            )
            worst = max(worst, p95(times))
            print(line(label, times))
        print(
            "first page after the controller starts (every row built inside the request; "
            "for a new revision this build runs in the background):"
        )
        for label in ("overview", "node page (tags, apps, history)"):
            path = pages[label]

            def forget() -> None:
                dashboard.snapshots._current = None

            times = timed(lambda p=path: dashboard(p, {}), max(3, args.repeat // 4), before=forget)
            print(line(label, times))
        verdict = "OK" if worst < 200 and biggest < 1_000_000 else "OVER TARGET"
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"slowest page p95 {worst:.1f} ms, largest {biggest / 1024:.1f} KB "
            f"(target < 200 ms, < 1 MB): {verdict}; load average {load} on {os.cpu_count()} cores"
        )
    return 0


def _rebuild(dashboard: Dashboard, touch: Callable[[], None]) -> Callable[[], None]:
    def before() -> None:
        touch()
        current = dashboard.snapshots._current
        if current is not None:
            current.built_at = 0.0  # past MIN_AGE: the next request rebuilds

    return before


if __name__ == "__main__":
    raise SystemExit(main())
