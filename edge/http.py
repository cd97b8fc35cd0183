"""The edge agent's optional HTTP endpoint: `GET /healthz` and `GET /metrics`.

`shoal edge --http [HOST]:PORT` starts an `EdgeHttp` beside the `Agent`: the server
of `transport.httpserving` (shared with the controller), which only reads the agent. `/metrics` is
the Prometheus text format from its own prometheus-client registry: documents
applied, apply failures by reason, documents refused, the last accepted generation,
the broker connection and drift repairs. `/healthz` is 200 while the agent's loop
runs (503 once it stopped), with the broker connection and the last failure in JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from transport.httpserving import METRICS_TYPE, HttpEndpoint, ReplyHandler
from transport.httpserving import HttpAddressError as HttpAddressError  # for edge.cli
from transport.httpserving import parse_address as parse_http_address

if TYPE_CHECKING:
    from edge.agent import Agent

log = logging.getLogger(__name__)
# Each apply failure by its reason: the API server could not be reached or said no, or
# the reconciler refused the object before any request (edge/reconciler.py).
FAILURE_REASONS = (
    "ClusterUnavailable",
    "ApplyFailed",
    "PolicyDenied",
    "NotOwned",
    "InvalidName",
    "PruneFailed",
)


def parse_address(text: str) -> tuple[str, int]:
    """`:9100` -> ("0.0.0.0", 9100); `127.0.0.1:9100`; `9100`."""
    return parse_http_address(text, example=":9100")


class AgentCollector(Collector):
    """The agent's counts, read when Prometheus scrapes."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        agent, reconciler = self.agent, self.agent.reconciler
        counts = reconciler.counts if reconciler is not None else None
        labels = {"node": agent.settings.node}
        applies = CounterMetricFamily(
            "shoal_edge_applies", "Desired documents applied to the cluster.", labels=["node"]
        )
        applies.add_metric([labels["node"]], counts.applies if counts else 0)
        yield applies
        failures = CounterMetricFamily(
            "shoal_edge_apply_failures",
            "Failures while applying, by reason: ClusterUnavailable (the API server could "
            "not be reached), ApplyFailed (it refused an object), PolicyDenied, NotOwned, "
            "InvalidName (refused before any request), PruneFailed.",
            labels=["node", "reason"],
        )
        known = counts.failures if counts else {}
        for reason in (*FAILURE_REASONS, *sorted(set(known) - set(FAILURE_REASONS))):
            failures.add_metric([labels["node"], reason], known.get(reason, 0))
        yield failures
        refused = CounterMetricFamily(
            "shoal_edge_documents_refused",
            "Desired documents refused (bad JSON or schema, wrong digest or node, old generation).",
            labels=["node"],
        )
        refused.add_metric([labels["node"]], agent.documents_rejected)
        yield refused
        document = reconciler.document if reconciler is not None else None
        generation = GaugeMetricFamily(
            "shoal_edge_accepted_generation",
            "Generation of the last accepted Desired document (0: none yet).",
            labels=["node"],
        )
        generation.add_metric([labels["node"]], document.generation if document else 0)
        yield generation
        connected = GaugeMetricFamily(
            "shoal_edge_broker_connected",
            "1 when the agent is connected to the broker.",
            labels=["node"],
        )
        connected.add_metric([labels["node"]], int(agent.link.connected))
        yield connected
        drift = CounterMetricFamily(
            "shoal_edge_drift_repairs",
            "Objects re-applied after someone else changed or deleted them.",
            labels=["node"],
        )
        drift.add_metric([labels["node"]], counts.drift_repairs if counts else 0)
        yield drift


class EdgeHttp(HttpEndpoint):
    """`start()` / `stop()`; `port` is the port it listens on."""

    def __init__(self, address: tuple[str, int], agent: Agent) -> None:
        self.agent = agent
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(AgentCollector(agent))
        super().__init__(address, _handler(self), "edge-http")

    def health(self) -> tuple[bool, dict[str, Any]]:
        agent = self.agent
        reconciler = agent.reconciler
        document = reconciler.document if reconciler is not None else None
        alive = agent.alive()
        return alive, {
            "status": "ok" if alive else "stopped",
            "node": agent.settings.node,
            "brokerConnected": agent.link.connected,
            "generation": document.generation if document else None,
            "revision": document.revision if document else None,
            "failure": (reconciler.failure if reconciler is not None else "") or None,
        }

    def metrics(self) -> bytes:
        return generate_latest(self.registry)

    def start(self) -> None:
        super().start()
        log.info("HTTP on %s:%d (/healthz, /metrics)", self.host, self.port)


def _handler(http: EdgeHttp) -> type[BaseHTTPRequestHandler]:
    class Handler(ReplyHandler):
        server_version = "shoal-edge"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, body = http.health()
                self.reply_json(200 if ok else 503, body)
            elif path == "/metrics":
                self.reply(200, http.metrics(), METRICS_TYPE)
            else:
                self.reply_json(404, {"error": f"no such path {path}; try /healthz, /metrics"})

    return Handler
