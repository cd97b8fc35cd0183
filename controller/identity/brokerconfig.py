"""Generate a complete Mosquitto 2 configuration that confines every node.

`shoal broker-config --mosquitto DIR` (controller/commands/broker_config.py) calls
`write_mosquitto`. DIR receives:

- `mosquitto.conf`: one TLS listener that requires a client certificate signed by
  the fleet CA and takes its common name as the user name; anonymous clients refused;
  `persistence true`, `max_queued_messages 0`; the dynamic-security plugin;
- `dynamic-security.json`: a role per node (its own topics, `confinement`), the
  controller's role, and a client per node and for the controller;
- `ca.crt`, `broker.crt`, `broker.key` (mode 0600).

Everything is written into a temporary sibling folder and renamed into place at the
end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from controller.identity import confinement
from controller.identity.authority import write_private
from shadow.errors import BadInput

PLUGIN_PATHS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
DYNSEC_FILE = "dynamic-security.json"


class BrokerConfigError(BadInput, ValueError):
    """The configuration cannot be written; the message names the folder or file."""


def find_plugin() -> str:
    for path in PLUGIN_PATHS:
        if os.path.exists(path):
            return path
    return PLUGIN_PATHS[0]


@dataclass(frozen=True)
class MosquittoLayout:
    """What goes into mosquitto.conf."""

    install_dir: Path  # where the files live on the broker host
    port: int = 8883
    bind: str = ""  # empty: every address
    plugin: str = PLUGIN_PATHS[0]


def dynsec_document(prefix: str, nodes: Iterable[str], controller_name: str) -> dict[str, object]:
    names = sorted(nodes)
    return {
        "defaultACLAccess": dict(confinement.DEFAULT_ACCESS),
        "clients": [confinement.client(controller_name, confinement.CONTROLLER_ROLE)]
        + [confinement.client(n, confinement.node_role_name(n)) for n in names],
        "groups": [],
        "roles": [confinement.controller_role(prefix)]
        + [confinement.node_role(prefix, n) for n in names],
    }


def mosquitto_conf(layout: MosquittoLayout, fleet: str, nodes: int) -> str:
    d = layout.install_dir
    listener = f"listener {layout.port} {layout.bind}".rstrip()
    return f"""# Mosquitto 2 configuration for the shoal fleet {fleet!r} ({nodes} nodes),
# written by `shoal broker-config`. Regenerate it rather than edit it; node clients are
# kept in step with git by `shoal controller --dynamic-security` (docs/security.md).
per_listener_settings false
allow_anonymous false

# Retained Desired documents must survive a restart, and a controller subscribing to a
# big fleet must not lose any (Mosquitto's default of 1000 queued messages drops them).
persistence true
persistence_location {d}/data/
max_queued_messages 0

# Mutual TLS: only certificates signed by the fleet CA; the certificate's common name
# (the node name, or the controller's) is the user name the ACLs below are checked for.
{listener}
cafile {d}/ca.crt
certfile {d}/broker.crt
keyfile {d}/broker.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
# Without it, Nagle's algorithm meets delayed ACKs in the TLS handshake: ~40 ms a connect.
set_tcp_nodelay true

# Per-node ACLs: one role per node with its literal topics (dynamic-security.json).
plugin {layout.plugin}
plugin_opt_config_file {d}/{DYNSEC_FILE}
"""


def check_empty(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise BrokerConfigError(f"{directory}: exists and is not a folder")
        if any(directory.iterdir()):
            raise BrokerConfigError(
                f"{directory}: not empty; choose an empty or new folder (nothing is overwritten)"
            )


def write_mosquitto(
    directory: Path,
    layout: MosquittoLayout,
    *,
    fleet: str,
    prefix: str,
    nodes: Iterable[str],
    controller_name: str,
    ca_cert: bytes,
    broker_cert: bytes,
    broker_key: bytes,
) -> list[Path]:
    """Write the configuration into `directory` (new or empty); returns the files."""
    check_empty(directory)
    names = sorted(nodes)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        (staging / "data").mkdir()
        (staging / "mosquitto.conf").write_text(mosquitto_conf(layout, fleet, len(names)))
        document = dynsec_document(prefix, names, controller_name)
        (staging / DYNSEC_FILE).write_text(json.dumps(document, indent=1) + "\n")
        os.chmod(staging / DYNSEC_FILE, 0o600)
        (staging / "ca.crt").write_bytes(ca_cert)
        (staging / "broker.crt").write_bytes(broker_cert)
        write_private(staging / "broker.key", broker_key)
        os.chmod(staging, 0o700)
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.rename(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(directory.iterdir())
