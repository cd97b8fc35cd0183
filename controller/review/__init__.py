"""Two revisions of a fleet repository compared node by node, for a pull request.

`checkouts` materialises any git revision (or the working tree) of a fleet directory,
`revision` says which revision local commands stamp on documents, `diffing` renders
both sides and groups nodes with identical changes (`objectdiff` compares one app's
objects), and `diffreport` prints the result as text, markdown or JSON. Called by
`shoal diff` and `shoal render`; imports `render/` and `fleet/`.
"""

from controller.review.checkouts import WORKING_TREE, FleetRepository, Revision
from controller.review.diffing import FleetDiff, RenderFailed, diff_revisions
from controller.review.diffreport import (
    failure_json,
    failure_markdown,
    format_json,
    format_markdown,
    format_text,
)
from controller.review.revision import working_revision

__all__ = [
    "WORKING_TREE",
    "FleetDiff",
    "FleetRepository",
    "RenderFailed",
    "Revision",
    "diff_revisions",
    "failure_json",
    "failure_markdown",
    "format_json",
    "format_markdown",
    "format_text",
    "working_revision",
]
