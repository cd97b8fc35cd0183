"""A node applies only documents the controller's key signed, and keys rotate losing nothing.

Real processes: Mosquitto, `shoal controller --signing-key`, `shoal edge --trust-key` on
the API stand-in, a bare git remote. The forger holds the broker's password (anyone may
publish here) but not the signing key: its documents are refused, with the reason in the
node's next report, and the node keeps running the last good state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from shadow import DesiredApp, DesiredDocument, now_ms
from shadow.signing import SigningKey
from tests.e2e.conftest import Fleet, Processes, controller_args, edge_args
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from tests.support.waiting import wait_until

NODE = "paris-01"
DESIRED, REPORTED = f"shoal/nodes/{NODE}/desired", f"shoal/nodes/{NODE}/reported"


def new_key(folder: Path, name: str) -> tuple[Path, Path]:
    path = folder / name
    made = subprocess.run(
        [sys.executable, "-m", "shoal", "signing-key", "create", str(path)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    return path, path.with_name(path.name + ".pub")


def report(seen: Recorder) -> dict[str, Any]:
    payload = seen.latest.get(REPORTED)
    return json.loads(payload) if payload else {}


def forged(generation: int, signer: SigningKey | None = None, node: str = NODE) -> bytes:
    evil = DesiredApp.build(
        "6.6.6",
        "evil",
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "pwned", "namespace": "evil"},
            }
        ],
    )
    data = DesiredDocument.build(node, "forged", generation, {"evil": evil}).to_dict()
    if signer is not None:
        data["signature"] = signer.sign(data)
    return json.dumps(data).encode()


def test_only_signed_documents_apply_and_a_rotation_loses_no_update(
    mosquitto: Mosquitto, fleet: Fleet, shoal: Processes, sims: dict, tmp_path: Path
) -> None:
    old_key, old_pub = new_key(tmp_path / "keys", "controller-2026")
    new_key_path, new_pub = new_key(tmp_path / "keys", "controller-2027")
    sim, kubeconfig = sims[NODE]
    edge = [*edge_args(NODE, mosquitto.url, kubeconfig, tmp_path / "edge")]
    controller = controller_args(fleet, mosquitto.url, tmp_path / "ctl")
    shoal.start("controller", *controller, "--signing-key", str(old_key))
    shoal.start("edge", *edge, "--trust-key", str(old_pub))
    head = fleet.head()
    with Recorder(mosquitto.url, DESIRED, REPORTED) as seen:
        wait_until(
            lambda: report(seen).get("revision") == head and report(seen)["state"] == "Synced",
            60,
            message="first sync",
        )
        signed = json.loads(seen.latest[DESIRED])
        assert signed["signature"].startswith(
            f"ed25519:{SigningKey.from_pem(old_key.read_bytes()).key_id}:"
        )

        # Someone with broker access but without the key: unsigned, a stranger's key, another node's.
        stranger = SigningKey.generate()
        cases = [
            (forged(now_ms() + 1000), "unsigned"),
            (
                forged(now_ms() + 2000, stranger),
                f"key {stranger.key_id}, which this node does not trust",
            ),
            (
                forged(now_ms() + 3000, SigningKey.from_pem(old_key.read_bytes()), node="lyon-01"),
                "not 'paris-01'",
            ),
        ]
        for payload, reason in cases:
            publish(mosquitto.url, DESIRED, payload)
            wait_until(
                lambda r=reason: any(r in x["reason"] for x in report(seen).get("rejected", [])),
                30,
                message=f"no rejection saying {reason!r}: {report(seen).get('rejected')}",
            )
        assert report(seen)["revision"] == head and "evil" not in report(seen)["apps"]
        assert sim.get("v1", "ConfigMap", "pwned", "evil") is None

        # Rotation: the edge trusts both keys, the controller moves to the new one, a commit lands.
        shoal.stop("edge")
        shoal.start("edge", *edge, "--trust-key", str(old_pub), "--trust-key", str(new_pub))
        shoal.stop("controller")
        shoal.start("controller", *controller, "--signing-key", str(new_key_path))
        fleet.write("fleet.yaml", "name: e2e\nvars:\n  motd: rotated\n  web_tag: '1.27'\n")
        rotated = fleet.push("a change signed with the new key")
        wait_until(
            lambda: report(seen).get("revision") == rotated and report(seen)["state"] == "Synced",
            60,
            message="rotated sync",
        )
        assert (
            json.loads(seen.latest[DESIRED])["signature"].split(":")[1]
            == SigningKey.from_pem(new_key_path.read_bytes()).key_id
        )
        # The old key retired: the node still takes the next change.
        shoal.stop("edge")
        shoal.start("edge", *edge, "--trust-key", str(new_pub))
        fleet.write("fleet.yaml", "name: e2e\nvars:\n  motd: retired\n  web_tag: '1.27'\n")
        last = fleet.push("after the old key retired")
        wait_until(
            lambda: report(seen).get("revision") == last and report(seen)["state"] == "Synced",
            60,
            message="last sync",
        )
        config = sim.get("v1", "ConfigMap", "base", "base")
        assert config is not None and config["data"]["motd"] == "retired"
