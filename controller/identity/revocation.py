"""Revocation that follows git: the broker admits exactly the nodes of the last revision.

The running controller (`shoal controller --dynamic-security`, wired in
controller/commands/run.py) calls `BrokerClients.revision_reconciled(revision, fleet)`
after each good revision. A worker thread then brings Mosquitto's dynamic-security
plugin in step over MQTT (`$CONTROL/dynamic-security/v1`), in one batch per revision
(the plugin rewrites its JSON file after every message):

- a node that left the fleet, or is marked `revoked: true`, loses its client and role
  (`deleteClient` also drops its live session at once); its certificate still passes
  the TLS handshake, but with no role it can neither subscribe to nor publish anything;
- a node that joined gets its role (its own topics, `confinement.node_role`) and client.

Which nodes the broker knows is read back (`listRoles`) on every (re)connection, so a
broker restored from an old file or a controller restarted mid-change converges too.
A failed batch is retried every RETRY_SECONDS until the broker answers.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.fleet.model import Fleet
from controller.identity import confinement
from shadow.errors import Unavailable
from transport import BrokerOptions, make_client

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
ANSWER_SECONDS = 10.0
RESPONSE_TOPIC = confinement.CONTROL_TOPIC + "/response"


class BrokerRefused(Unavailable):
    """The dynamic-security plugin did not answer, or answered with errors."""


@dataclass(frozen=True)
class Wanted:
    revision: str
    prefix: str
    nodes: frozenset[str]


def wanted_nodes(fleet: Fleet) -> frozenset[str]:
    return frozenset(n.name for n in fleet.nodes.values() if not n.revoked)


def commands_for(
    prefix: str, known: Iterable[str], wanted: Iterable[str], keep: str
) -> list[dict[str, Any]]:
    """The plugin commands turning the `known` node clients into the `wanted` ones;
    `keep` (the controller's own name) is never touched."""
    known_set, wanted_set = set(known) - {keep}, set(wanted) - {keep}
    commands: list[dict[str, Any]] = []
    for node in sorted(known_set - wanted_set):
        commands.append({"command": "deleteClient", "username": node})
        commands.append({"command": "deleteRole", "rolename": confinement.node_role_name(node)})
    for node in sorted(wanted_set - known_set):
        role = confinement.node_role(prefix, node)
        commands.append({"command": "createRole", **role})
        commands.append(
            {"command": "createClient", "username": node, "roles": [{"rolename": role["rolename"]}]}
        )
    return commands


class BrokerClients:
    """Keeps the broker's node clients equal to the last good revision's nodes."""

    def __init__(self, options: BrokerOptions, controller_name: str) -> None:
        self.options = options
        self.controller_name = controller_name
        self._client = make_client(options, f"shoal-dynsec-{uuid.uuid4().hex[:8]}")
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._connected = threading.Event()
        self._client.on_disconnect = lambda *_a: self._connected.clear()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._answers: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._wanted: Wanted | None = None
        self._known: set[str] | None = None  # node roles on the broker; None: ask
        self._worker: threading.Thread | None = None
        self.applied: Wanted | None = None  # what the broker holds, for tests and /healthz
        self.last_error: str | None = None

    # --- the controller's side -----------------------------------------------------------

    def revision_reconciled(self, revision: str, fleet: Fleet) -> None:
        """Called after each good revision; returns at once (the worker does the work)."""
        with self._lock:
            self._wanted = Wanted(revision, fleet.topic_prefix, wanted_nodes(fleet))
        self._wake.set()

    def start(self) -> None:
        self._client.connect_async(self.options.host, self.options.port, self.options.keepalive)
        self._client.loop_start()
        self._worker = threading.Thread(target=self._work, name="broker-clients", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(15)
        self._client.disconnect()
        self._client.loop_stop()

    def health_fields(self) -> dict[str, Any]:
        applied = self.applied
        return {
            "brokerClientsRevision": applied.revision if applied else None,
            "brokerClientsError": self.last_error,
        }

    # --- MQTT ----------------------------------------------------------------------------

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.last_error = f"the broker refused the connection: {reason}"
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)
        with self._lock:
            self._known = None  # read the broker's view again: it may have changed
        self._connected.set()
        self._wake.set()

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            return
        for response in responses:
            correlation = str(response.get("correlationData", ""))
            waiting = self._answers.get(correlation)
            if waiting is not None:
                waiting[1].append(response)
                waiting[0].set()

    def _call(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send `commands` in one message; the plugin's responses, in order."""
        token = uuid.uuid4().hex
        for i, command in enumerate(commands):
            command["correlationData"] = f"{token}-{i}"
        events: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {
            f"{token}-{i}": (threading.Event(), []) for i in range(len(commands))
        }
        self._answers.update(events)
        try:
            payload = json.dumps({"commands": commands})
            self._client.publish(confinement.CONTROL_TOPIC, payload, qos=1)
            answers = []
            for event, found in events.values():
                if not event.wait(ANSWER_SECONDS):
                    raise BrokerRefused(
                        "the broker's dynamic-security plugin did not answer (is it loaded, and "
                        f"may {self.controller_name!r} publish to {confinement.CONTROL_TOPIC}?)"
                    )
                answers.append(found[0])
            return answers
        finally:
            for key in events:
                self._answers.pop(key, None)

    # --- the worker ----------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(RETRY_SECONDS)
            self._wake.clear()
            if self._stopping.is_set() or not self._connected.is_set():
                continue
            try:
                self._sync()
                self.last_error = None
            except Exception as exc:  # the broker or plugin failed: keep trying
                if str(exc) != self.last_error:
                    log.error("broker clients: %s; retrying", exc)
                self.last_error = str(exc)
                self._wake.set()
                self._stopping.wait(RETRY_SECONDS)

    def _sync(self) -> None:
        with self._lock:
            wanted, known = self._wanted, self._known
        if wanted is None or (wanted == self.applied and known is not None):
            return
        if known is None:
            known = self._read_known()
        commands = commands_for(wanted.prefix, known, wanted.nodes, self.controller_name)
        if commands:
            answers = self._call(commands)
            errors = [
                f"{a.get('command')}: {a['error']}"
                for a in answers
                if a.get("error")
                and "already exists" not in str(a["error"])
                and "not found" not in str(a["error"])
            ]
            if errors:
                raise BrokerRefused("; ".join(errors[:3]))
        removed = sorted(set(known) - wanted.nodes - {self.controller_name})
        added = sorted(wanted.nodes - set(known) - {self.controller_name})
        with self._lock:
            self._known = set(wanted.nodes)
        self.applied = wanted
        if removed:
            log.warning(
                "revision %s: locked %d node%s out of the broker: %s",
                wanted.revision[:12],
                len(removed),
                "s" if len(removed) != 1 else "",
                ", ".join(removed[:10]) + (" ..." if len(removed) > 10 else ""),
            )
        if added:
            log.info(
                "revision %s: admitted %d node%s to the broker",
                wanted.revision[:12],
                len(added),
                "s" if len(added) != 1 else "",
            )

    def _read_known(self) -> set[str]:
        answer = self._call([{"command": "listRoles", "verbose": False, "count": -1, "offset": 0}])[
            0
        ]
        if answer.get("error"):
            raise BrokerRefused(f"listRoles: {answer['error']}")
        roles = (answer.get("data") or {}).get("roles") or []
        names = [r if isinstance(r, str) else r.get("rolename", "") for r in roles]
        return {node for node in map(confinement.node_of_role, names) if node is not None}
