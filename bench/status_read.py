"""`shoal status` on a big fleet: reading 10,000 node files off the status branch.

    python -m bench.status_read [--nodes 10000]

Builds a fleet repository of `--nodes` nodes (tests.support's fixture fleet) and a
status branch recording every node (written by the controller's own StatusBook and
StatusBranch), then times, in the same run:

- reading the status branch the way `shoal status` does (controller/status/reading.py:
  one `git ls-tree`, one `git cat-file --batch` by blob id, the status files parsed);
- baseline: the same files through `git archive` and PyYAML's C loader, one file each,
  as a script reading the branch would (target: no slower than that);
- the whole `shoal status --format json` command, as a user runs it (it also loads and
  renders the fleet at HEAD, to tell which nodes are behind).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

from controller.status.book import StatusBook
from controller.status.branch import StatusBranch
from controller.status.reading import read_status
from shadow import AppStatus, NodeInfo, ReportedDocument
from tests.support.controller import FleetRepo, git

SMALL_ARGS = ["--nodes", "300"]


def build(root: Path, nodes: int) -> Path:
    """A clone holding a fleet of `nodes` nodes and a status branch recording them all."""
    names = {f"node-{i:05}": {"site": f"s{i % 10}"} for i in range(nodes)}
    repo = FleetRepo.create(root, names, greeting="first")
    head = git(repo.work, "rev-parse", "HEAD")
    book = StatusBook()
    for i, name in enumerate(names):
        book.record(
            ReportedDocument(
                node=name,
                observed_generation=1,
                observed_digest="sha256:" + "0" * 64,
                revision=head,
                state="Synced" if i % 50 else "Degraded",
                apps={"web": AppStatus("Ready" if i % 50 else "Failed", "" if i % 50 else "x")},
                node_info=NodeInfo(hostname=name, os="linux", arch="arm64", agent="0.1.0"),
            )
        )
    change = book.changes()
    assert change is not None
    branch = StatusBranch(str(repo.remote), root / "status-work")
    branch.open()
    branch.commit(change.files, change.message)
    branch.push()
    git(repo.work, "fetch", "-q", "origin", "shoal-status:refs/remotes/origin/shoal-status")
    return repo.work


def baseline(work: Path) -> float:
    started = time.perf_counter()
    archive = subprocess.run(
        ["git", "-C", str(work), "archive", "origin/shoal-status", "nodes"],
        capture_output=True,
        check=True,
    ).stdout
    count = 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            handle = tar.extractfile(member)
            if handle is not None and member.name.endswith(".yaml"):
                yaml.load(handle.read(), Loader=yaml.CSafeLoader)
                count += 1
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status_read", description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
        work = build(Path(tmp), args.nodes)
        started = time.perf_counter()
        status = read_status(work)
        reading = time.perf_counter() - started
        assert len(status.nodes) == args.nodes
        plain = baseline(work)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "shoal", "status", str(work), "--format", "json"],
            capture_output=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        command = time.perf_counter() - started
    print(f"shoal status on {args.nodes} nodes:")
    print(
        f"  reading the status branch (ls-tree + cat-file --batch + status files): {reading:.3f} s"
    )
    print(
        f"  baseline: git archive + yaml.CSafeLoader per file: {plain:.3f} s "
        f"(shoal {reading / plain:.2f}x)"
    )
    print(
        f"  the whole `shoal status --format json` (exit {done.returncode}; also loads and "
        f"renders the fleet at HEAD): {command:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
