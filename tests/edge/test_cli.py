"""`shoal edge` as a person runs it: a separate process, a real broker, a kubeconfig."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shadow import ReportedDocument
from tests.edge.conftest import NODE, TOPICS, Cluster, wait_report
from tests.edge.documents import app, configmap, deployment, document
from tests.support.mosquitto import Mosquitto
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
