"""The comparison under `shoal diff`, on hand-made renders: grouping, ordering, and the
markdown's limits (size budget, code fences)."""

from __future__ import annotations

from typing import Any

from controller.review.checkouts import Revision
from controller.review.diffing import compare
from controller.review.diffreport import format_markdown, format_text
from shadow import DesiredApp

BASE, HEAD = Revision("main", "a" * 40), Revision(None, None)


def config_map(data: dict[str, Any]) -> DesiredApp:
    return DesiredApp.build(
        "1.0",
        "demo",
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo"}, "data": data}],
    )


def test_identical_changes_share_a_group_and_the_biggest_group_comes_first() -> None:
    before = {f"n{i}": {"demo": config_map({"level": "info"})} for i in range(5)}
    after = {f"n{i}": {"demo": config_map({"level": "debug"})} for i in range(4)}
    after["n4"] = {"demo": config_map({"level": "trace"})}

    diff = compare(BASE, HEAD, before, after)

    assert [group.nodes for group in diff.groups] == [("n0", "n1", "n2", "n3"), ("n4",)]
    assert "+  level: debug\n" in diff.groups[0].apps[0].diff
    assert "+  level: trace\n" in diff.groups[1].apps[0].diff


def test_unchanged_nodes_and_apps_are_left_out() -> None:
    same = config_map({"a": "1"})
    before = {"quiet": {"demo": same}, "busy": {"demo": same, "extra": config_map({"b": "2"})}}
    after = {"quiet": {"demo": same}, "busy": {"demo": same}}

    diff = compare(BASE, HEAD, before, after)

    assert [(n.node, [(a.app, a.change) for a in n.apps]) for n in diff.nodes] == [
        ("busy", [("extra", "removed")])
    ]
    assert diff.total_nodes == 2


def test_hunk_headers_name_the_object_that_changes() -> None:
    def app(replicas: int) -> DesiredApp:
        return DesiredApp.build(
            "1.0",
            "demo",
            [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}},
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "api"},
                    "spec": {"replicas": replicas},
                },
            ],
        )

    diff = compare(BASE, HEAD, {"n": {"demo": app(1)}}, {"n": {"demo": app(3)}})

    (hunk,) = [line for line in diff.nodes[0].apps[0].diff.splitlines() if line.startswith("@@")]
    assert hunk.endswith("@@ Deployment api")


def test_markdown_stays_under_its_budget() -> None:
    before = {f"node-{i:03d}": {"demo": config_map({"i": "old"})} for i in range(300)}
    after = {f"node-{i:03d}": {"demo": config_map({"i": str(i)})} for i in range(300)}

    text = format_markdown(compare(BASE, HEAD, before, after), budget=20_000)

    assert len(text) <= 20_000
    assert "more groups (" in text and "not shown" in text
    assert text.count("```") % 2 == 0


def test_markdown_fences_outlast_backticks_in_the_objects() -> None:
    before = {"n": {"demo": config_map({"readme": "plain"})}}
    after = {"n": {"demo": config_map({"readme": "```sh\nrun me\n```\n"})}}

    text = format_markdown(compare(BASE, HEAD, before, after))

    assert "````diff\n" in text and text.rstrip().endswith("````")


def test_no_changes_reads_as_such() -> None:
    same = {"n": {"demo": config_map({})}}
    diff = compare(BASE, HEAD, same, same)
    assert not diff.changed
    assert "no changes: 1 node renders the same" in format_text(diff)


def test_nodes_differing_only_around_the_change_share_a_group() -> None:
    before = {f"n{i}": {"demo": config_map({"level": "info", "node": f"n{i}"})} for i in range(3)}
    after = {f"n{i}": {"demo": config_map({"level": "debug", "node": f"n{i}"})} for i in range(3)}

    diff = compare(BASE, HEAD, before, after)

    (group,) = diff.groups
    assert group.nodes == ("n0", "n1", "n2") and group.context_from == "n0"
    (app,) = group.apps
    assert [c.to_dict() for c in app.changes] == [
        {"object": "ConfigMap demo", "path": "data.level", "before": "info", "after": "debug"}
    ]
    assert "the lines around them are n0's" in format_text(diff)


def test_the_same_new_value_in_different_fields_is_not_the_same_change() -> None:
    def env(a: str, b: str) -> DesiredApp:
        return DesiredApp.build(
            "1.0",
            "demo",
            [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p"},
                    "spec": {"env": [{"name": "A", "value": a}, {"name": "B", "value": b}]},
                }
            ],
        )

    before = {"x": {"demo": env("5", "5")}, "y": {"demo": env("5", "5")}}
    after = {"x": {"demo": env("6", "5")}, "y": {"demo": env("5", "6")}}

    diff = compare(BASE, HEAD, before, after)

    assert sorted(g.nodes for g in diff.groups) == [("x",), ("y",)]
    paths = {g.nodes[0]: g.apps[0].changes[0].path for g in diff.groups}
    assert paths == {"x": "spec.env[0].value", "y": "spec.env[1].value"}
