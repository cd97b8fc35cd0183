"""docs/security.md's walkthrough, step by step, as real processes: a fleet CA, a
Mosquitto from `shoal broker-config`, the controller and two edges over mutual TLS,
nodes provisioned from a CSV and installed from their bundles, and one revoked by a
commit while the other keeps reporting.

What the test adds to the documented commands: free ports, 127.0.0.1 for
mqtt.example.com, a simulated Kubernetes API per node, short intervals."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shadow.reportsigning import ReportKey
from shoal.kubesim import KubeSim
from tests.e2e.conftest import Processes
from tests.identity.conftest import Client
from tests.support.mosquitto import GeneratedMosquitto, free_port
from tests.support.waiting import wait_until
from transport import BrokerOptions

NEW_NODES = ("paris-gw-03", "paris-gw-04")
REVOCATION_SECONDS = 10.0


def run(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "shoal", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"shoal {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_CA_DIR", str(tmp_path / "shoal-ca"))
    for key, value in {"GIT_AUTHOR_NAME": "ops", "GIT_AUTHOR_EMAIL": "ops@example.com"}.items():
        monkeypatch.setenv(key, value)
        monkeypatch.setenv(key.replace("AUTHOR", "COMMITTER"), value)
    return tmp_path


@pytest.fixture
def sims() -> Iterator[dict[str, KubeSim]]:
    started = {name: KubeSim(port=0, rollout_seconds=0.2).start() for name in NEW_NODES}
    try:
        yield started
    finally:
        for sim in started.values():
            sim.stop()


def status_entry(repo: Path, node: str) -> dict | None:  # type: ignore[type-arg]
    done = subprocess.run(
        ["git", "show", f"shoal-status:nodes/{node}.yaml"], cwd=repo, capture_output=True, text=True
    )
    return yaml.safe_load(done.stdout) if done.returncode == 0 else None


def test_from_a_ca_to_a_revoked_node(home: Path, sims: dict[str, KubeSim]) -> None:
    procs = Processes(home / "logs")
    broker: GeneratedMosquitto | None = None
    watcher: Client | None = None
    try:
        # 1. A fleet repository, and a CA outside it
        run(home, "init", "my-fleet")
        repo = home / "my-fleet"
        run(repo, "ca", "init", "--name", "acme fleet CA")
        assert (home / "shoal-ca" / "ca.key").exists()

        # 2. The broker: a complete Mosquitto 2 configuration for this fleet
        port = free_port()
        run(
            repo,
            "broker-config",
            "--mosquitto",
            str(home / "broker"),
            "--san",
            "127.0.0.1",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
        )
        broker = GeneratedMosquitto(home / "broker", port).start()
        url = f"mqtts://127.0.0.1:{port}"

        # 3. The controller's identity, then the controller
        run(repo, "ca", "issue", "controller", "--out", str(home / "controller-tls"))
        tls = home / "controller-tls"
        procs.start(
            "controller",
            "controller",
            "--repo",
            str(repo),
            "--broker",
            url,
            "--ca-file",
            str(tls / "ca.crt"),
            "--cert-file",
            str(tls / "shoal-controller.crt"),
            "--key-file",
            str(tls / "shoal-controller.key"),
            "--dynamic-security",
            "--work-dir",
            str(home / "work"),
            "--interval",
            "5",
            "--status-interval",
            "1",
        )
        watcher = Client(
            BrokerOptions(
                host="127.0.0.1",
                port=port,
                tls=True,
                ca_file=str(tls / "ca.crt"),
                cert_file=str(tls / "shoal-controller.crt"),
                key_file=str(tls / "shoal-controller.key"),
            ),
            "watcher",
        )
        watcher.wait_connected()
        watcher.subscribe("shoal/nodes/+/reported")

        # 4. Two new nodes, as a branch ready for a pull request
        csv = home / "new-nodes.csv"
        csv.write_text("paris-gw-03,site=paris,model=rpi4\nparis-gw-04,site=paris,model=rpi4\n")
        run(repo, "provision", "--csv", str(csv), "--broker", url, "--out", str(home / "bundles"))
        git(repo, "merge", "-q", "provision/paris-gw-03-to-paris-gw-04")

        # 5. On each node: install it from its bundle (by hand, flags over the file)
        for node in NEW_NODES:
            with tarfile.open(home / "bundles" / f"{node}.tar.gz") as tar:
                tar.extractall(home, filter="data")
            kubeconfig = sims[node].write_kubeconfig(home / "kube" / f"{node}.yaml")
            procs.start(
                node,
                "edge",
                "--config",
                str(home / node / "edge.yaml"),
                "--kubeconfig",
                str(kubeconfig),
                "--state-dir",
                str(home / f"state-{node}"),
                "--report-interval",
                "1",
                "--reconcile-interval",
                "1",
            )

        # 6. Watch them converge (over mutual TLS, into the status branch)
        def synced() -> bool:
            entries = [status_entry(repo, n) for n in NEW_NODES]
            return all(e and e.get("state") == "Synced" for e in entries)

        wait_until(synced, 120, interval=0.5, message="the new nodes never converged")
        table = run(repo, "status")
        for node in NEW_NODES:
            assert any(line.startswith(node) and "Synced" in line for line in table.splitlines())
            info = (status_entry(repo, node) or {}).get("nodeInfo") or {}
            assert info.get("certificateNotAfter", "").startswith("20")
            # Signed with the bundle's node key, verified against the key its node file records.
            recorded = yaml.safe_load((repo / "nodes" / f"{node}.yaml").read_text())["reportKey"]
            entry = status_entry(repo, node) or {}
            assert entry["verified"] is True
            assert entry["keyId"] == ReportKey.from_text(recorded).key_id

        # A node's certificate cannot write another node's report: nothing of it reaches
        # the controller or the status branch.
        forger_dir = home / "paris-gw-03"
        forger = Client(
            BrokerOptions(
                host="127.0.0.1",
                port=port,
                tls=True,
                ca_file=str(forger_dir / "ca.crt"),
                cert_file=str(forger_dir / "node.crt"),
                key_file=str(forger_dir / "node.key"),
            ),
            "forger",
        )
        forger.wait_connected()
        forger.attempt("shoal/nodes/paris-gw-04/reported", b'{"forged": "FORGED-REPORT"}')
        forger.close()
        reports_04 = len(watcher.received("shoal/nodes/paris-gw-04/reported"))
        wait_until(
            lambda: len(watcher.received("shoal/nodes/paris-gw-04/reported")) > reports_04 + 2, 30
        )
        assert not any(b"FORGED" in p for p in watcher.received("shoal/nodes/paris-gw-04/reported"))
        assert "FORGED" not in git(repo, "log", "-p", "shoal-status")

        # 7. Revoke one: remove it from git
        git(repo, "rm", "-q", "nodes/paris-gw-04.yaml")
        git(repo, "commit", "-qm", "paris-gw-04 was stolen")
        revoked_at = time.monotonic()
        topic = "shoal/nodes/{}/reported"

        def locked_out() -> bool:
            """No report from paris-gw-04 for 3 s, while paris-gw-03's keep coming."""
            count = len(watcher.received(topic.format("paris-gw-04")))
            others = len(watcher.received(topic.format("paris-gw-03")))
            time.sleep(3)
            return (
                len(watcher.received(topic.format("paris-gw-04"))) == count
                and len(watcher.received(topic.format("paris-gw-03"))) > others
            )

        wait_until(
            locked_out, REVOCATION_SECONDS + 20, interval=0, message="paris-gw-04 still reports"
        )
        assert time.monotonic() - revoked_at - 3 < REVOCATION_SECONDS
        assert "locked 1 node out of the broker: paris-gw-04" in procs.log("controller")
        assert broker.proc is not None and broker.proc.poll() is None  # never restarted
    finally:
        if watcher is not None:
            watcher.close()
        procs.stop_all()
        if broker is not None:
            broker.stop()
