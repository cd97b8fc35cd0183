"""Every dashboard page over real HTTP, against real processes: what it shows, its 404
and 400 pages, escaping, the token, and both sides' /metrics parsed by prometheus-client."""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.dashboard.queries import PER_PAGE
from edge.nodeinfo import agent_version
from tests.dashboard.conftest import Running, fetch
from tests.e2e.conftest import controller_args
from tests.support.mosquitto import Mosquitto, free_port, wait_for_port
from tests.support.waiting import wait_until


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics page, by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_overview_shows_states_apps_and_the_nodes_behind(running: Running) -> None:
    status, text, headers = running.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "dashboard-test" in text
    head = running.fleet.head()
    assert f'href="/revisions/{head}"' in text  # the served revision, linked
    assert re.search(r'data-state="Degraded"><b>1</b>', text)  # a card per state
    assert re.search(r'data-state="Synced"><b>1</b>', text)
    assert re.search(r'data-state="NoReport"><b>1</b>', text)  # paris-02 has no agent
    # apps x states: gadget 0 Ready, 0 Progressing, 1 Failed
    gadget = re.search(r'href="/apps/gadget">gadget</a></td>(.*?)</tr>', text)
    assert gadget and re.findall(r">(\d+)<", gadget.group(1)) == ["0", "0", "1"]
    assert len(text.encode()) < 1_000_000

    status, text, _ = running.get("/?state=Synced")
    assert 'data-node="lyon-01"' in text and 'data-node="paris-01"' not in text
    status, text, _ = running.get("/?selector=site%3Dparis")
    assert 'data-node="paris-01"' in text and 'data-node="lyon-01"' not in text
    status, text, _ = running.get("/?q=lyon")
    assert 'data-node="lyon-01"' in text and 'data-node="paris-02"' not in text
    # The live part alone, as the page's script fetches it.
    status, live, _ = running.get("/", **{"X-Shoal-Partial": "1"})
    assert status == 200 and "<html" not in live and 'data-node="lyon-01"' in live
    assert PER_PAGE >= 3


def test_app_page_groups_what_its_nodes_say(running: Running) -> None:
    status, text, _ = running.get("/apps/gadget")
    assert status == 200
    assert re.search(r'data-state="Failed"><b>1</b>', text)
    messages = re.search(r'<ul class="messages" id="messages">(.*?)</ul>', text, re.S)
    assert messages and "Gadget" in messages.group(1) and "/nodes/paris-01" in messages.group(1)
    assert 'data-node="paris-01"' in text and 'data-node="lyon-01"' not in text


def test_node_page_shows_tags_apps_resources_and_history(running: Running) -> None:
    status, text, _ = running.get("/nodes/paris-01")
    assert status == 200
    assert "<code>site=paris</code>" in text
    assert 'data-app="gadget"' in text and 'data-app="base"' in text
    assert "Gadget" in text and "ConfigMap" in text  # the resources of its apps
    assert f"<dt>Agent</dt><dd>{agent_version()}</dd>" in text  # as the node reported it

    head = running.fleet.head()

    def history() -> str | None:  # the status commit that records the head follows soon
        found = re.search(
            r'<table class="history">(.*?)</table>', running.get("/nodes/paris-01")[1], re.S
        )
        return found.group(1) if found and f'href="/revisions/{head}"' in found.group(1) else None

    wait_until(history, 30, 0.2, message="no history of the head revision on the node page")
    status, page, _ = running.get(f"/revisions/{head}")
    assert (
        status == 200 and "a gadget on the Paris nodes" in page and "apps/gadget/app.yaml" in page
    )


def test_unknown_names_get_404_with_did_you_mean(running: Running) -> None:
    status, text, _ = running.get("/nodes/paris-1")
    assert status == 404 and "paris-1" in text
    assert re.search(r'id=.did-you-mean.>Did you mean <a href="/nodes/paris-01">', text)
    status, text, _ = running.get("/apps/gadgte")
    assert status == 404 and 'href="/apps/gadget"' in text
    assert running.get("/revisions/" + "0" * 40)[0] == 404
    assert running.get("/nowhere")[0] == 404


def test_malformed_query_parameters_get_400_with_the_reason(running: Running) -> None:
    for query, reason in (
        ("page=0", "page '0' is not a page number"),
        ("page=two", "page 'two' is not a page number"),
        ("state=Bogus", "state 'Bogus' is not a node state"),
        ("selector=site%20in%20(", "selector 'site in ('"),
        ("colour=red", "unknown query parameter 'colour'"),
        ("q=a&q=b", "'q' is given 2 times"),
    ):
        status, text, _ = running.get(f"/?{query}")
        assert status == 400, query
        assert reason.replace("'", "&#x27;") in text, (query, text)
    assert running.get("/revisions/not-a-sha")[0] == 400


