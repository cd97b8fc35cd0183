"""Reading the retained documents back on start, also from a broker that drops some.

Mosquitto's default `max_queued_messages 1000` drops retained messages for a new
wildcard subscriber on a big fleet (docs/controller.md, "Broker facts"). Here a broker
configured to queue only 5 messages plays that part on a small fleet: the read-back
ends without its marker, and the controller sends the documents it did not see again,
with the same generation and digest (harmless: an edge skips a digest it already
applied).
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.service.readback import read_retained
from shadow import Topics
from tests.support.controller import FleetRepo, running_controller, wait_for_revision
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from tests.support.waiting import wait_until
from transport import BrokerOptions

NODES = {f"edge-{i:02d}": {"site": "s"} for i in range(30)}


class DroppingMosquitto(Mosquitto):
    """A broker that queues at most 5 messages per client, dropping the rest."""

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text()
        text = text.replace("max_queued_messages 0", "max_queued_messages 5")
        text = text.replace("max_inflight_messages 0", "max_inflight_messages 1")
        self.config_path.write_text(text)


def test_read_back_returns_every_retained_document(tmp_path: Path, mosquitto: Mosquitto) -> None:
    for i in range(40):
        payload = json.dumps({"node": f"n{i}", "generation": 100 + i, "digest": f"sha256:{i}"})
        publish(mosquitto.url, f"fleet-a/nodes/n{i}/desired", payload.encode())
    publish(mosquitto.url, "fleet-b/nodes/other/desired", b'{"generation": 1, "digest": "x"}')
    found = read_retained(BrokerOptions.from_url(mosquitto.url), Topics("fleet-a"))
    assert found == {f"n{i}": (100 + i, f"sha256:{i}") for i in range(40)}


def test_restart_against_a_dropping_broker_resends_with_the_same_generations(
    tmp_path: Path,
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    work = tmp_path / "work"
    with DroppingMosquitto(tmp_path / "mosquitto") as broker:
        with running_controller(repo.remote, broker.url, work) as controller:
            wait_for_revision(controller, repo.head())
            assert controller.metrics.documents_published == 30

        with Recorder(broker.url, "shoal/nodes/edge-07/desired") as recorder:
            first = json.loads(recorder.wait_for("shoal/nodes/edge-07/desired"))
        # The read-back sees only a few documents: the others go out again, unchanged.
        with running_controller(repo.remote, broker.url, work) as controller:
            wait_for_revision(controller, repo.head())
            assert 0 < controller.metrics.documents_published <= 30
        with Recorder(broker.url, "shoal/nodes/edge-07/desired") as recorder:
            again = json.loads(recorder.wait_for("shoal/nodes/edge-07/desired"))
        assert (again["generation"], again["digest"]) == (first["generation"], first["digest"])

        # And a change still goes out, with generations above the first ones.
        repo.write_yaml("groups/all.yaml", {"selector": "", "vars": {"greeting": "hej"}})
        sha = repo.commit_and_push("greeting")
        with Recorder(broker.url, "shoal/nodes/edge-07/desired") as recorder:
            first = json.loads(recorder.wait_for("shoal/nodes/edge-07/desired"))
            with running_controller(repo.remote, broker.url, work) as controller:
                wait_for_revision(controller, sha)
                assert controller.metrics.documents_published == 30
            wait_until(
                lambda: (
                    json.loads(recorder.latest["shoal/nodes/edge-07/desired"])["revision"] == sha
                )
            )
            latest = json.loads(recorder.latest["shoal/nodes/edge-07/desired"])
            assert latest["generation"] > first["generation"]
