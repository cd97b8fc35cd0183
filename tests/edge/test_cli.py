"""`shoal edge` as a person runs it: a separate process, a real broker, a kubeconfig."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.store import Store
from shadow import ReportedDocument
from tests.edge.conftest import NODE, TOPICS, Cluster, wait_report
from tests.edge.documents import app, configmap, deployment, document
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.mqtt import Recorder, publish
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def shoal(*args: str) -> list[str]:
    return [sys.executable, "-m", "shoal", *args]


@pytest.fixture
def edge_process(
    cluster: Cluster, mosquitto: Mosquitto, tmp_path: Path
) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        shoal(
            "edge",
            "--node",
            NODE,
            "--broker",
            mosquitto.url,
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--state-dir",
            str(tmp_path / "state"),
            "--report-interval",
            "5",
            "--reconcile-interval",
            "1",
        ),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_shoal_edge_applies_reports_and_says_goodbye(
    cluster: Cluster, mosquitto: Mosquitto, edge_process: subprocess.Popen[str]
) -> None:
    ns = cluster.namespace("web")
    doc = document(NODE, {"web": app(ns, deployment("web"), configmap("settings"))}, 1)
    with Recorder(mosquitto.url, TOPICS.reported(NODE), TOPICS.online(NODE)) as recorder:
        publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
        report = wait_report(
            recorder, lambda r: r.state == "Synced" and r.observed_generation == 1, cluster.timeout
        )
        assert report.apps["web"].state == "Ready"
        assert recorder.latest[TOPICS.online(NODE)] == b"true"
        assert cluster.get("apps/v1", "Deployment", "web", ns) is not None

        edge_process.send_signal(signal.SIGTERM)
        assert edge_process.wait(20) == 0
        wait_until(lambda: recorder.latest[TOPICS.online(NODE)] == b"false", 10)
    ReportedDocument.from_json(recorder.latest[TOPICS.reported(NODE)])


def test_an_unreachable_broker_is_said_and_ctrl_c_still_exits_0(
    cluster: Cluster, tmp_path: Path
) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    log = tmp_path / "edge.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            shoal(
                "edge",
                "--node",
                NODE,
                "--broker",
                url,
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--state-dir",
                str(tmp_path / "state"),
            ),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            expected = f"cannot reach the broker at {url}: connection refused; retrying"
            wait_until(lambda: expected in log.read_text(), 30)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    assert "Traceback" not in log.read_text()


def test_a_dead_agent_leaves_online_false_as_its_last_will(
    cluster: Cluster, mosquitto: Mosquitto, edge_process: subprocess.Popen[str]
) -> None:
    with Recorder(mosquitto.url, TOPICS.online(NODE)) as recorder:
        wait_until(lambda: recorder.latest.get(TOPICS.online(NODE)) == b"true", 20)
        edge_process.kill()
        edge_process.wait(10)
        wait_until(lambda: recorder.latest[TOPICS.online(NODE)] == b"false", 60)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--broker", "http://x"], "scheme must be mqtt:// or mqtts://"),
        (["--kubeconfig", "/nonexistent/kubeconfig"], "cannot load Kubernetes settings"),
        (["--report-interval", "0"], "must be above 0"),
        (["--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem: no such file"),
    ],
)
def test_unusable_settings_exit_2_with_one_clear_line(
    tmp_path: Path, flags: list[str], expected: str
) -> None:
    result = subprocess.run(
        shoal("edge", "--node", NODE, "--state-dir", str(tmp_path), *flags),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


KUBECONFIG_TEXT = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "http://127.0.0.1:1"}
users:
- name: nobody
  user: {}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody}
current-context: nowhere
"""


def run_edge(
    tmp_path: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shoal("edge", "--node", NODE, "--state-dir", str(tmp_path / "state"), *flags),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_tls_file_that_is_no_certificate_is_named(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG_TEXT)
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    result = run_edge(tmp_path, "--kubeconfig", str(kubeconfig), "--ca-file", str(ca))
    assert result.returncode == 2
    assert f"--ca-file {ca}" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_kubeconfig_from_the_environment_is_the_one_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "kubeconfig"
    result = run_edge(tmp_path, env={**os.environ, "KUBECONFIG": str(missing)})
    assert result.returncode == 2
    assert f"kubeconfig {missing}" in result.stderr
    assert "~/.kube/config" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_kubeconfig_with_broken_yaml_gets_one_line_naming_file_and_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [\n  - name: x\n")
    result = run_edge(tmp_path, "--kubeconfig", str(kubeconfig))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: kubeconfig {kubeconfig}:4: invalid YAML: "), lines[0]


def test_a_state_dir_in_use_by_another_agent_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    with Store(tmp_path / "state"):
        result = subprocess.run(
            shoal(
                "edge",
                "--node",
                NODE,
                "--broker",
                "mqtt://127.0.0.1:1",
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--state-dir",
                str(tmp_path / "state"),
            ),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"state dir {tmp_path / 'state'} is in use by another shoal edge agent" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_documented_broker_acl_is_enough_for_a_node(cluster: Cluster, tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text(
        "user controller\ntopic readwrite shoal/#\n\n"
        "pattern read shoal/nodes/%u/desired\n"
        "pattern write shoal/nodes/%u/reported\n"
        "pattern write shoal/nodes/%u/online\n"
    )
    with Mosquitto(tmp_path / "broker", extra_config=f"acl_file {acl}\n") as broker:
        node_url = broker.url.replace("mqtt://", f"mqtt://{NODE}@")
        controller_url = broker.url.replace("mqtt://", "mqtt://controller@")
        proc = subprocess.Popen(
            shoal(
                "edge",
                "--node",
                NODE,
                "--broker",
                node_url,
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--state-dir",
                str(tmp_path / "state"),
            ),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ns = cluster.namespace("web")
            doc = document(NODE, {"web": app(ns, configmap("settings"))}, 1)
            with Recorder(controller_url, TOPICS.reported(NODE), TOPICS.online(NODE)) as recorder:
                publish(controller_url, TOPICS.desired(NODE), doc.to_json())
                wait_report(recorder, lambda r: r.state == "Synced", cluster.timeout)
                assert recorder.latest[TOPICS.online(NODE)] == b"true"
                proc.kill()  # the last will needs the write grant on `online` too
                wait_until(lambda: recorder.latest[TOPICS.online(NODE)] == b"false", 30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
