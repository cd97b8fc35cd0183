"""The running controller: a commit on the branch becomes retained Desired documents.

`controller.Controller` wires the parts: `source` fetches the branch (polling, a
`webhook` behind `http`, or a watcher on a local repository), `reconciler` loads and
renders each new revision and compares digests with the `ledger`, `publisher` sends
the changed documents (retained, QoS 1), `readback` reads the retained documents back
at start, and `metrics` counts what happened for `/metrics` and `/healthz`. Built by
`shoal controller` (`commands/run.py`); imports `render/` and `fleet/`.
"""

from controller.service.controller import Controller, ControllerSettings
from controller.service.ledger import Ledger
from controller.service.publisher import DEFAULT_INFLIGHT, Publisher

__all__ = [
    "DEFAULT_INFLIGHT",
    "Controller",
    "ControllerSettings",
    "Ledger",
    "Publisher",
]
