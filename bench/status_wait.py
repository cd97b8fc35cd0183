"""What `shoal wait` and controller.yaml cost on a fleet of many nodes.

    python -m bench.status_wait [--nodes 1000]

Builds a fleet repository of `--nodes` nodes (one app) with a status branch on which
every node is Synced at the head, plus a controller.yaml with four rollouts, written
the way the controller writes them. Measures, in this run:

- `shoal wait --revision HEAD --no-fetch` from start to exit 0, against the baseline
  `shoal status --format json` on the same clone (both render the fleet once);
- one poll of `shoal wait` (read the node files and controller.yaml, judge every node),
  which is what repeats every `--interval`;
- `ControllerRecord.refresh()`, which the status writer runs every second, against
  the baseline of building the nodes' summary (`StatusBook.summary()`) it already does
  on every commit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from controller.commands.status import expected_at
from controller.fleet.loading import load_fleet
from controller.render.rendering import render_fleet
from controller.status.book import StatusBook
from controller.status.branch import StatusBranch
from controller.status.controllerstate import (
    CONTROLLER_FILE,
    ControllerRecord,
    controller_facts,
    read_controller,
)
from controller.status.reading import read_entries, resolve_status_ref
from controller.status.waiting import progress
from controller.status.yamltext import to_yaml
from shadow import node_digest
from shoal.cli import main as shoal
from tests.support.controller import FleetRepo
from tests.support.reports import report


def rollouts(head: str) -> dict[str, dict[str, object]]:
    return {
        f"app{i}": {
            "revision": head,
            "from": "0" * 40,
            "state": "Complete",
            "wave": 4,
            "waves": 4,
            "counts": {"wave": 250, "updated": 250, "ready": 250, "failed": 0, "offline": 0},
            "decision": f"app{i} 1.1: wave 4/4 complete",
            "since": "2026-12-01T22:30:00Z",
        }
        for i in range(4)
    }


def timed(run: object, repeat: int = 5) -> float:
    """Median seconds of `run()` over `repeat` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def quiet(*argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return shoal(list(argv))


SMALL_ARGS = ["--nodes", "50"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-wait-") as tmp:
        root = Path(tmp)
        names = {f"node-{i:05}": {"site": f"s{i % 10}"} for i in range(args.nodes)}
        repo = FleetRepo.create(root, names)
        head = repo.head()
        rendered = render_fleet(load_fleet(repo.work)).apps
        book = StatusBook()
        for node, apps in rendered.items():
            book.record(report(node, revision=head, digest=node_digest(apps)))
        change = book.changes()
        assert change is not None
        record = {
            "seen": {"revision": head, "time": "2026-12-01T22:00:00Z"},
            "served": {"revision": head, "since": "2026-12-01T22:00:00Z"},
            "rollouts": rollouts(head),
        }
        branch = StatusBranch(str(repo.work), root / "writer")
        branch.open()
        branch.commit({**change.files, CONTROLLER_FILE: to_yaml(record)}, "bench\n")
        branch.push()
        work = str(repo.work)
        print(f"{args.nodes} nodes, every one Synced at {head[:7]}, 4 rollouts Complete")

        def fresh(*argv: str) -> None:
            expected_at.cache_clear()  # each run renders the fleet, as a new process does
            assert quiet(*argv) == 0

        wait = timed(lambda: fresh("wait", work, "--revision", "HEAD", "--no-fetch"), 3)
        status = timed(lambda: fresh("status", work, "--format", "json"), 3)
        print(f"shoal wait, start to exit 0:      {wait:7.3f} s")
        print(f"  baseline shoal status --format json: {status:7.3f} s")

        digests = {node: node_digest(apps) for node, apps in rendered.items()}

        def poll() -> None:
            _, commit = resolve_status_ref(repo.work, "shoal-status", "origin")
            entries = read_entries(repo.work, commit)
            found = progress(
                head, digests, entries, read_controller(repo.work, commit), head.__eq__
            )
            assert found.verdict == "synced", found.line()

        print(f"one shoal wait poll:              {timed(poll) * 1000:7.1f} ms")

        controller = SimpleNamespace(
            last_revision=head,
            reconciler=SimpleNamespace(last_good=head, last_error=None),
            rollout_status=lambda: rollouts(head),
        )
        state = ControllerRecord(lambda: controller_facts(controller))
        refresh = timed(lambda: [state.refresh() for _ in range(1000)]) / 1000
        summary = timed(book.summary)
        print(f"ControllerRecord.refresh():       {refresh * 1e6:7.1f} us (once a second)")
        print(f"  baseline StatusBook.summary():  {summary * 1e6:7.1f} us (every status commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
