"""Test helpers for the controller: a small fleet repository pushed to a bare remote,
and a controller running in-process against a broker.

    repo = FleetRepo.create(tmp_path, nodes={"paris-1": {"site": "paris"}, ...})
    repo.write("groups/paris.yaml", ...); repo.commit_and_push("change")
    with running_controller(repo.remote, mosquitto.url, tmp_path / "work") as ctl: ...
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: "{{ greeting }}"
  site: "{{ node.tags.site }}"
"""


class SlowSaveMosquitto(Mosquitto):
    """The test broker with Mosquitto's production autosave (every 30 min) instead of
    every second: single-threaded Mosquitto stalls while it rewrites its database, which
    with 10,000 retained 2.5 KB documents is 25 MB per save. For benchmarks."""

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text().replace(
            "autosave_interval 1\n", "autosave_interval 1800\n"
        )
        self.config_path.write_text(text)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@dataclass
class FleetRepo:
    """A working copy (`work`) whose `main` branch is pushed to a bare `remote`."""

    work: Path
    remote: Path

    @classmethod
    def create(
        cls,
        base: Path,
        nodes: Mapping[str, Mapping[str, str]],
        *,
        prefix: str = "shoal",
        greeting: str = "hello",
    ) -> FleetRepo:
        remote, work = base / "remote.git", base / "fleet"
        git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
        git(base, "init", "--quiet", "--initial-branch=main", str(work))
        repo = cls(work, remote)
        repo.write_yaml("fleet.yaml", {"name": "test-fleet", "topicPrefix": prefix})
        for name, tags in nodes.items():
            repo.write_yaml(f"nodes/{name}.yaml", {"name": name, "tags": dict(tags)})
        repo.write_yaml(
            "apps/web/app.yaml",
            {
                "name": "web",
                "version": "1.0.0",
                "selector": "",
                "namespace": "web",
                "vars": {"greeting": greeting},
            },
        )
        repo.write("apps/web/templates/config.yaml.j2", TEMPLATE)
        git(work, "remote", "add", "origin", str(remote))
        repo.commit_and_push("initial fleet")
        return repo

    def write(self, path: str, text: str) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def write_yaml(self, path: str, value: Any) -> None:
        self.write(path, yaml.dump(value, Dumper=yaml.CSafeDumper, sort_keys=False))

    def remove(self, path: str) -> None:
        git(self.work, "rm", "--quiet", path)

    def commit(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def head(self) -> str:
        return git(self.work, "rev-parse", "HEAD")

    def commit_and_push(self, message: str) -> str:
        sha = self.commit(message)
        git(self.work, "push", "--quiet", "origin", "main")
        return sha


def desired(payload: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload)
    return data


@contextmanager
def running_controller(
    repo: str | Path,
    broker_url: str,
    work_dir: Path,
    *,
    interval: float = 3600.0,
    http: tuple[str, int] | None = None,
    webhook_secret: str | None = None,
    watch_local: bool = False,
    http_token: str | None = None,
) -> Iterator[Any]:
    """A started `Controller` (threads in this process), stopped afterwards."""
    from controller.service.controller import Controller, ControllerSettings
    from transport import BrokerOptions

    controller = Controller(
        ControllerSettings(
            repo=str(repo),
            work_dir=work_dir,
            broker=BrokerOptions.from_url(broker_url),
            interval=interval,
            http=http,
            webhook_secret=webhook_secret,
            watch_local=watch_local,
            http_token=http_token,
        )
    )
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def wait_for_revision(controller: Any, sha: str, timeout: float = 20.0) -> None:
    """Until the controller reconciled `sha` and the broker confirmed what it sent."""
    wait_until(
        lambda: controller.last_revision == sha and controller.publisher.unconfirmed == 0,
        timeout,
        message=f"controller did not reconcile {sha[:12]}",
    )


def web_app_with_rollout(greeting: str, rollout: dict[str, Any]) -> dict[str, Any]:
    """`apps/web/app.yaml` of the fixture fleet, every node, with a `rollout:` policy
    (tests/rollout, bench.rollout)."""
    return {
        "name": "web",
        "version": greeting,
        "selector": "",
        "namespace": "web",
        "vars": {"greeting": greeting},
        "rollout": rollout,
    }
