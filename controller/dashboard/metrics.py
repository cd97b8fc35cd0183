"""The fleet's gauges for `/metrics`, read from the same snapshot the pages show.

`FleetCollector` is added to the controller's registry by `shoal controller`: nodes
by state, `shoal_app_nodes{app,state}`, nodes behind or offline, the age of each
node's last report (a histogram), the documents the edges refused, and the status
writer's commits, push failures and rejected reports.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from controller.dashboard.snapshot import STATES, Snapshots
from controller.dashboard.source import FleetState
from controller.status.rows import APP_STATES

# Upper bounds (seconds) of the report-lag histogram: heartbeats come every 30 s by default.
LAG_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0)


class FleetCollector(Collector):
    def __init__(self, state: FleetState, snapshots: Snapshots) -> None:
        self.state = state
        self.snapshots = snapshots

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        snap = self.snapshots.get()
        nodes = GaugeMetricFamily(
            "shoal_nodes", "Nodes by state (as the dashboard shows them).", labels=["state"]
        )
        for state in STATES:
            nodes.add_metric([state], snap.states.get(state, 0))
        yield nodes
        apps = GaugeMetricFamily(
            "shoal_app_nodes",
            "Nodes running each app, by the app's state there.",
            labels=["app", "state"],
        )
        for app, counts in snap.app_states.items():
            for state in APP_STATES:
                apps.add_metric([app, state], counts.get(state, 0))
        yield apps
        yield GaugeMetricFamily(
            "shoal_nodes_behind",
            "Nodes whose observed render differs from the served revision's.",
            value=sum(1 for r in snap.rows if r.get("behind")),
        )
        yield GaugeMetricFamily(
            "shoal_nodes_offline",
            "Nodes whose agent's last will says it is offline.",
            value=sum(1 for r in snap.rows if r.get("online") is False),
        )
        now = time.time()
        ages = sorted(now - r["lastSeen"] for r in snap.rows if r.get("lastSeen") is not None)
        buckets, i = [], 0
        for bound in LAG_BUCKETS:
            while i < len(ages) and ages[i] <= bound:
                i += 1
            buckets.append((repr(bound), i))
        buckets.append(("+Inf", len(ages)))
        lag = HistogramMetricFamily(
            "shoal_report_lag_seconds", "Age of each node's last report, at scrape time."
        )
        lag.add_metric([], buckets, sum(ages))
        yield lag
        yield GaugeMetricFamily(
            "shoal_documents_refused",
            "Desired documents the edges refused, as listed in their last reports.",
            value=sum(len(r.get("rejected") or ()) for r in snap.rows),
        )
        status = self.state.status_counts()
        yield CounterMetricFamily(
            "shoal_status_commits", "Commits to the status branch.", value=status.commits
        )
        yield CounterMetricFamily(
            "shoal_status_push_failures",
            "Pushes of the status branch that failed (unreachable remote, refused).",
            value=status.push_failures,
        )
        yield CounterMetricFamily(
            "shoal_status_reports_rejected",
            "Reports the status writer rejected (malformed, or for another node than its topic).",
            value=status.reports_rejected,
        )
