"""How long `shoal diff` takes on a big fleet, against one plain render as the baseline.

    python -m bench.diff_fleet [--nodes 10000]

Builds a fleet from the fleet template (`shoal init`'s) with N generated nodes over four sites and
two hardware models, commits it, changes one site group's variable, commits again,
then measures in the same run:
  - baseline: `load_and_render` of the working tree (what one side of a diff costs);
  - `diff_revisions(BASE, HEAD)`: unpack both commits with git archive, render both,
    compare every node, group identical changes;
  - formatting the result as markdown and JSON.
Wall and CPU seconds are both printed: on a shared machine CPU time (this process
only, not its git children) is the steadier figure.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from controller.commands.init import template_dir
from controller.render.rendering import load_and_render
from controller.review.checkouts import FleetRepository
from controller.review.diffing import diff_revisions
from controller.review.diffreport import format_json, format_markdown

SITES = ("paris", "lyon", "lille", "nantes")
MODELS = ("rpi4", "jetson-orin")


def build_fleet(root: Path, nodes: int) -> None:
    shutil.copytree(template_dir(), root)
    for old in (root / "nodes").glob("*.yaml"):
        old.unlink()
    for site in SITES[2:]:
        (root / "groups" / f"site-{site}.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": site,
                    "selector": f"site={site}",
                    "priority": 20,
                    "vars": {"timezone": "Europe/Paris", "site_label": f"{site} depot"},
                }
            )
        )
    for i in range(nodes):
        site, model = SITES[i % len(SITES)], MODELS[(i // len(SITES)) % len(MODELS)]
        role = "gateway" if model == "rpi4" else "inference"
        name = f"{site}-{'gw' if role == 'gateway' else 'ai'}-{i:05d}"
        node = {"name": name, "tags": {"site": site, "model": model, "role": role}}
        (root / "nodes" / f"{name}.yaml").write_text(yaml.safe_dump(node))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "--all")
    _git(
        root, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "fleet"
    )


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="shoal-bench-diff-") as tmp:
        root = Path(tmp) / "fleet"
        started = time.perf_counter()
        build_fleet(root, args.nodes)
        group = root / "groups" / "site-paris.yaml"
        group.write_text(group.read_text().replace("ntp.paris.", "ntp2.paris."))
        _git(
            root,
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "-qam",
            "ntp",
        )
        print(
            f"fleet: {args.nodes} nodes, built and committed in {time.perf_counter() - started:.2f} s"
        )

        started, cpu = time.perf_counter(), time.process_time()
        render = load_and_render(root)
        baseline = time.perf_counter() - started
        baseline_cpu = time.process_time() - cpu
        print(
            f"baseline  load_and_render (one side): {baseline:.2f} s "
            f"(CPU {baseline_cpu:.2f} s), {render.renders} renders"
        )

        repo = FleetRepository.open(root)
        started, cpu = time.perf_counter(), time.process_time()
        diff = diff_revisions(repo, repo.resolve("HEAD~1"), repo.resolve("HEAD"))
        elapsed = time.perf_counter() - started
        elapsed_cpu = time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        print(
            f"diff      two commits: {elapsed:.2f} s (CPU {elapsed_cpu:.2f} s, "
            f"{elapsed_cpu / baseline_cpu:.1f}x one render), "
            f"peak RSS {peak / 1024:.0f} MiB; {len(diff.nodes)} nodes changed "
            f"in {len(diff.groups)} group(s)"
        )

        started = time.perf_counter()
        markdown = format_markdown(diff)
        json_text = format_json(diff)
        print(
            f"format    markdown {len(markdown):,} chars + json {len(json_text):,} chars: "
            f"{time.perf_counter() - started:.2f} s"
        )


if __name__ == "__main__":
    main()
