"""What the fleet at one revision expects of each node: its tags and the digest it
should observe.

`shoal status` uses it to filter by `--selector` and to tell a node that is really
behind from one whose older revision still renders the same (the controller only
re-publishes a node when its render changes). The revision is read with
`git archive`, so a clone's working tree is never touched.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controller.fleet.agent import agent_release
from controller.fleet.loading import load_fleet
from controller.fleet.model import Fleet
from controller.fleet.problems import FleetError
from controller.render.rendering import render_fleet
from shadow import DesiredApp, node_digest


@dataclass
class ExpectedFleet:
    """The fleet at the compared revision: node tags, the digest each node should observe,
    and the names of its apps."""

    tags: dict[str, dict[str, str]]
    digests: dict[str, str]
    apps: frozenset[str] = frozenset()
    agents: dict[str, str] = field(default_factory=dict)  # node -> declared agent version


def expected_fleet(repo: Path, head: str | None) -> tuple[ExpectedFleet | None, str]:
    """Load and render the fleet at `head` (None and why when it cannot be)."""
    if head is None:
        return None, "the repository has no such revision"
    with tempfile.TemporaryDirectory(prefix="shoal-status-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", head], capture_output=True, check=False
        )
        if archive.returncode != 0:
            return None, archive.stderr.decode(errors="replace").strip()
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        if not (Path(tmp) / "fleet.yaml").exists():
            return None, f"no fleet.yaml at {head[:7]}"
        try:
            fleet = load_fleet(Path(tmp))
        except FleetError as exc:
            return None, f"the fleet at {head[:7]} does not load:\n{exc}"
        render = render_fleet(fleet)
    return expect(fleet, render.apps, {p.node for p in render.problems}), ""


def expect(
    fleet: Fleet,
    rendered: Mapping[str, Mapping[str, DesiredApp]],
    broken: Collection[str | None] = (),
) -> ExpectedFleet:
    """What `fleet`, rendered as `rendered`, expects of each node (nodes in `broken` did
    not render: no digest). The dashboard calls it with the revision the controller serves."""
    releases = {name: agent_release(fleet, node) for name, node in fleet.nodes.items()}
    digests = {
        n: node_digest(apps, releases.get(n)) for n, apps in rendered.items() if n not in broken
    }
    tags = {name: dict(node.tags) for name, node in fleet.nodes.items()}
    agents = {name: r.version for name, r in releases.items() if r is not None}
    return ExpectedFleet(tags, digests, frozenset(fleet.apps), agents)
