"""The HTTP endpoint: push webhooks (signed or not), /healthz and /metrics, over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from controller.service.webhook import check_push
from tests.support.controller import FleetRepo, running_controller, wait_for_revision
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until

SECRET = "s3cret"
NODES = {"lyon-1": {"site": "lyon"}, "nice-1": {"site": "nice"}}


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=body, headers=headers or {}, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            status, raw, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers["Content-Type"]
    return status, json.loads(raw) if "json" in kind else raw.decode()


def github_push(ref: str, secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"ref": ref, "after": "0" * 40}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


def test_signed_webhook_publishes_and_a_bad_signature_changes_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with (
        Recorder(mosquitto.url, "shoal/nodes/+/desired") as recorder,
        running_controller(
            repo.remote,
            mosquitto.url,
            tmp_path / "work",
            http=("127.0.0.1", 0),
            webhook_secret=SECRET,
        ) as controller,
    ):
        wait_for_revision(controller, repo.head())
        base = f"http://127.0.0.1:{controller.http.port}"
        wait_until(lambda: recorder.count() == 2)

        repo.write_yaml(
            "groups/lyon.yaml", {"selector": "site=lyon", "vars": {"greeting": "salut"}}
        )
        sha = repo.commit_and_push("lyon greeting")

        body, headers = github_push("refs/heads/main", "wrong-secret")
        assert request(f"{base}/webhook", body, headers)[0] == 401
        del headers["X-Hub-Signature-256"]
        status, answer = request(f"{base}/webhook", body, headers)
        assert status == 401 and not answer["accepted"]
        body, headers = github_push("refs/heads/other", SECRET)
        status, answer = request(f"{base}/webhook", body, headers)
        assert status == 202 and not answer["accepted"] and "refs/heads/other" in answer["reason"]
        assert controller.metrics.reconciles == 1 and controller.last_revision != sha

        body, headers = github_push("refs/heads/main", SECRET)
        status, answer = request(f"{base}/webhook", body, headers)
        assert status == 202 and answer["accepted"]
        wait_for_revision(controller, sha)
        wait_until(lambda: recorder.count() == 3)
        assert recorder.count("shoal/nodes/nice-1/desired") == 1


def test_healthz_and_metrics(tmp_path: Path, mosquitto: Mosquitto) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with running_controller(
        repo.remote, mosquitto.url, tmp_path / "work", http=("127.0.0.1", 0)
    ) as controller:
        sha = repo.head()
        wait_for_revision(controller, sha)
        base = f"http://127.0.0.1:{controller.http.port}"
        status, health = request(f"{base}/healthz")
        assert status == 200
        assert health["lastGoodRevision"] == sha and health["brokerConnected"] is True
        status, text = request(f"{base}/metrics")
        assert status == 200
        assert "shoal_reconciles_total 1" in text
        assert "shoal_documents_published_total 2" in text
        assert f'shoal_revision_info{{revision="{sha}"}} 1' in text

        mosquitto.stop()
        wait_until(lambda: request(f"{base}/healthz")[0] == 503)
        assert request(f"{base}/healthz")[1]["brokerConnected"] is False
        assert 'shoal_errors_total{kind="broker"} 1' in request(f"{base}/metrics")[1]
        mosquitto.start()
        wait_until(lambda: request(f"{base}/healthz")[0] == 200, 40)


def test_webhook_signatures_of_each_provider() -> None:
    body = b'{"ref": "refs/heads/main"}'
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert check_push({"X-Gitea-Signature": digest}, body, SECRET, "main").trigger
    assert check_push({"X-Gitea-Signature": "00" + digest[2:]}, body, SECRET, "main").status == 401
    assert check_push(
        {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"}, body, SECRET, "main"
    ).trigger
    assert check_push({"X-Gitlab-Token": "nope"}, body, SECRET, "main").status == 401
    assert check_push({}, body, SECRET, "main").status == 401
    # Without a secret, an unsigned push is taken; a ping is answered and ignored.
    assert check_push({}, body, None, "main").trigger
    ping = check_push({"X-GitHub-Event": "ping"}, b"{}", None, "main")
    assert ping.status == 200 and not ping.trigger


def test_unreachable_git_makes_health_fail_until_it_is_back(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with running_controller(repo.remote, mosquitto.url, tmp_path / "work") as controller:
        wait_for_revision(controller, repo.head())
        hidden = repo.remote.with_name("hidden.git")
        repo.remote.rename(hidden)
        controller.trigger("test")
        wait_until(lambda: controller.health()[1]["gitError"])
        healthy, body = controller.health()
        assert not healthy and body["status"] == "unavailable"
        assert "cannot fetch branch 'main'" in body["gitError"]
        assert body["lastGoodRevision"] == repo.head()  # still serving the last good state

        hidden.rename(repo.remote)
        wait_until(lambda: controller.health()[0], 15)  # retried without a trigger


def test_wrong_methods_get_405_with_allow(tmp_path: Path, mosquitto: Mosquitto) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with running_controller(
        repo.remote, mosquitto.url, tmp_path / "work", http=("127.0.0.1", 0)
    ) as controller:
        base = f"http://127.0.0.1:{controller.http.port}"
        for method, path, allow in (("GET", "/webhook", "POST"), ("POST", "/healthz", "GET")):
            req = urllib.request.Request(f"{base}{path}", data=b"{}", method=method)
            if method == "GET":
                req = urllib.request.Request(f"{base}{path}", method=method)
            try:
                urllib.request.urlopen(req, timeout=10)
                raise AssertionError(f"{method} {path} succeeded")
            except urllib.error.HTTPError as exc:
                assert (exc.code, exc.headers["Allow"]) == (405, allow)
        assert request(f"{base}/nowhere")[0] == 404
