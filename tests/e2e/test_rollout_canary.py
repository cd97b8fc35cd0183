"""A change that breaks on the canary is rolled back there and never reaches the rest:
`shoal controller` and real `shoal edge` agents on the Kubernetes stand-in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import (
    ROOT,
    WEB_TEMPLATE,
    Fleet,
    Processes,
    controller_args,
    edge_args,
    git,
)
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until

# A kind the node's cluster does not serve: the app fails to apply.
GADGET = """\
apiVersion: gadgets.example.com/v1
kind: Gadget
metadata:
  name: gadget
spec:
  size: 3
"""

POLICY = {"waves": ["site=lyon", "100%"], "onFailure": "rollback", "bake": "0.2s"}


def web_app(fleet: Fleet, tag: str) -> None:
    fleet.write_yaml(
        "apps/web/app.yaml",
        {
            "name": "web",
            "version": tag,
            "selector": "",
            "namespace": "web",
            "vars": {"web_tag": tag},
            "rollout": POLICY,
        },
    )


def image(sim: object, node: str) -> str | None:
    deployment = sim.get("apps/v1", "Deployment", "web", "web")  # type: ignore[attr-defined]
    return (
        None
        if deployment is None
        else deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    )


def test_canary_failure_rolls_back_on_real_edges(
    mosquitto: Mosquitto, fleet: Fleet, shoal: Processes, sims: dict, tmp_path: Path
) -> None:
    fleet.write("apps/web/templates/web.yaml.j2", WEB_TEMPLATE)
    web_app(fleet, "1.27")
    fleet.push("web 1.27 with a rollout policy")
    recorder = Recorder(mosquitto.url, "shoal/nodes/+/desired")
    try:
        shoal.start("controller", *controller_args(fleet, mosquitto.url, tmp_path / "ctl"))
        for node in ("lyon-01", "paris-01"):  # paris-02 has no agent: offline
            _sim, kubeconfig = sims[node]
            shoal.start(node, *edge_args(node, mosquitto.url, kubeconfig, tmp_path / node))
        lyon, paris = sims["lyon-01"][0], sims["paris-01"][0]
        wait_until(lambda: image(lyon, "lyon-01") == "nginx:1.27", 60, message="first apply")
        wait_until(lambda: image(paris, "paris-01") == "nginx:1.27", 30, message="first apply")

        fleet.write("apps/web/templates/gadget.yaml.j2", GADGET)
        web_app(fleet, "1.28")
        bad = fleet.push("web 1.28 and a gadget nobody serves")

        def carried(node: str) -> list[str]:
            """The web versions of every document `node` was sent since the bad push."""
            seen = []
            for m in list(recorder.messages):
                if m.topic == f"shoal/nodes/{node}/desired" and m.payload:
                    doc = json.loads(m.payload)
                    seen.append(doc["apps"]["web"]["version"])
            return seen

        # The canary gets 1.28, fails, and gets 1.27 back: its last document is the old one.
        wait_until(lambda: "1.28" in carried("lyon-01"), 40, message="canary sent 1.28")
        wait_until(lambda: carried("lyon-01")[-1] == "1.27", 60, message="canary rolled back")
        latest = json.loads(recorder.latest["shoal/nodes/lyon-01/desired"])
        assert latest["revision"] == bad  # a new document, built at the bad commit ...
        assert latest["apps"]["web"]["version"] == "1.27"  # ... with web's previous render
        assert latest["apps"]["web"]["revision"] != bad
        assert sorted(latest["apps"]["web"]["resources"][0]) == sorted(
            ["apiVersion", "kind", "metadata", "spec"]
        )
        assert len(latest["apps"]["web"]["resources"]) == 1  # the gadget is gone again
        wait_until(
            lambda: (
                (fleet.node_status("lyon-01") or {}).get("apps", {}).get("web", {}).get("state")
                == "Ready"
            ),
            60,
            message="the canary is Ready again on the previous render",
        )
        # Nobody outside the canary wave was ever sent 1.28.
        assert "1.28" not in carried("paris-01") + carried("paris-02")
        assert image(paris, "paris-01") == "nginx:1.27"

        # The status branch says what happened, and `shoal rollout status` reads it.
        wait_until(
            lambda: any("web 1.28: rolled back at wave 1" in s for s in fleet.status_log()),
            40,
            message=f"no decision in the status log: {fleet.status_log()[:5]}",
        )
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(fleet.remote), str(clone))
        git(clone, "fetch", "-q", "origin", "shoal-status:refs/remotes/origin/shoal-status")
        command = ["rollout", "status", "web", "--repo", str(clone), "--format", "json"]
        done = subprocess.run(
            [sys.executable, "-m", "shoal", *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        web = json.loads(done.stdout)["rollouts"]["web"]
        assert web["state"] == "RolledBack" and web["revision"] == bad
        assert web["counts"]["failed"] == 1 and web["wave"] == 1
    finally:
        recorder.close()
