"""A past revision rendered again from git: a rollout's previous render after a restart.

The engine keeps, for each member of a rollout, the commit its previous render came
from (`rollouts.json`), not the render itself. A restarted controller renders those
commits again with `render_at(git_dir, revision)` (called through
`Controller._render_revision`): the files come out of the controller's bare clone
with `git archive` into a temporary folder, and the fleet there loads and renders as
any revision does. Rendering is a pure function of the files, so the result is the
render the nodes have.
"""

from __future__ import annotations

import io
import logging
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from controller.fleet.loading import load_fleet
from controller.fleet.problems import FleetError
from controller.gitcli import GitFailed, git
from controller.render.budget import RenderBudget, RenderLimits
from controller.render.rendering import render_fleet
from shadow import DesiredApp

log = logging.getLogger(__name__)


def render_at(
    git_dir: Path, revision: str, cancelled: Callable[[], bool] | None = None
) -> dict[str, dict[str, DesiredApp]] | None:
    """Every node's apps at `revision`; None when git lacks it or it does not render."""
    try:
        archive = git("archive", "--format=tar", revision, repo_dir=git_dir)
    except GitFailed as exc:
        log.error("cannot read revision %s from git: %s", revision[:12], exc)
        return None
    with tempfile.TemporaryDirectory(prefix="shoal-previous-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        try:
            fleet = load_fleet(Path(tmp))
        except FleetError as exc:
            log.error("revision %s does not load again: %s", revision[:12], exc)
            return None
        result = render_fleet(fleet, budget=RenderBudget(RenderLimits(), cancelled=cancelled))
    if result.problems:
        log.error("revision %s does not render again: %s", revision[:12], result.problems[0])
        return None
    return {node: dict(apps) for node, apps in result.apps.items()}
