"""A rollout test bench: a fleet repository with a rollout policy, a real Mosquitto, the
controller (in-process threads), simulated edges answering each document, and a
recorder of every Desired document the broker delivers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shadow import AppStatus
from tests.support.controller import FleetRepo, running_controller, web_app_with_rollout
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.simedges import SimulatedEdges
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CANARIES = ["canary-1", "canary-2"]
OTHERS = [f"gw-{i}" for i in range(1, 7)]
NODES = CANARIES + OTHERS


POLICY: dict[str, Any] = {
    "waves": ["ring=canary", {"share": "50%", "manual": True}, "100%"],
    "bake": "0.2s",
    "onFailure": "rollback",
}


@dataclass
class Bench:
    repo: FleetRepo
    broker: Mosquitto
    work_dir: Path
    recorder: Recorder
    failing: set[str] = field(default_factory=set)  # greetings the edges fail on
    edges: SimulatedEdges | None = None
    controller: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def judge(self, node: str, desired: dict[str, Any]) -> dict[str, AppStatus]:
        out = {}
        for name, app in desired["apps"].items():
            bad = name == "web" and greeting_of(app) in self.failing and node in CANARIES
            out[name] = AppStatus("Failed", "CrashLoopBackOff") if bad else AppStatus("Ready")
        return out

    def start_edges(self, names: list[str]) -> None:
        self.edges = SimulatedEdges(self.broker.url, names, 2, judge=self.judge)

    def push(self, greeting: str, rollout: dict[str, Any] | None = None) -> str:
        self.repo.write_yaml("apps/web/app.yaml", web_app_with_rollout(greeting, rollout or POLICY))
        sha = self.repo.commit_and_push(f"web {greeting}")
        if self.controller is not None:
            self.controller.trigger("test push")
        return sha

    def greetings(self) -> dict[str, str]:
        """node -> the greeting its retained (latest) document carries."""
        out = {}
        for node in NODES:
            payload = self.recorder.latest.get(f"shoal/nodes/{node}/desired")
            if payload:
                out[node] = greeting_of(json.loads(payload)["apps"]["web"])
        return out

    def app_revisions(self) -> dict[str, str]:
        """node -> the commit web's render came from in its latest document (the app's
        `revision`, else the document's)."""
        out = {}
        for node in NODES:
            payload = self.recorder.latest.get(f"shoal/nodes/{node}/desired")
            if payload:
                document = json.loads(payload)
                out[node] = document["apps"]["web"].get("revision") or document["revision"]
        return out

    def documents_at(self, revision: str) -> int:
        """How many nodes' latest documents are of `revision`."""
        return sum(
            1
            for node in NODES
            if (payload := self.recorder.latest.get(f"shoal/nodes/{node}/desired"))
            and json.loads(payload)["revision"] == revision
        )

    def ever_sent(self, greeting: str) -> set[str]:
        """Nodes that were ever sent a document with `greeting`."""
        with self._lock:
            messages = list(self.recorder.messages)
        return {
            json.loads(m.payload)["node"]
            for m in messages
            if m.payload and greeting_of(json.loads(m.payload)["apps"].get("web")) == greeting
        }

    def state(self) -> dict[str, Any]:
        return dict(self.controller.rollout_status().get("web") or {})

    def wait_state(self, state: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            now = self.state()
            if now.get("state") == state and all(now.get(k) == v for k, v in fields.items()):
                return now
            return None

        found = wait_until(
            lambda: reached() or (), timeout, message=f"rollout never {state} {fields}"
        )
        return dict(found)

    def shoal(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "shoal", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**__import__("os").environ, **GIT_ENV_FOR_CLI},
        )
        assert done.returncode == 0, done.stderr
        return done


GIT_ENV_FOR_CLI = {
    "GIT_AUTHOR_NAME": "operator",
    "GIT_AUTHOR_EMAIL": "op@example.com",
    "GIT_COMMITTER_NAME": "operator",
    "GIT_COMMITTER_EMAIL": "op@example.com",
}


def greeting_of(app: dict[str, Any] | None) -> str:
    if not app:
        return ""
    return str(app["resources"][0]["data"]["greeting"])


@pytest.fixture
def bench(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Bench]:
    nodes = {n: {"site": "paris", "ring": "canary"} for n in CANARIES}
    nodes |= {n: {"site": "paris"} for n in OTHERS}
    repo = FleetRepo.create(tmp_path, nodes)
    repo.write_yaml("apps/web/app.yaml", web_app_with_rollout("v1", POLICY))
    repo.commit_and_push("web v1 with a rollout policy")
    recorder = Recorder(mosquitto.url, "shoal/nodes/+/desired")
    bench = Bench(repo, mosquitto, tmp_path / "work", recorder)
    try:
        yield bench
    finally:
        if bench.edges is not None:
            bench.edges.close()
        recorder.close()


@pytest.fixture
def running(bench: Bench) -> Iterator[Bench]:
    """The bench with every edge up and the controller serving v1 everywhere."""
    bench.start_edges(NODES)
    with running_controller(bench.repo.remote, bench.broker.url, bench.work_dir) as controller:
        bench.controller = controller
        wait_until(
            lambda: set(bench.greetings().values()) == {"v1"} and len(bench.greetings()) == 8, 30
        )
        yield bench
        bench.controller = None
