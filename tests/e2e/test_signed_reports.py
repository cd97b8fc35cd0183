"""A forged report never reaches the status branch: the controller records only reports
signed by the key git records for their node.

Real processes: Mosquitto, `shoal controller --http`, `shoal edge --report-key` on the API
stand-in, a bare git remote. The forger may publish anywhere on the broker (a compromised
broker, or one without confinement) but does not hold paris-01's node key: a report signed
by another key, one carrying paris-01's key id over a stranger's signature, and an unsigned
one are dropped and counted, and the status branch never shows them, while the genuine
edge's next report lands. paris-02 has no key in git: its (unsigned) report is recorded,
marked `verified: false`, and `shoal status` says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shadow.reportsigning import ReportSigner
from shoal.kubesim import KubeSim
from tests.e2e.conftest import ROOT, Fleet, Processes, controller_args, edge_args, git
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.mqtt import publish
from tests.support.reports import report
from tests.support.waiting import wait_until

NODE, OLD_AGENT = "paris-01", "paris-02"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[KubeSim, Path]]:
    started = KubeSim(port=0, rollout_seconds=0.2).start()
    try:
        yield started, started.write_kubeconfig(tmp_path / "kube.yaml")
    finally:
        started.stop()


def rejected(port: int) -> dict[str, float]:
    """`shoal_reports_rejected_total` by reason, from the controller's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("shoal_reports_rejected_total{"):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('reason="')[1].split('"')[0]] = float(value)
    return found


def forged(signer: ReportSigner | None, key_id: str | None = None) -> bytes:
    """paris-01 'failing', as a forger would publish it: signed by `signer` (or not)."""
    fake = report(NODE, state="Failed", apps={"base": "Failed"}, message="FORGED by a stranger")
    if signer is None:
        return fake.to_json()
    data = json.loads(signer.signed_json(fake))
    if key_id is not None:  # pretend to be the node's key
        data["signature"] = data["signature"].replace(signer.key_id, key_id)
    return json.dumps(data).encode()


def test_forged_reports_are_dropped_and_counted_and_genuine_ones_verified(
    mosquitto: Mosquitto,
    fleet: Fleet,
    shoal: Processes,
    sim: tuple[KubeSim, Path],
    tmp_path: Path,
) -> None:
    node_key = ReportSigner.generate()
    key_file = tmp_path / "node.key"
    key_file.write_bytes(node_key.private_pem())
    fleet.write(
        f"nodes/{NODE}.yaml",
        f"name: {NODE}\ntags:\n  site: paris\nreportKey: {node_key.key_text()}\n",
    )
    fleet.push("paris-01's report key")
    port = free_port()
    reported = f"shoal/nodes/{NODE}/reported"
    shoal.start(
        "controller",
        *controller_args(fleet, mosquitto.url, tmp_path / "ctl", "--http", f"127.0.0.1:{port}"),
    )
    edge = edge_args(NODE, mosquitto.url, sim[1], tmp_path / "edge")
    shoal.start("edge", *edge, "--report-key", str(key_file))
    head = fleet.head()

    def genuine(revision: str) -> bool:
        entry = fleet.node_status(NODE) or {}
        return (
            entry.get("state") == "Synced" and entry.get("observed", {}).get("revision") == revision
        )

    wait_until(lambda: genuine(head), 60, message="paris-01 never synced")
    entry = fleet.node_status(NODE) or {}
    assert entry["verified"] is True and entry["keyId"] == node_key.key_id

    # An agent from before signed reports, on a node with no key in git: recorded, unverified.
    publish(mosquitto.url, f"shoal/nodes/{OLD_AGENT}/reported", report(OLD_AGENT).to_json())

    stranger = ReportSigner.generate()
    for payload in (forged(stranger), forged(stranger, node_key.key_id), forged(None)):
        publish(mosquitto.url, reported, payload)
    wait_until(
        lambda: all(
            rejected(port).get(r, 0) >= 1 for r in ("wrong-key", "bad-signature", "unsigned")
        ),
        30,
        message=f"the forgeries were not counted: {rejected(port)}",
    )

    # The genuine edge reports again (a new revision), and that lands; the forgeries never.
    fleet.write("fleet.yaml", "name: e2e\nvars:\n  motd: later\n  web_tag: '1.27'\n")
    later = fleet.push("a later change")
    wait_until(lambda: genuine(later), 60, message="paris-01's next report never landed")
    history = git(fleet.remote, "log", "-p", "shoal-status")
    assert "FORGED" not in history and "state: Failed" not in history
    assert (fleet.node_status(NODE) or {})["verified"] is True
    assert (fleet.node_status(OLD_AGENT) or {})["verified"] is False
    # Logged once per node, not once per forgery.
    log = shoal.log("controller")
    assert log.count(f"refused the message on {reported}") == 1, log

    git(fleet.work, "fetch", "-q", "origin", "shoal-status:shoal-status")
    table = subprocess.run(
        [sys.executable, "-m", "shoal", "status", str(fleet.work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    old_row = next(line for line in table.splitlines() if line.startswith(OLD_AGENT))
    assert "unverified" in old_row, table
    node_row = next(line for line in table.splitlines() if line.startswith(NODE))
    assert "unverified" not in node_row, table
    assert "1 unverified: paris-02" in table, table