def test_html_in_a_report_is_shown_as_text(running: Running) -> None:
    hostile = '<script>alert("owned")</script>'
    running.report("paris-02", state="Failed", apps={"base": "Failed"}, message=hostile)

    def shown() -> str | None:
        status, text, _ = running.get("/nodes/paris-02")
        return text if status == 200 and "alert(" in text else None

    text = wait_until(shown, 20, 0.2)
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in text
    assert hostile not in text


def test_the_dashboard_is_read_only(running: Running) -> None:
    request = urllib.request.Request(running.base + "/nodes/paris-01", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET"


def test_controller_metrics_parse_and_count_the_fleet(running: Running) -> None:
    status, text, headers = running.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    values = samples(text)
    assert values[("shoal_nodes", (("state", "Degraded"),))] >= 1
    assert values[("shoal_app_nodes", (("app", "gadget"), ("state", "Failed")))] == 1
    assert values[("shoal_app_nodes", (("app", "base"), ("state", "Ready")))] >= 1
    assert values[("shoal_reconciles_total", ())] >= 1
    assert values[("shoal_documents_published_total", ())] >= 3
    assert values[("shoal_broker_connected", ())] == 1
    assert values[("shoal_status_commits_total", ())] >= 1
    assert values[("shoal_status_push_failures_total", ())] == 0
    assert values[("shoal_report_lag_seconds_count", ())] >= 2  # one per reporting node
    assert ("shoal_reconcile_seconds_bucket", (("le", "+Inf"),)) in values
    assert ("shoal_revisions_refused_total", ()) in values
    assert ("shoal_documents_refused", ()) in values


def test_edge_metrics_and_health(running: Running) -> None:
    port = running.edge_ports["paris-01"]
    status, text, _ = fetch(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    values = samples(text)
    node = (("node", "paris-01"),)
    assert values[("shoal_edge_applies_total", node)] >= 1
    assert (
        values[
            (
                "shoal_edge_apply_failures_total",
                (("node", "paris-01"), ("reason", "ApplyFailed")),
            )
        ]
        >= 1
    )
    assert values[("shoal_edge_accepted_generation", node)] > 0
    assert values[("shoal_edge_broker_connected", node)] == 1
    assert ("shoal_edge_drift_repairs_total", node) in values
    status, text, _ = fetch(f"http://127.0.0.1:{port}/healthz")
    assert status == 200 and '"brokerConnected": true' in text


def test_a_token_protects_the_pages_and_metrics_but_not_healthz(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "t0ken"
    monkeypatch.setenv("SHOAL_HTTP_TOKEN", token)  # the flag's default
    port = free_port()
    with Mosquitto(tmp_path / "mosquitto") as broker:  # its own: two controllers, one fleet
        running.processes.start(
            "token-controller",
            *controller_args(running.fleet, broker.url, tmp_path / "ctl", "--no-status"),
            *("--http", f"127.0.0.1:{port}"),
        )
        try:
            wait_for_port(port, 60)
            base = f"http://127.0.0.1:{port}"
            status, _, headers = fetch(base + "/")
            assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
            assert fetch(base + "/metrics")[0] == 401
            assert fetch(base + "/nodes/paris-01", {"Authorization": "Bearer wrong"})[0] == 401
            assert fetch(base + "/healthz")[0] in (200, 503)
            assert fetch(base + "/", {"Authorization": f"Bearer {token}"})[0] == 200
            basic = base64.b64encode(f"anyone:{token}".encode()).decode()
            assert fetch(base + "/metrics", {"Authorization": f"Basic {basic}"})[0] == 200
        finally:
            running.processes.stop("token-controller")


def test_a_broken_template_shows_as_the_rejected_commit(running: Running) -> None:
    # Last in this module: the fleet's head is bad from here on.
    served = running.fleet.head()
    running.fleet.write("apps/base/templates/base.yaml.j2", "data: {{ motd | no_such_filter }}\n")
    bad = running.fleet.push("break the base template")

    def rejected() -> str | None:
        text = running.get("/")[1]
        return text if 'id="rejected"' in text else None

    text = wait_until(rejected, 30, 0.2, message="the overview never showed the rejected commit")
    box = re.search(r'<section class="alert" id="rejected">(.*?)</section>', text, re.S)
    assert box and f"/revisions/{bad}" in box.group(1) and "no_such_filter" in box.group(1)
    assert f'href="/revisions/{served}"' in box.group(1)  # what the nodes keep
    status, page, _ = running.get(f"/revisions/{bad}")
    assert status == 200 and "s-rejected" in page and "no_such_filter" in page
    values = samples(running.get("/metrics")[1])
    assert values[("shoal_revisions_refused_total", ())] >= 1
