"""The controller's counters, in Prometheus text format for `GET /metrics`.

Written by the reconciler and the publisher, read by `controller.service.http`. Plain
counters under one lock, touched once per reconcile: the per-document count of
acknowledgements lives in the publisher and is passed in when rendering.
"""

from __future__ import annotations

import threading

# Upper bounds (seconds) of the reconcile-duration histogram.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reconciles = 0
        self.renders = 0
        self.documents_published = 0
        self.errors: dict[str, int] = {}
        self.revision = ""
        self._bucket_counts = [0] * len(BUCKETS)
        self._seconds_sum = 0.0
        self._seconds_count = 0

    def reconciled(self, seconds: float, renders: int, published: int, revision: str) -> None:
        with self._lock:
            self.reconciles += 1
            self.renders += renders
            self.documents_published += published
            self.revision = revision
            self._observe(seconds)

    def republished(self, count: int) -> None:
        """Documents sent again outside a reconcile (repairing a broker after a reconnect)."""
        with self._lock:
            self.documents_published += count

    def failed(self, kind: str, seconds: float | None = None) -> None:
        """Count an error of `kind` (`render`, `git`, `broker`); a failed reconcile counts too."""
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if seconds is not None:
                self.reconciles += 1
                self._observe(seconds)

    def _observe(self, seconds: float) -> None:
        self._seconds_sum += seconds
        self._seconds_count += 1
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self._bucket_counts[i] += 1

    def render(
        self, broker_connected: bool, documents_confirmed: int = 0, git_fetches: int = 0
    ) -> str:
        with self._lock:
            lines = [
                "# HELP shoal_reconciles_total Reconciles run (one per new commit or retry).",
                "# TYPE shoal_reconciles_total counter",
                f"shoal_reconciles_total {self.reconciles}",
                "# HELP shoal_renders_total App template renders performed.",
                "# TYPE shoal_renders_total counter",
                f"shoal_renders_total {self.renders}",
                "# HELP shoal_documents_published_total Desired documents sent to the broker.",
                "# TYPE shoal_documents_published_total counter",
                f"shoal_documents_published_total {self.documents_published}",
                "# HELP shoal_documents_confirmed_total Desired documents the broker acknowledged.",
                "# TYPE shoal_documents_confirmed_total counter",
                f"shoal_documents_confirmed_total {documents_confirmed}",
                "# HELP shoal_errors_total Errors by kind: render (bad commit), git, broker.",
                "# TYPE shoal_errors_total counter",
            ]
            for kind in (
                "render",
                "git",
                "broker",
                *sorted(set(self.errors) - {"render", "git", "broker"}),
            ):
                lines.append(f'shoal_errors_total{{kind="{kind}"}} {self.errors.get(kind, 0)}')
            lines += [
                "# HELP shoal_reconcile_seconds Time per reconcile (load, render, diff, publish).",
                "# TYPE shoal_reconcile_seconds histogram",
            ]
            for bound, count in zip(BUCKETS, self._bucket_counts, strict=True):
                lines.append(f'shoal_reconcile_seconds_bucket{{le="{bound}"}} {count}')
            lines += [
                f'shoal_reconcile_seconds_bucket{{le="+Inf"}} {self._seconds_count}',
                f"shoal_reconcile_seconds_sum {self._seconds_sum:.6f}",
                f"shoal_reconcile_seconds_count {self._seconds_count}",
                "# HELP shoal_revision_info The last good revision published.",
                "# TYPE shoal_revision_info gauge",
            ]
            if self.revision:
                lines.append(f'shoal_revision_info{{revision="{self.revision}"}} 1')
            lines += [
                "# HELP shoal_broker_connected 1 when the controller is connected to the broker.",
                "# TYPE shoal_broker_connected gauge",
                f"shoal_broker_connected {int(broker_connected)}",
                "# HELP shoal_git_fetches_total git fetches of the fleet repository.",
                "# TYPE shoal_git_fetches_total counter",
                f"shoal_git_fetches_total {git_fetches}",
            ]
        return "\n".join(lines) + "\n"
