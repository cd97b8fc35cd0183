"""The agent's durable local store: what it was last told, and what it applied.

Lives in `--state-dir`. The agent (edge/agent.py) saves a Desired document the
moment it accepts it, and the reconciler (edge/reconciler.py) saves the inventory
before and after every apply, so after a crash or a reboot with no broker in
sight the agent can re-apply and prune exactly, without the cloud.

Files (JSON):
- `desired.json`   the last accepted Desired document, as received
- `inventory.json` per app: the objects shoal owns and the app digest last applied
  in full; plus the node digest last applied in full (to skip re-deliveries)
- `lock`           held while an agent runs, so two agents never share a store

Every write is atomic (`transport.atomicfile`: temp file, fsync, rename, fsync of the
directory). A reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from edge.runtime import ObjectRef
from shadow import DesiredDocument, DocumentError
from shadow.errors import Unavailable
from transport.atomicfile import replace_atomically

log = logging.getLogger(__name__)


class StoreError(Unavailable):
    """The state dir cannot be used (permissions, another agent holds it)."""


@dataclass
class AppInventory:
    """What shoal owns for one app. `digest` is set once the app applied without error."""

    objects: list[ObjectRef] = field(default_factory=list)
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "objects": [ref.to_dict() for ref in self.objects]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppInventory:
        return cls(
            [ObjectRef.from_dict(o) for o in data.get("objects", [])], str(data.get("digest", ""))
        )


@dataclass
class Inventory:
    apps: dict[str, AppInventory] = field(default_factory=dict)
    applied_digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "appliedDigest": self.applied_digest,
            "apps": {name: app.to_dict() for name, app in sorted(self.apps.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inventory:
        return cls(
            {name: AppInventory.from_dict(app) for name, app in data.get("apps", {}).items()},
            str(data.get("appliedDigest", "")),
        )


class InventoryWrite:
    """One inventory write under way (or none needed); `wait` until it is durable."""

    def __init__(
        self, write: Callable[[], None] | None, written: Callable[[], None] = lambda: None
    ) -> None:
        self._written = written
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if write is not None:
            self._thread = threading.Thread(
                target=self._run, args=(write,), name="shoal-inventory", daemon=True
            )
            self._thread.start()

    def _run(self, write: Callable[[], None]) -> None:
        try:
            write()
        except BaseException as exc:  # raised again in the reconciler's thread
            self._error = exc

    def wait(self) -> None:
        """Return once the file is durable; raise what prevented it (an OSError)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self._error is not None:
                raise self._error
            self._written()


def _encoded(inventory: Inventory) -> bytes:
    """The inventory as JSON, one app a line: readable, and made by json's C encoder
    (asked to indent, json falls back to its pure-Python one: 2 ms for 200 objects,
    paid before and after every apply)."""
    apps = ",\n".join(
        f" {json.dumps(name)}: {json.dumps(app.to_dict(), sort_keys=True)}"
        for name, app in sorted(inventory.apps.items())
    )
    digest = json.dumps(inventory.applied_digest)
    return f'{{"appliedDigest": {digest},\n"apps": {{\n{apps}\n}}}}\n'.encode()


class Store:
    """The state dir. `open()` takes the lock; `close()` releases it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.desired_path = self.state_dir / "desired.json"
        self.inventory_path = self.state_dir / "inventory.json"
        self._lock_file: IO[bytes] | None = None
        self._inventory_written: bytes | None = None

    def open(self) -> Store:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            lock = open(self.state_dir / "lock", "ab")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise StoreError(f"cannot use state dir {self.state_dir}: {exc.strerror}") from exc
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock.close()
            raise StoreError(
                f"state dir {self.state_dir} is in use by another shoal edge agent"
            ) from exc
        self._lock_file = lock
        return self

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    # --- Desired -------------------------------------------------------------------------

    def load_desired(self) -> DesiredDocument | None:
        """The last accepted document, or None (none yet, or unreadable: logged)."""
        try:
            payload = self.desired_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("cannot read %s: %s", self.desired_path, exc.strerror)
            return None
        try:
            return DesiredDocument.from_json(payload)
        except DocumentError as exc:
            log.error("ignoring %s: %s", self.desired_path, exc)
            return None

    def save_desired(self, document: DesiredDocument) -> None:
        replace_atomically(self.desired_path, document.to_json())

    # --- inventory -----------------------------------------------------------------------

    def load_inventory(self) -> Inventory:
        try:
            data = json.loads(self.inventory_path.read_bytes())
            return Inventory.from_dict(data)
        except FileNotFoundError:
            return Inventory()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Losing the inventory loses pruning of objects already gone from Desired,
            # not the objects themselves: say so and carry on.
            log.error("ignoring unreadable %s: %s", self.inventory_path, exc)
            return Inventory()

    def save_inventory(self, inventory: Inventory) -> None:
        self.start_saving_inventory(inventory).wait()

    def start_saving_inventory(self, inventory: Inventory) -> InventoryWrite:
        """Write the inventory as it is now, on a thread of its own; `wait()` on the
        answer returns once it is durable (the reconciler works meanwhile)."""
        data = _encoded(inventory)
        if data == self._inventory_written:
            return InventoryWrite(None)  # every reconcile saves: spare the flash
        self._inventory_written = None  # known again once this write is done

        def written() -> None:
            self._inventory_written = data

        return InventoryWrite(lambda: replace_atomically(self.inventory_path, data), written)

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
