"""Which agent release each node runs: the `agent:` blocks of the fleet repository.

fleet.yaml sets the fleet's agent; a group or a node file may set another for its nodes.
The most specific layer wins as a whole (node, then groups by descending priority and
name, then fleet.yaml), like a variable: a release is a version and the wheel or image
that goes with it, so its fields are never mixed from two layers. Called by the render
room when it builds Desired documents, and by `shoal status` for the declared version.
"""

from __future__ import annotations

from controller.fleet.model import Fleet, Node
from shadow import AgentRelease

WHEEL_NAME = "shoal-{version}-py3-none-any.whl"


def agent_block(fleet: Fleet, node: Node) -> tuple[dict[str, object], str] | None:
    """The winning `agent:` block for `node` and the file it came from, or None."""
    if node.agent is not None:
        return node.agent, node.file
    # Only groups with a block can win: matching every group's selector for every node
    # was most of a 100,000-node reconcile's diff (107 groups: 10.7 million matches).
    winner: tuple[tuple[int, str], dict[str, object], str] | None = None
    for group in fleet.groups.values():
        block = group.agent
        if block is not None and group.selector.matches(node.tags):
            rank = (group.priority, group.name)  # the last in precedence order wins
            if winner is None or rank > winner[0]:
                winner = (rank, block, group.file)
    if winner is not None:
        return winner[1], winner[2]
    if fleet.agent is not None:
        return fleet.agent, fleet.file
    return None


def agent_release(fleet: Fleet, node: Node) -> AgentRelease | None:
    """The release in `node`'s Desired document (schema-validated blocks only)."""
    found = agent_block(fleet, node)
    if found is None:
        return None
    block = found[0]
    version = str(block["version"])
    url = str(block.get("url") or "")
    wheelhouse = str(block.get("wheelhouse") or "")
    if not url and wheelhouse:
        url = wheelhouse.rstrip("/") + "/" + WHEEL_NAME.format(version=version)
    timeout = block.get("healthTimeoutSeconds")
    return AgentRelease(
        version=version,
        url=url,
        sha256=str(block.get("sha256") or ""),
        image=str(block.get("image") or ""),
        **({"health_timeout": timeout} if isinstance(timeout, int) else {}),
    )
