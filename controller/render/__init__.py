"""A loaded fleet becomes rendered apps and Desired documents.

`templating` compiles each app's Jinja templates in a sandbox (`filters`, `undefined`),
`manifests` checks that the output is Kubernetes objects and adds shoal's labels,
`rendering.render_fleet` renders every node, memoized by the context paths each
template reads (`rendercache` keeps compiled apps across revisions, `incremental`
re-renders only what a commit can change, `stamps` serves nodes that differ only in
their printed name one checked render), `payloads` encodes documents for the wire,
and `checking` collects every problem for `shoal validate`. Called by the commands,
`review/`, `status/` and `service/`; imports only `fleet/`.
"""

from controller.render.checking import RepositoryCheck, check_repository
from controller.render.incremental import Baseline, Rendered, render_changes
from controller.render.payloads import DesiredEncoder
from controller.render.rendercache import RenderCache
from controller.render.rendering import FleetRender, load_and_render, render_fleet, render_node

__all__ = [
    "Baseline",
    "DesiredEncoder",
    "FleetRender",
    "RenderCache",
    "Rendered",
    "RepositoryCheck",
    "check_repository",
    "load_and_render",
    "render_changes",
    "render_fleet",
    "render_node",
]
