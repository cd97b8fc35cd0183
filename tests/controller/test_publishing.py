"""The controller publishes exactly what changed: real git remotes, a real Mosquitto."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from shadow import DesiredDocument
from tests.support.controller import FleetRepo, desired, running_controller, wait_for_revision
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until

NODES = {
    "paris-1": {"site": "paris"},
    "paris-2": {"site": "paris"},
    "berlin-1": {"site": "berlin"},
}
ALL = "shoal/nodes/+/desired"


def topic(node: str) -> str:
    return f"shoal/nodes/{node}/desired"


def test_first_start_publishes_every_node(tmp_path: Path, mosquitto: Mosquitto) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with (
        Recorder(mosquitto.url, ALL) as recorder,
        running_controller(repo.remote, mosquitto.url, tmp_path / "work") as controller,
    ):
        controller.trigger("test")
        sha = repo.head()
        wait_for_revision(controller, sha)
        wait_until(lambda: len(recorder.latest) == 3, message="not every node was published")
        for node in NODES:
            doc = DesiredDocument.from_json(recorder.latest[topic(node)])  # verifies digests
            assert doc.node == node
            assert doc.revision == sha
            assert list(doc.apps) == ["web"]
        site = desired(recorder.latest[topic("berlin-1")])["apps"]["web"]["resources"][0]
        assert site["data"] == {"greeting": "hello", "site": "berlin"}


def test_group_variable_change_republishes_exactly_that_groups_nodes(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with (
        Recorder(mosquitto.url, ALL) as recorder,
        running_controller(repo.remote, mosquitto.url, tmp_path / "work") as controller,
    ):
        wait_for_revision(controller, repo.head())
        wait_until(lambda: recorder.count() == 3)
        before = {node: desired(recorder.latest[topic(node)]) for node in NODES}

        repo.write_yaml(
            "groups/paris.yaml", {"selector": "site=paris", "vars": {"greeting": "bonjour"}}
        )
        sha = repo.commit_and_push("greet Paris in French")
        controller.trigger("test")
        wait_for_revision(controller, sha)
        wait_until(lambda: recorder.count() == 5, message="expected the two Paris nodes only")

        assert recorder.count(topic("berlin-1")) == 1
        for node in ("paris-1", "paris-2"):
            doc = desired(recorder.latest[topic(node)])
            assert doc["revision"] == sha
            assert doc["generation"] > before[node]["generation"]
            assert doc["apps"]["web"]["resources"][0]["data"]["greeting"] == "bonjour"


def test_removed_node_gets_a_desired_document_with_no_apps(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with (
        Recorder(mosquitto.url, ALL) as recorder,
        running_controller(repo.remote, mosquitto.url, tmp_path / "work") as controller,
    ):
        wait_for_revision(controller, repo.head())
        first = desired(recorder.wait_for(topic("berlin-1")))

        repo.remove("nodes/berlin-1.yaml")
        sha = repo.commit_and_push("retire berlin-1")
        controller.trigger("test")
        wait_for_revision(controller, sha)
        wait_until(lambda: recorder.count(topic("berlin-1")) == 2)

        doc = DesiredDocument.from_json(recorder.latest[topic("berlin-1")])
        assert doc.apps == {}
        assert doc.generation > first["generation"]
        assert recorder.count() == 4  # the other nodes did not change

        # A later unrelated change does not publish the removed node again.
        repo.write_yaml("groups/paris.yaml", {"selector": "site=paris", "vars": {"greeting": "hi"}})
        sha = repo.commit_and_push("paris greeting")
        controller.trigger("test")
        wait_for_revision(controller, sha)
        wait_until(lambda: recorder.count() == 6)
        assert recorder.count(topic("berlin-1")) == 2


def test_broken_commit_publishes_nothing_and_the_next_good_one_publishes(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with (
        Recorder(mosquitto.url, ALL) as recorder,
        running_controller(repo.remote, mosquitto.url, tmp_path / "work") as controller,
    ):
        good = repo.head()
        wait_for_revision(controller, good)
        wait_until(lambda: recorder.count() == 3)

        # A template reading an undefined variable and a node with a non-string tag.
        repo.write("apps/web/templates/config.yaml.j2", "data: {{ missing_variable }}\n")
        repo.write_yaml("nodes/paris-1.yaml", {"name": "paris-1", "tags": {"site": 7}})
        bad = repo.commit_and_push("broken")
        controller.trigger("test")
        wait_for_revision(controller, bad)

        error = controller.reconciler.last_error
        assert error is not None and error.revision == bad
        assert any("nodes/paris-1.yaml" in p for p in error.problems)
        assert controller.reconciler.last_good == good
        healthy, health = controller.health()
        assert healthy and health["status"] == "degraded"
        assert health["lastGoodRevision"] == good
        assert health["lastError"]["revision"] == bad
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", health["lastError"]["time"])
        assert 'shoal_errors_total{kind="render"} 1' in controller.metrics.render()
        assert recorder.count() == 3
        assert all(desired(p)["revision"] == good for p in recorder.latest.values())

        repo.write_yaml("nodes/paris-1.yaml", {"name": "paris-1", "tags": {"site": "paris"}})
        repo.write(
            "apps/web/templates/config.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}\n"
            "data: {greeting: '{{ greeting }} again'}\n",
        )
        fixed = repo.commit_and_push("fixed")
        controller.trigger("test")
        wait_for_revision(controller, fixed)
        wait_until(lambda: recorder.count() == 6)
        assert all(desired(p)["revision"] == fixed for p in recorder.latest.values())
        assert controller.health()[1]["status"] == "ok"


def test_restart_republishes_nothing_and_generations_keep_increasing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    work = tmp_path / "work"
    with Recorder(mosquitto.url, ALL) as recorder:
        with running_controller(repo.remote, mosquitto.url, work) as controller:
            wait_for_revision(controller, repo.head())
            wait_until(lambda: recorder.count() == 3)
        first = {node: desired(recorder.latest[topic(node)]) for node in NODES}

        with running_controller(repo.remote, mosquitto.url, work) as controller:
            wait_for_revision(controller, repo.head())
            assert controller.metrics.documents_published == 0
        assert recorder.count() == 3

        # A new work dir (ledger lost): generations continue from the broker's documents.
        repo.write_yaml("groups/all.yaml", {"selector": "", "vars": {"greeting": "hey"}})
        sha = repo.commit_and_push("greet everyone")
        with running_controller(repo.remote, mosquitto.url, tmp_path / "other-work") as controller:
            wait_for_revision(controller, sha)
            wait_until(lambda: recorder.count() == 6)
        for node in NODES:
            assert desired(recorder.latest[topic(node)])["generation"] > first[node]["generation"]


def test_broker_restart_mid_run_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="controller.service.reconciler")
    repo = FleetRepo.create(tmp_path, NODES)
    with running_controller(repo.remote, mosquitto.url, tmp_path / "work") as controller:
        wait_for_revision(controller, repo.head())
        wait_until(lambda: controller.publisher.connected)

        caplog.set_level(logging.INFO, logger="controller.service.publisher")
        mosquitto.stop()
        wait_until(lambda: not controller.publisher.connected)
        assert "the connection closed unexpectedly" in caplog.text
        assert "Unspecified error" not in caplog.text
        repo.write_yaml("groups/all.yaml", {"selector": "", "vars": {"greeting": "while down"}})
        sha = repo.commit_and_push("change while the broker is down")
        controller.trigger("test")
        wait_until(lambda: controller.last_revision == sha, 20)
        assert controller.publisher.unconfirmed == 3
        assert not controller.health()[0]
        assert "3 documents queued, waiting for the broker" in caplog.text

        mosquitto.start()
        wait_for_revision(controller, sha, timeout=40)  # paho backs off up to 30 s
        generations = dict(controller.reconciler.ledger("shoal").snapshot())

    with Recorder(mosquitto.url, ALL) as recorder:
        wait_until(lambda: len(recorder.latest) == 3)
        for node in NODES:
            doc = desired(recorder.latest[topic(node)])
            assert doc["revision"] == sha
            assert doc["apps"]["web"]["resources"][0]["data"]["greeting"] == "while down"
            assert doc["generation"] == generations[node].generation


def test_documents_unconfirmed_at_stop_are_resent_with_their_generation(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    work = tmp_path / "work"
    with running_controller(repo.remote, mosquitto.url, work) as controller:
        wait_for_revision(controller, repo.head())
        mosquitto.stop()
        repo.write_yaml("groups/all.yaml", {"selector": "", "vars": {"greeting": "later"}})
        sha = repo.commit_and_push("change while the broker is down")
        controller.trigger("test")
        wait_until(lambda: controller.last_revision == sha, 20)
        issued = controller.reconciler.ledger("shoal").snapshot()
        assert controller.publisher.unconfirmed == 3  # the controller stops with them pending

    mosquitto.start()
    with (
        Recorder(mosquitto.url, ALL) as recorder,
        running_controller(repo.remote, mosquitto.url, work) as controller,
    ):
        wait_for_revision(controller, sha)
        wait_until(
            lambda: (
                len(recorder.latest) == 3
                and all(desired(p)["revision"] == sha for p in recorder.latest.values())
            )
        )
        for node in NODES:
            doc = desired(recorder.latest[topic(node)])
            assert doc["generation"] == issued[node].generation  # same content, same generation
