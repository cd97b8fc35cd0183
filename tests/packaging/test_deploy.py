"""The deployment artefacts in deploy/ and the Containerfile, checked without a container
runtime or a real cluster: manifests parse and apply to the API stand-in, the image runs as
non-root and installs the wheel, the systemd units pass `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import dynamic

from shoal import __version__
from shoal.kubesim import KubeSim

CHECKOUT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((CHECKOUT / "deploy" / "kubernetes").glob("*.yaml"))
UNITS = sorted((CHECKOUT / "deploy" / "systemd").glob("*.service"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_apply_to_the_api_stand_in(path: Path, tmp_path: Path) -> None:
    docs = documents(path)
    assert docs, f"{path} holds no object"
    with KubeSim() as sim:
        api = sim.api_client()
        dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        for doc in sorted(docs, key=lambda d: d["kind"] != "Namespace"):
            resource = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            namespace = doc["metadata"].get("namespace")
            dyn.server_side_apply(resource, body=doc, namespace=namespace, field_manager="shoal")
        for doc in docs:
            stored = sim.get(
                doc["apiVersion"],
                doc["kind"],
                doc["metadata"]["name"],
                doc["metadata"].get("namespace"),
            )
            assert stored is not None, f"{doc['kind']}/{doc['metadata']['name']} was not stored"
        api.close()


def test_the_controller_deployment_runs_the_released_image_as_non_root() -> None:
    (deployment,) = [
        d
        for d in documents(CHECKOUT / "deploy/kubernetes/controller.yaml")
        if d["kind"] == "Deployment"
    ]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    assert container["image"].endswith(f":{__version__}")
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/var/lib/shoal" in mounts  # the PVC holds the work dir the args name
    assert "--work-dir=/var/lib/shoal/controller" in container["args"]
    # Every Secret and PVC the pod refers to is either in the file or documented as created first.
    text = (CHECKOUT / "deploy/kubernetes/controller.yaml").read_text()
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    declared = {
        d["metadata"]["name"] for d in documents(CHECKOUT / "deploy/kubernetes/controller.yaml")
    }
    assert claims <= declared
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    secrets |= {
        e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e
    }
    for name in secrets:
        assert f"create secret generic {name} " in text, f"secret {name} is never explained"


def containerfile_stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    text = (CHECKOUT / "Containerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            current = []
            stages[rest.split(" AS ")[-1].strip()] = current
        current.append((instruction.upper(), rest.strip()))
    return stages


def test_the_image_installs_the_wheel_and_runs_as_non_root() -> None:
    stages = containerfile_stages()
    assert {"controller", "edge"} <= stages.keys()
    base = stages["base"]
    runs = " ".join(rest for instruction, rest in base if instruction == "RUN")
    assert "--no-index --find-links /wheels shoal" in runs  # the wheel, nothing from the tree
    users = [rest for instruction, rest in base if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    for name in ("controller", "edge"):
        assert stages[name][0] == ("FROM", f"base AS {name}")
        assert all(instruction != "USER" for instruction, _ in stages[name])
    assert (CHECKOUT / ".dockerignore").is_file()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_pass_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    # verify insists that ExecStart's program exists: point it at this machine's Python.
    text = unit.read_text().replace("/opt/shoal/bin/shoal", str(Path(sys.executable).resolve()))
    copy = tmp_path / unit.name
    copy.write_text(text)
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr
