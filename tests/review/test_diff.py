"""`shoal diff [REPO] BASE [HEAD]`: which nodes and apps a change to the fleet repository
affects, grouped, as text, markdown or JSON. Each test starts from `shoal init`."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.commands import init
from tests.review.conftest import FleetRepo, Result, git, run_shoal

Shoal = Callable[..., Result]


def set_group_var(fleet: FleetRepo, group_file: str, name: str, value: object) -> None:
    group = fleet.read(group_file)
    group["vars"][name] = value
    fleet.write(group_file, group)


def affected(result: Result) -> set[str]:
    return {n["node"] for n in json.loads(result.out)["nodes"]}


def test_editing_a_group_var_changes_exactly_that_groups_nodes(fleet: FleetRepo) -> None:
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

    text = run_shoal("diff", fleet.path, "main~1", "main")
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
    clones = [f"paris-gw-{i:02d}" for i in range(10, 40)]
    for name in clones:
        fleet.write(f"nodes/{name}.yaml", {**template, "name": name})
    fleet.commit("Thirty more gateways in Paris")
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


def test_a_broken_head_is_reported_without_a_traceback(fleet: FleetRepo) -> None:
    node = fleet.path / "nodes" / "lyon-ai-01.yaml"
    node.write_text(node.read_text().replace("tags:", "tags: [oops"))
    fleet.commit("Break a node file")

    result = run_shoal("diff", fleet.path, "main~1", "HEAD")

    assert result.code == 1
    assert "Traceback" not in result.err
    assert "HEAD" in result.err and "does not load or render" in result.err
    assert "nodes/lyon-ai-01.yaml" in result.err
    assert re.search(r"nodes/lyon-ai-01\.yaml:\d+", result.err)  # with its line


def test_a_render_failure_names_node_and_app(fleet: FleetRepo, shoal: Shoal) -> None:
    group = fleet.read("groups/model-jetson-orin.yaml")
    del group["vars"]["sensor_poll_seconds"]
    fleet.write("groups/model-jetson-orin.yaml", group)
    app = fleet.read("apps/sensor-collector/app.yaml")
    del app["vars"]["sensor_poll_seconds"]
    fleet.write("apps/sensor-collector/app.yaml", app)

    result = shoal("diff", fleet.path, "main", "--format", "markdown")

    assert result.code == 1
    assert "sensor_poll_seconds" in result.err and "paris-ai-01" in result.err
    assert "sensor-collector" in result.err
    assert result.out.startswith("### shoal diff: cannot compare")


def test_unknown_revision_and_non_repository(
    fleet: FleetRepo, shoal: Shoal, tmp_path: Path
) -> None:
    missing = shoal("diff", fleet.path, "no-such-branch")
    assert missing.code == 2
    assert "unknown revision 'no-such-branch'" in missing.err

    plain = tmp_path / "plain"
    plain.mkdir()
    outside = shoal("diff", plain, "main", "HEAD")
    assert outside.code == 2
    assert "not inside a git repository" in outside.err


def test_a_fleet_in_a_subdirectory(tmp_path: Path, shoal: Shoal) -> None:
    monorepo = tmp_path / "infra"
    assert shoal("init", monorepo / "edge").code == 0
    shutil.move(monorepo / "edge" / ".git", monorepo / ".git")
    git(monorepo, "add", "--all")
    git(monorepo, "commit", "--quiet", "-m", "The fleet moves into edge/")
    fleet = FleetRepo(monorepo / "edge")
    set_group_var(fleet, "groups/site-lyon.yaml", "ntp_server", "ntp.example.org")
    fleet.commit("Lyon NTP")

    result = shoal("diff", fleet.path, "HEAD~1", "HEAD", "--format", "json")

    assert result.code == 0, result.err
    assert affected(result) == fleet.nodes_where(site="lyon")


def test_colors_on_request(fleet: FleetRepo, shoal: Shoal) -> None:
    set_group_var(fleet, "groups/canary.yaml", "log_level", "trace")
    colored = shoal("diff", fleet.path, "main", "--color", "always").out
    assert "\033[31m-" in colored and "\033[32m+" in colored
    assert "\033[" not in shoal("diff", fleet.path, "main", "--color", "never").out


def test_two_arguments_are_base_and_head_inside_the_repository(
    fleet: FleetRepo, shoal: Shoal, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_group_var(fleet, "groups/site-lyon.yaml", "timezone", "UTC")
    fleet.commit("Lyon on UTC")
    monkeypatch.chdir(fleet.path)

    result = shoal("diff", "main~1", "main", "--format", "json")

    assert result.code == 0, result.err
    assert json.loads(result.out)["head"]["revision"] == "main"
    assert affected(result) == fleet.nodes_where(site="lyon")


def test_the_change_that_creates_the_fleet_adds_every_node(tmp_path: Path, shoal: Shoal) -> None:
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "Empty")
    shutil.copytree(init.template_dir(), repo / "edge")
    fleet = FleetRepo(repo / "edge")
    fleet.commit("Add the fleet")

    result = shoal("diff", fleet.path, "HEAD~1", "HEAD", "--format", "json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert set(report["summary"]["nodes"]["added"]) == fleet.all_nodes()
    assert report["summary"]["nodes"]["base"] == 0

    backwards = shoal("diff", fleet.path, "HEAD", "HEAD~1")
    assert backwards.code == 1
    assert "fleet.yaml: not found" in backwards.err


def test_commits_outside_the_fleet_change_nothing(tmp_path: Path, shoal: Shoal) -> None:
    monorepo = tmp_path / "infra"
    assert shoal("init", monorepo / "edge").code == 0
    shutil.move(monorepo / "edge" / ".git", monorepo / ".git")
    (monorepo / "terraform.tf").write_text("# not the fleet\n")
    git(monorepo, "add", "--all")
    git(monorepo, "commit", "--quiet", "-m", "The fleet moves into edge/, and some terraform")
    (monorepo / "terraform.tf").write_text("# still not the fleet\n")
    git(monorepo, "commit", "--quiet", "-am", "Terraform only")

    result = shoal("diff", monorepo / "edge", "HEAD~1", "HEAD", "--exit-code")

    assert result.code == 0, result.err
    assert "no changes: " in result.out
