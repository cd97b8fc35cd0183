"""The dashboard's pure parts: query parsing, the token check, messages shared by nodes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from controller.dashboard.queries import Query, QueryError, parse_query
from controller.dashboard.snapshot import STATES
from controller.service.http import authorized
from controller.status.rows import shared_messages


def test_a_query_keeps_its_filters_in_page_links() -> None:
    query = parse_query("state=Failed&selector=site%3Dparis&q=gw&page=2", STATES)
    assert query.state == "Failed" and query.selector is not None and query.page == 2
    assert query.selector.matches({"site": "paris"}) and not query.selector.matches({})
    assert query.link("/", page=3) == "/?state=Failed&selector=site%3Dparis&q=gw&page=3"
    assert Query().link("/apps/web") == "/apps/web"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("page=-1", "page '-1'"),
        ("page=99999999999", "page '99999999999'"),
        ("state=synced", "state 'synced' is not a node state; one of: Synced"),
        ("selector=a%20notin%20", "selector 'a notin'"),
        ("q=" + "x" * 201, "q is longer than 200"),
        ("page=1&page=2", "'page' is given 2 times"),
        ("sort=name", "unknown query parameter 'sort'; this page takes state"),
    ],
)
def test_a_malformed_query_names_the_parameter(text: str, says: str) -> None:
    with pytest.raises(QueryError) as error:
        parse_query(text, STATES)
    assert says in str(error.value)


def test_the_token_is_taken_as_bearer_or_as_basic_password() -> None:
    assert authorized(None, None) and authorized("", "anything")
    assert authorized("s3", "Bearer s3") and not authorized("s3", "Bearer s4")
    basic = base64.b64encode(b"me:s3").decode()
    assert authorized("s3", f"Basic {basic}") and not authorized("s3", "Basic !!")
    assert not authorized("s3", None) and not authorized("s3", "Token s3")


def test_nodes_sharing_a_message_are_one_line() -> None:
    def row(node: str, state: str, message: str) -> dict[str, object]:
        app = {"state": state, "message": message}
        return {"node": node, "state": "Failed", "apps": {"web": app, "db": {"state": "Ready"}}}

    rows = [row("a", "Failed", "pull failed"), row("b", "Failed", "pull failed")]
    rows += [row("c", "Progressing", "1/2 ready"), row("d", "Ready", "")]
    assert shared_messages(rows, "web") == {"pull failed": ["a", "b"], "1/2 ready": ["c"]}
    assert shared_messages(rows, "db") == {}


def test_a_snapshot_updated_by_some_reports_equals_one_built_whole(tmp_path: Path) -> None:
    from bench.dashboard import BenchState
    from controller.dashboard.snapshot import Snapshots
    from controller.fleet.loading import load_fleet
    from controller.render.incremental import Baseline
    from controller.render.rendering import render_fleet
    from tests.support.controller import FleetRepo
    from tests.support.reports import report

    nodes = {f"n{i}": {"site": "a" if i % 2 else "b"} for i in range(12)}
    repo = FleetRepo.create(tmp_path, nodes)
    fleet = load_fleet(repo.work)
    state = BenchState(
        Baseline(repo.head(), fleet, render_fleet(fleet).apps), repo.head(), repo.remote, tmp_path
    )
    for node in list(nodes)[:10]:
        state.book.record(report(node, revision=repo.head()))
    snapshots = Snapshots(state)
    first = snapshots.get()
    assert first.states["NoReport"] == 2
    state.book.record(report("n1", state="Failed", apps={"web": "Failed"}))
    state.book.record(report("n5", state="Progressing", apps={"web": "Progressing"}))
    state.book.set_online("n2", False)
    state.book.record(report("n11", revision=repo.head()))
    first.built_at = 0.0
    partial = []
    update = snapshots._update
    snapshots._update = lambda *args: partial.append(update(*args)) or partial[-1]  # type: ignore[method-assign]
    updated = snapshots.get()
    assert partial and partial[0] is updated  # only the changed rows were built
    whole = Snapshots(state).get()
    assert updated is not first and updated.rows == whole.rows
    assert updated.states == whole.states and updated.app_states == whole.app_states
    assert updated.apps == whole.apps and updated.states["Failed"] == 1


def test_a_new_revision_is_built_in_the_background(tmp_path: Path) -> None:
    from bench.dashboard import BenchState
    from controller.dashboard.snapshot import Snapshots
    from controller.fleet.loading import load_fleet
    from controller.render.incremental import Baseline
    from controller.render.rendering import render_fleet
    from tests.support.controller import FleetRepo
    from tests.support.waiting import wait_until

    repo = FleetRepo.create(tmp_path, {"n1": {"site": "a"}})
    fleet = load_fleet(repo.work)
    old = Baseline(repo.head(), fleet, render_fleet(fleet).apps)
    state = BenchState(old, repo.head(), repo.remote, tmp_path)
    snapshots = Snapshots(state)
    assert snapshots.get().served == repo.head()  # the first one: built in the request
    repo.write_yaml("nodes/n2.yaml", {"name": "n2", "tags": {"site": "b"}})
    head = repo.commit_and_push("a second node")
    fleet = load_fleet(repo.work)
    state._served, state._head = Baseline(head, fleet, render_fleet(fleet).apps), head
    snapshots.get().built_at = 0.0
    latest = wait_until(lambda: (s := snapshots.get()).served == head and s, 10)
    assert latest.nodes == ["n1", "n2"]
