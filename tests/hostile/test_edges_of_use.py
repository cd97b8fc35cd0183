"""Clear failures at the edges of use: a repository or branch that is not there, a
kubeconfig that is not a kubeconfig, an edge that never hears from its controller."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from edge.runtime.kubernetes import check_config
from tests.support.controller import FleetRepo

ROOT = Path(__file__).resolve().parents[2]


def controller(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", "controller", "--no-status", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_local_repository_that_does_not_exist_exits_2_at_start(tmp_path: Path) -> None:
    done = controller("--repo", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert f"--repo {tmp_path / 'nowhere'}: no such folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_branch_that_does_not_exist_exits_2_listing_the_branches(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, {"oslo-1": {"site": "oslo"}})
    done = controller("--repo", str(repo.remote), "--branch", "mian")
    assert done.returncode == 2
    assert f"--repo {repo.remote} has no branch 'mian'; its branches: main" in done.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"foo: bar\n", "no clusters, contexts or users: not a kubeconfig"),
        (b"- a\n- b\n", "a YAML list, not a kubeconfig"),
        (b"apiVersion: v1\nclusters: 5\n", "clusters must be a list of mappings"),
        (b"\x89PNG\r\n\x1a\n\x00", "not UTF-8 text (byte 0)"),
        (b"a: &x [1]\nb: *x\n", "line 2: a YAML alias; a kubeconfig has none"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels deep"),
    ],
    ids=["a-mapping", "a-list", "clusters-a-number", "binary", "aliases", "deep"],
)
def test_a_kubeconfig_that_is_not_one_is_one_message_naming_the_file(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "config"
    path.write_bytes(content)
    message = check_config(str(path))
    assert message.startswith(f"cannot load Kubernetes settings: kubeconfig {path}: ")
    assert expected in message and "\n" not in message


def test_an_edge_never_told_anything_says_what_to_check(
    tmp_path: Path, mosquitto: object, caplog: pytest.LogCaptureFixture
) -> None:
    from edge.agent import Agent, AgentSettings
    from tests.edge.fake_runtime import FakeRuntime
    from tests.support.waiting import wait_until
    from transport import BrokerOptions

    settings = AgentSettings(node="lonely-1", state_dir=tmp_path / "state", silence_warning=0.5)
    caplog.set_level(logging.WARNING, logger="edge.agent")
    with Agent(settings, FakeRuntime(), BrokerOptions.from_url(mosquitto.url)):  # type: ignore[attr-defined]
        wait_until(
            lambda: "no Desired document for node lonely-1" in caplog.text, 20, message="silent"
        )
    assert "nodes/lonely-1.yaml" in caplog.text
    assert "may read shoal/nodes/lonely-1/desired" in caplog.text
