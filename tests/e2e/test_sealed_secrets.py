"""A secret from a person's terminal to the pod, readable by its nodes alone.

Real parts: `shoal secret set` reading standard input, git with a bare remote, Mosquitto,
`shoal controller`, `shoal edge --age-identity` on the API stand-in. The Secret on the
node holds the value; a byte search of the git objects, the retained broker messages, the
edge's state dir and every log finds neither the value nor its base64.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shadow.sealing import SealingError, new_identity, parse_token, unseal
from tests.e2e.conftest import NODES, Fleet, Processes, controller_args, edge_args, git
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until

VALUE = b"correct-horse-battery-staple-42"
SECRET_TEMPLATE = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
data:
  password: {{ secret("db-password") }}
"""


def shoal_cli(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", *args], cwd=cwd, input=stdin, capture_output=True
    )


@pytest.fixture
def keyed(fleet: Fleet, tmp_path: Path) -> dict[str, Path]:
    """Each node's age identity file (as its bundle holds it); recipients in the node files."""
    files = {}
    for node, site in NODES.items():
        identity, recipient = new_identity()
        path = tmp_path / "bundles" / node / "age.key"
        path.parent.mkdir(parents=True)
        path.write_text(identity + "\n")
        files[node] = path
        fleet.write(
            f"nodes/{node}.yaml",
            yaml.safe_dump({"name": node, "tags": {"site": site}, "recipient": recipient}),
        )
    fleet.push("node recipients")
    return files


def test_a_secret_reaches_its_node_and_nothing_else_holds_it(
    mosquitto: Mosquitto,
    fleet: Fleet,
    shoal: Processes,
    sims: dict,
    keyed: dict[str, Path],
    tmp_path: Path,
) -> None:
    sealed = shoal_cli(
        "secret", "set", "db-password", "--selector", "site=paris", cwd=fleet.work, stdin=VALUE
    )
    assert sealed.returncode == 0, sealed.stderr
    fleet.add_app("db", "site=paris", SECRET_TEMPLATE)
    head = fleet.push("the database password for paris")
    # render and diff show the sealed form only
    rendered = shoal_cli("render", "--node", "paris-01", "--app", "db", cwd=fleet.work)
    assert rendered.returncode == 0, rendered.stderr
    assert (
        b"<sealed db-password sha256:" in rendered.stdout and b"shoal-sealed" not in rendered.stdout
    )

    shoal.start("controller", *controller_args(fleet, mosquitto.url, tmp_path / "ctl"))
    sim, kubeconfig = sims["paris-01"]
    state = tmp_path / "edge-paris-01"
    shoal.start(
        "edge",
        *edge_args("paris-01", mosquitto.url, kubeconfig, state),
        "--age-identity",
        str(keyed["paris-01"]),
    )
    with Recorder(mosquitto.url, "shoal/#") as seen:

        def synced() -> bool:
            payload = seen.latest.get("shoal/nodes/paris-01/reported")
            report = json.loads(payload) if payload else {}
            return report.get("revision") == head and report.get("state") == "Synced"

        wait_until(synced, 60, message="paris-01 never synced the secret")
        secret = sim.get("v1", "Secret", "db", "db")
        assert secret is not None and base64.b64decode(secret["data"]["password"]) == VALUE
        wait_until(lambda: fleet.node_status("paris-01") is not None, 30, message="no status")
        retained = b"".join(m.payload for m in seen.messages)
        token = json.loads(seen.latest["shoal/nodes/paris-01/desired"])["apps"]["db"]["resources"][
            0
        ]["data"]["password"]

    # A node outside the selector cannot open what was sealed to paris-01.
    lyon = keyed["lyon-01"].read_text().strip()
    sealed_value = parse_token(token)
    assert sealed_value is not None
    with pytest.raises(SealingError):
        unseal(sealed_value, [lyon])

    needles = (VALUE, base64.b64encode(VALUE))
    objects = subprocess.run(
        ["git", "-C", str(fleet.remote), "cat-file", "--batch", "--batch-all-objects"],
        capture_output=True,
        check=True,
    ).stdout
    places = {
        "git objects": objects,
        "retained broker messages": retained,
        "edge state dir": b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file()),
        "logs": b"".join(p.read_bytes() for p in shoal.logs.iterdir()),
        "status branch": git(fleet.remote, "log", "-p", "shoal-status").encode(),
    }
    for where, data in places.items():
        assert data, f"{where}: nothing to search"
        for needle in needles:
            assert needle not in data, f"the secret's value is in the {where}"


def test_validate_names_a_template_whose_nodes_cannot_read_its_secret(
    fleet: Fleet, keyed: dict[str, Path]
) -> None:
    assert (
        shoal_cli(
            "secret", "set", "db-password", "--selector", "site=paris", cwd=fleet.work, stdin=VALUE
        ).returncode
        == 0
    )
    fleet.add_app("db", "", SECRET_TEMPLATE)  # every node, lyon-01 included
    fleet.add_app(
        "leak",
        "",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\ndata:\n  x: {{ secret('db-password') }}\n",
    )
    checked = shoal_cli("validate", cwd=fleet.work)
    assert checked.returncode == 1
    out = checked.stdout.decode() + checked.stderr.decode()
    assert "apps/db/templates/db.yaml.j2:6: node lyon-01 cannot read secret 'db-password'" in out
    assert "does not match the node" in out
    assert "secret() may be used only as a value of a Secret's data or stringData" in out
