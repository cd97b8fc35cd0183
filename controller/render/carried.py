"""What an incremental render carries over from the last good revision: `Carried`.

`incremental.render_changes` builds one for a commit that changed node and group
files only: every app whose templates read none of the variables the changed groups
define (before or after) renders as before on every node whose own file did not
change, so `rendering.render_fleet` takes those entries from the last render
instead of rendering them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shadow import DesiredApp


@dataclass(frozen=True)
class Carried:
    """Entries of an earlier render that stand: for a node in `nodes`, the entry
    `apps[node][app]` of an app in `stable` is its render (`incremental` decides)."""

    apps: Mapping[str, Mapping[str, DesiredApp]]
    stable: frozenset[str]
    nodes: frozenset[str]

    def entry(self, node: str, app: str) -> DesiredApp | None:
        if app not in self.stable or node not in self.nodes:
            return None
        return self.apps.get(node, {}).get(app)
