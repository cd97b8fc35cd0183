"""The controller's metrics for `GET /metrics`, through prometheus-client.

Each `Metrics` has its own `CollectorRegistry` (never the process-global one), so
several controllers in one process (the tests) keep separate counts. The reconciler
and the publisher count through `reconciled`, `republished` and `failed`; values that
are read when Prometheus scrapes (broker connection, acknowledgements, git fetches)
come from a `LiveValues` collector the `Controller` adds, and the dashboard adds the
fleet's own collector (nodes by state, report lag) with `add_collector`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Upper bounds (seconds) of the reconcile-duration histogram.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ERROR_KINDS = ("render", "git", "broker")

# No `*_created` series beside every counter: they double the output and no alert uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        # Plain counts beside the Prometheus ones, for tests and logs.
        self.reconciles = 0
        self.renders = 0
        self.documents_published = 0
        self.errors: dict[str, int] = {}
        self.revision = ""
        registry = self.registry
        self._reconciles = Counter(
            "shoal_reconciles", "Reconciles run (one per new commit or retry).", registry=registry
        )
        self._renders = Counter(
            "shoal_renders", "App template renders performed.", registry=registry
        )
        self._published = Counter(
            "shoal_documents_published", "Desired documents sent to the broker.", registry=registry
        )
        self._errors = Counter(
            "shoal_errors",
            "Errors by kind: render (a commit that does not validate or render), git, broker "
            "(lost connections and failed read-backs).",
            ["kind"],
            registry=registry,
        )
        for kind in ERROR_KINDS:
            self._errors.labels(kind)
        self._refused = Counter(
            "shoal_revisions_refused",
            "Revisions not published because they do not validate or render.",
            registry=registry,
        )
        self._seconds = Histogram(
            "shoal_reconcile_seconds",
            "Time per reconcile (load, render, diff, publish).",
            buckets=BUCKETS,
            registry=registry,
        )
        self.reports_rejected: dict[str, int] = {}
        self._reports_rejected = Counter(
            "shoal_reports_rejected",
            "Reports dropped before the status branch because they are not signed by the key "
            "git records for their node, by reason: unsigned, wrong-key, bad-signature, "
            "no-key (fleet.yaml's reports.requireSignature), bad-key (an unusable reportKey).",
            ["reason"],
            registry=registry,
        )
        self._reports_rejected.labels("bad-signature")
        self._revision = Info(
            "shoal_revision", "The last good revision published.", registry=registry
        )

    def reconciled(self, seconds: float, renders: int, published: int, revision: str) -> None:
        with self._lock:
            self.reconciles += 1
            self.renders += renders
            self.documents_published += published
            self.revision = revision
        self._reconciles.inc()
        self._renders.inc(renders)
        self._published.inc(published)
        self._seconds.observe(seconds)
        self._revision.info({"revision": revision})

    def republished(self, count: int) -> None:
        """Documents sent again outside a reconcile (repairing a broker after a reconnect)."""
        with self._lock:
            self.documents_published += count
        self._published.inc(count)

    def failed(self, kind: str, seconds: float | None = None) -> None:
        """Count an error of `kind` (`render`, `git`, `broker`); a failed reconcile counts too."""
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if seconds is not None:
                self.reconciles += 1
        self._errors.labels(kind).inc()
        if kind == "render":
            self._refused.inc()
        if seconds is not None:
            self._reconciles.inc()
            self._seconds.observe(seconds)

    def report_rejected(self, reason: str) -> None:
        """A report refused for its signature (controller.status.verification)."""
        with self._lock:
            self.reports_rejected[reason] = self.reports_rejected.get(reason, 0) + 1
        self._reports_rejected.labels(reason).inc()

    def add_collector(self, collector: Collector) -> None:
        """Read `collector` on every scrape (values that live elsewhere)."""
        self.registry.register(collector)

    def render(self) -> str:
        """Everything, in the Prometheus text format."""
        return generate_latest(self.registry).decode()


class LiveValues(Collector):
    """Values read from the running controller when Prometheus scrapes."""

    def __init__(
        self,
        broker_connected: Callable[[], bool],
        documents_confirmed: Callable[[], int],
        git_fetches: Callable[[], int],
    ) -> None:
        self._connected = broker_connected
        self._confirmed = documents_confirmed
        self._fetches = git_fetches

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "shoal_broker_connected",
            "1 when the controller is connected to the broker.",
            value=int(self._connected()),
        )
        yield CounterMetricFamily(
            "shoal_documents_confirmed",
            "Desired documents the broker acknowledged.",
            value=self._confirmed(),
        )
        yield CounterMetricFamily(
            "shoal_git_fetches", "git fetches of the fleet repository.", value=self._fetches()
        )
