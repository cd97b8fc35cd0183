"""`shoal diff [REPO] BASE [HEAD]`: which nodes and apps a change to the fleet repository
affects, grouped, as text, markdown or JSON. Each test starts from `shoal init`."""

from __future__ import annotations

import json
import shutil

from tests.review.conftest import FleetRepo, Shoal, affected, git, run_shoal, set_group_var


def test_editing_a_group_var_changes_exactly_that_groups_nodes(
    fleet: FleetRepo, shoal: Shoal
) -> None:
    """The issue's "done when": init, edit a group variable, commit, diff."""
    group = fleet.read("groups/site-paris.yaml")
    set_group_var(fleet, "groups/site-paris.yaml", "ntp_server", "ntp.example.net")
    fleet.commit("Paris uses the new NTP server")

    result = run_shoal("diff", fleet.path, "main~1", "main", "--format", "json")

    assert result.code == 0, result.err
    site = group["selector"].split("=")[1]
    expected = fleet.nodes_where(site=site)
    assert expected and expected != fleet.all_nodes()
    assert affected(result) == expected
    report = json.loads(result.out)
    (only_group,) = report["groups"]
    assert set(only_group["nodes"]) == expected
    assert "+          value: ntp.example.net\n" in only_group["apps"][0]["diff"]
    (field,) = only_group["apps"][0]["changes"]
    assert field["object"] == "DaemonSet sensor-collector"
    assert field["path"].startswith("spec.template.spec.containers[0].env[")
    assert (field["before"], field["after"]) == (group["vars"]["ntp_server"], "ntp.example.net")

    text = shoal("diff", fleet.path, "main~1", "main")
    assert text.code == 0
    assert f"{len(expected)} of {len(fleet.all_nodes())} nodes change" in text.out
    assert all(node in text.out for node in expected)
    assert not any(node in text.out for node in fleet.all_nodes() - expected)
    assert "\033[" not in text.out  # not a terminal: no color


def test_working_tree_is_the_default_head(fleet: FleetRepo, shoal: Shoal) -> None:
    set_group_var(fleet, "groups/model-rpi4.yaml", "sensor_poll_seconds", 45)

    uncommitted = shoal("diff", fleet.path, "main", "--format", "json")
    assert uncommitted.code == 0, uncommitted.err
    assert json.loads(uncommitted.out)["head"] == {
        "revision": None,
        "commit": None,
        "workingTree": True,
    }
    # Lyon's site group outranks the model group for this variable: only Paris rpi4 nodes change.
    assert affected(uncommitted) == fleet.nodes_where(model="rpi4", site="paris")

    committed = shoal("diff", fleet.path, "main", "HEAD", "--format", "json")
    assert affected(committed) == set()  # nothing committed yet


def test_exit_code_is_one_only_when_something_changes(fleet: FleetRepo, shoal: Shoal) -> None:
    assert shoal("diff", fleet.path, "main", "--exit-code").code == 0
    set_group_var(fleet, "groups/canary.yaml", "web_image_tag", "1.5.0")
    changed = shoal("diff", fleet.path, "main", "--exit-code")
    assert changed.code == 1
    assert "web changed" in changed.out
    assert shoal("diff", fleet.path, "main").code == 0  # without --exit-code


def test_markdown_is_a_pull_request_comment(fleet: FleetRepo, shoal: Shoal) -> None:
    set_group_var(fleet, "groups/site-lyon.yaml", "site_label", "Lyon Part-Dieu")
    (fleet.path / "nodes" / "paris-gw-02.yaml").unlink()  # a long section: every app removed

    result = shoal("diff", fleet.path, "main", "--format", "markdown")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("### shoal diff: ")
    table = lines.index(next(line for line in lines if line.startswith("| nodes affected")))
    first_section = lines.index(next(line for line in lines if line.startswith("#### ")))
    assert table < first_section  # the summary comes first
    counts = [cell.strip() for cell in lines[table + 2].strip("|").split("|")]
    lyon_gateways = fleet.nodes_where(site="lyon", role="gateway")  # site_label is web's
    assert counts[0] == f"{len(lyon_gateways) + 1} of {len(fleet.all_nodes()) + 1}"
    assert counts[2] == "1"  # one node removed
    assert "| `web` |" in result.out
    assert "```diff\n--- a/web\n+++ b/web\n" in result.out
    assert "+    <h1>Lyon Part-Dieu</h1>\n" in result.out
    assert "#### 1 node removed: `paris-gw-02`" in result.out
    removed = result.out[result.out.index("#### 1 node removed") :]
    assert removed.count("<details>") == 1 and "</details>" in removed  # long diff folded
    assert result.out.count("```") % 2 == 0


