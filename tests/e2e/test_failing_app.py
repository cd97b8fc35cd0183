"""An app that cannot be applied shows as Failed in the status branch and in `shoal status`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT, Fleet, Processes, controller_args, edge_args, git
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

# A kind the node's cluster does not serve (a CRD nobody installed).
GADGET_TEMPLATE = """\
apiVersion: gadgets.example.com/v1
kind: Gadget
metadata:
  name: gadget
spec:
  size: 3
"""


def test_a_failing_app_shows_as_failed(
    mosquitto: Mosquitto, fleet: Fleet, shoal: Processes, sims: dict, tmp_path: Path
) -> None:
    fleet.add_app("gadget", "site=paris", GADGET_TEMPLATE)
    bad = fleet.push("a gadget on the Paris nodes")
    shoal.start("controller", *controller_args(fleet, mosquitto.url, tmp_path / "ctl"))
    _sim, kubeconfig = sims["paris-01"]
    shoal.start("paris-01", *edge_args("paris-01", mosquitto.url, kubeconfig, tmp_path / "p1"))

    def failed() -> dict | None:  # type: ignore[type-arg]
        status = fleet.node_status("paris-01")
        # Degraded: some apps failed, others are ready.
        if status and status["observed"]["revision"] == bad and status["state"] == "Degraded":
            return status
        return None

    status = wait_until(failed, 40, message="paris-01 reported Failed")
    assert status["apps"]["gadget"]["state"] == "Failed"
    assert status["apps"]["base"]["state"] == "Ready"
    assert any("1 degraded: paris-01 gadget" in s for s in fleet.status_log()), fleet.status_log()

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(fleet.remote), str(clone))
    done = subprocess.run(
        [sys.executable, "-m", "shoal", "status", str(clone), "--app", "gadget"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("paris-01"))
    assert "Degraded" in row and "gadget:Failed" in row
    assert "    gadget: " in done.stdout  # the edge's message, on the line below
    assert "app gadget: 0 Ready, 0 Progressing, 1 Failed" in done.stdout