def test_json_is_machine_readable(fleet: FleetRepo, shoal: Shoal) -> None:
    set_group_var(fleet, "groups/model-jetson-orin.yaml", "sensor_poll_seconds", 20)

    result = shoal("diff", fleet.path, "main", "--format", "json")

    report = json.loads(result.out)
    commit = git(fleet.path, "rev-parse", "main")
    assert report["base"] == {"revision": "main", "commit": commit, "workingTree": False}
    assert report["changed"] is True
    expected = fleet.nodes_where(model="jetson-orin", site="paris")
    assert report["summary"]["nodes"]["affected"] == len(expected)
    assert report["summary"]["apps"] == {"added": 0, "changed": len(expected), "removed": 0}
    assert report["summary"]["byApp"] == {
        "sensor-collector": {"added": 0, "changed": len(expected), "removed": 0}
    }
    for node in report["nodes"]:
        (app,) = node["apps"]
        assert app["base"]["digest"] != app["head"]["digest"]
        assert app["base"]["digest"].startswith("sha256:")


def test_nodes_with_identical_changes_are_grouped(fleet: FleetRepo, shoal: Shoal) -> None:
    template = fleet.read("nodes/paris-gw-02.yaml")
    clones = [f"paris-gw-{i:02d}" for i in range(10, 24)]
    for name in clones:
        fleet.write(f"nodes/{name}.yaml", {**template, "name": name})
    fleet.commit("Fourteen more gateways in Paris")
    set_group_var(fleet, "groups/site-paris.yaml", "timezone", "Europe/Brussels")

    report = json.loads(shoal("diff", fleet.path, "main", "--format", "json").out)
    text = shoal("diff", fleet.path, "main").out

    biggest = report["groups"][0]
    assert set(clones) | {"paris-gw-02"} <= set(biggest["nodes"])
    assert len(report["groups"]) < len(report["nodes"])
    assert sum(len(g["nodes"]) for g in report["groups"]) == len(report["nodes"])
    title = next(
        line for line in text.splitlines() if line.startswith(f"== {len(biggest['nodes'])} nodes")
    )
    shown = biggest["nodes"][:10]
    assert (
        title
        == f"== {len(biggest['nodes'])} nodes: {', '.join(shown)}, … (+{len(biggest['nodes']) - 10} more)"
    )
    # each diff is printed once per group, not once per node
    assert text.count("+++ b/web") == sum(
        1 for g in report["groups"] for a in g["apps"] if a["app"] == "web"
    )


def test_added_and_removed_nodes(fleet: FleetRepo, shoal: Shoal) -> None:
    fleet.write(
        "nodes/lyon-gw-02.yaml",
        {"name": "lyon-gw-02", "tags": {"site": "lyon", "model": "rpi4", "role": "gateway"}},
    )
    (fleet.path / "nodes" / "paris-ai-01.yaml").unlink()

    report = json.loads(shoal("diff", fleet.path, "main", "--format", "json").out)

    assert report["summary"]["nodes"]["added"] == ["lyon-gw-02"]
    assert report["summary"]["nodes"]["removed"] == ["paris-ai-01"]
    nodes = {n["node"]: n for n in report["nodes"]}
    assert {a["app"]: a["change"] for a in nodes["lyon-gw-02"]["apps"]} == {
        "inference": "added",
        "sensor-collector": "added",
        "web": "added",
    }
    assert {a["change"] for a in nodes["paris-ai-01"]["apps"]} == {"removed"}
    assert all(a["base"] is None for a in nodes["lyon-gw-02"]["apps"])
    added_group = next(g for g in report["groups"] if g["change"] == "added")
    assert added_group["apps"][0]["diff"].startswith("--- /dev/null\n+++ b/inference\n")


def test_added_and_removed_apps(fleet: FleetRepo, shoal: Shoal) -> None:
    shutil.rmtree(fleet.path / "apps" / "inference")
    fleet.write(
        "apps/kiosk/app.yaml",
        {
            "name": "kiosk",
            "version": "1.0.0",
            "selector": "site=lyon,role=gateway",
            "namespace": "kiosk",
        },
    )
    fleet.write(
        "apps/kiosk/templates/cm.yaml.j2",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kiosk}\ndata: {site: {{ site_label | to_json }}}\n",
    )

    result = shoal("diff", fleet.path, "main", "--format", "json")

    report = json.loads(result.out)
    assert report["summary"]["apps"] == {
        "added": len(fleet.nodes_where(site="lyon", role="gateway")),
        "changed": 0,
        "removed": len(fleet.all_nodes()),
    }
    text = shoal("diff", fleet.path, "main").out
    assert "kiosk added (1.0.0)" in text and "inference removed (0.9.1)" in text
    assert "+++ /dev/null" in text


def test_colors_on_request(fleet: FleetRepo, shoal: Shoal) -> None:
    set_group_var(fleet, "groups/canary.yaml", "log_level", "trace")
    colored = shoal("diff", fleet.path, "main", "--color", "always").out
    assert "\033[31m-" in colored and "\033[32m+" in colored
    assert "\033[" not in shoal("diff", fleet.path, "main", "--color", "never").out
