"""A commit touching only nodes and groups re-renders only the affected nodes, and the
result is exactly what a full load + render of that revision gives."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet
from controller.fleet.problems import FleetError
from controller.render.incremental import Baseline, render_changes
from controller.render.rendercache import RenderCache
from controller.render.rendering import render_fleet
from tests.support.controller import FleetRepo

NODES = {f"n{i}": {"site": ["paris", "lyon", "nice"][i % 3]} for i in range(9)}


def digests(apps: dict) -> dict[str, dict[str, str]]:
    return {
        node: {a: app.digest for a, app in node_apps.items()} for node, node_apps in apps.items()
    }


def full(root: Path) -> dict[str, dict[str, str]]:
    return digests(render_fleet(load_fleet(root)).apps)


def edit_group(repo: FleetRepo) -> list[str]:
    repo.write_yaml("groups/paris.yaml", {"selector": "site=paris", "vars": {"greeting": "salut"}})
    return ["groups/paris.yaml"]


def retarget_group(repo: FleetRepo) -> list[str]:
    repo.write_yaml("groups/paris.yaml", {"selector": "site=lyon", "vars": {"greeting": "salut"}})
    return ["groups/paris.yaml"]


def delete_group(repo: FleetRepo) -> list[str]:
    (repo.work / "groups/paris.yaml").unlink()
    return ["groups/paris.yaml"]


def edit_node(repo: FleetRepo) -> list[str]:
    repo.write_yaml("nodes/n1.yaml", {"name": "n1", "tags": {"site": "paris"}})
    return ["nodes/n1.yaml"]


def add_and_remove_nodes(repo: FleetRepo) -> list[str]:
    repo.write_yaml(
        "nodes/extra/n99.yaml",
        {"name": "n99", "tags": {"site": "nice"}, "vars": {"greeting": "yo"}},
    )
    (repo.work / "nodes/n2.yaml").unlink()
    return ["nodes/extra/n99.yaml", "nodes/n2.yaml"]


def bump_app_and_add_one(repo: FleetRepo) -> list[str]:
    repo.write_yaml(
        "apps/web/app.yaml",
        {
            "name": "web",
            "version": "2.0.0",
            "selector": "site in (paris,nice)",
            "namespace": "web",
            "vars": {"greeting": "hello"},
        },
    )
    repo.write_yaml(
        "apps/api/app.yaml",
        {"name": "api", "version": "1.0.0", "selector": "site=lyon", "namespace": "api"},
    )
    repo.write(
        "apps/api/templates/svc.yaml.j2", "apiVersion: v1\nkind: Service\nmetadata: {name: api}\n"
    )
    return ["apps/web/app.yaml", "apps/api/app.yaml", "apps/api/templates/svc.yaml.j2"]


def add_app_for_one_site(repo: FleetRepo) -> list[str]:
    repo.write_yaml(
        "apps/api/app.yaml",
        {"name": "api", "version": "1.0.0", "selector": "site=lyon", "namespace": "api"},
    )
    repo.write(
        "apps/api/templates/svc.yaml.j2", "apiVersion: v1\nkind: Service\nmetadata: {name: api}\n"
    )
    return ["apps/api/app.yaml", "apps/api/templates/svc.yaml.j2"]


def edit_template(repo: FleetRepo) -> list[str]:
    repo.write(
        "apps/web/templates/config.yaml.j2",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {g: '{{ greeting }}!'}\n",
    )
    return ["apps/web/templates/config.yaml.j2"]


def delete_app(repo: FleetRepo) -> list[str]:
    shutil.rmtree(repo.work / "apps/web")
    return ["apps/web/app.yaml", "apps/web/templates/config.yaml.j2"]


@pytest.mark.parametrize(
    "change",
    [
        edit_group,
        retarget_group,
        delete_group,
        edit_node,
        add_and_remove_nodes,
        bump_app_and_add_one,
        add_app_for_one_site,
        edit_template,
        delete_app,
    ],
)
def test_incremental_render_equals_full_render(
    tmp_path: Path, change: Callable[[FleetRepo], list[str]]
) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    repo.write_yaml(
        "groups/paris.yaml", {"selector": "site=paris", "vars": {"greeting": "bonjour"}}
    )
    before = tmp_path / "before"
    shutil.copytree(repo.work, before, ignore=shutil.ignore_patterns(".git"))
    fleet = load_fleet(before)
    baseline = Baseline("old", fleet, render_fleet(fleet).apps)

    changed = change(repo)
    after = tmp_path / "after"
    shutil.copytree(repo.work, after, ignore=shutil.ignore_patterns(".git"))
    rendered = render_changes(baseline, after, changed)

    assert rendered is not None and not rendered.problems
    assert digests(rendered.apps) == full(after)
    if change not in (edit_template, delete_app, bump_app_and_add_one):  # every node has web
        assert rendered.rendered_nodes < len(rendered.apps)  # it did not re-render everything


@pytest.mark.parametrize(
    "change", [edit_group, edit_node, bump_app_and_add_one, edit_template, delete_app]
)
def test_incremental_render_in_place_with_a_kept_cache_equals_full_render(
    tmp_path: Path, change: Callable[[FleetRepo], list[str]]
) -> None:
    """As in the controller: one checkout changes in place, one RenderCache is kept."""
    repo = FleetRepo.create(tmp_path, NODES)
    cache = RenderCache()
    fleet = load_fleet(repo.work)
    baseline = Baseline("old", fleet, render_fleet(fleet, cache=cache).apps)

    changed = change(repo)
    rendered = render_changes(baseline, repo.work, changed, cache=cache)

    assert rendered is not None and not rendered.problems
    assert digests(rendered.apps) == full(repo.work)


def test_fleet_wide_changes_take_the_full_path(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    fleet = load_fleet(repo.work)
    baseline = Baseline("old", fleet, render_fleet(fleet).apps)
    assert render_changes(baseline, repo.work, ["fleet.yaml"]) is None
    assert render_changes(baseline, repo.work, ["nodes/n1.yaml", "README.md"]) is None
    (repo.work / "nodes/link.yaml").symlink_to(repo.work / "nodes/n1.yaml")
    assert render_changes(baseline, repo.work, ["nodes/link.yaml"]) is None


def test_a_node_file_duplicating_an_unchanged_node_is_an_error(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    fleet = load_fleet(repo.work)
    baseline = Baseline("old", fleet, render_fleet(fleet).apps)
    repo.write_yaml("nodes/copy.yaml", {"name": "n3", "tags": {}})
    with pytest.raises(FleetError) as error:
        render_changes(baseline, repo.work, ["nodes/copy.yaml"])
    assert "nodes/copy.yaml" in str(error.value) and "nodes/n3.yaml" in str(error.value)


IDENT = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ident}\n"
    'data: {node: "{{ node.name }}", motd: "{{ motd }}", site: "{{ node.tags.site }}"}\n'
)


@pytest.mark.parametrize(
    "change", [edit_group, retarget_group, delete_group, edit_node, add_and_remove_nodes]
)
def test_apps_no_changed_variable_reaches_are_carried_over(
    tmp_path: Path, change: Callable[[FleetRepo], list[str]]
) -> None:
    """With a kept cache, an app reading none of the changed groups' variables keeps
    each unchanged node's entry (the same object); the rest equals a full render."""
    repo = FleetRepo.create(tmp_path, NODES)
    repo.write_yaml(
        "apps/ident/app.yaml",
        {
            "name": "ident",
            "version": "1",
            "selector": "",
            "namespace": "ident",
            "vars": {"motd": "hi"},
        },
    )
    repo.write("apps/ident/templates/cm.yaml.j2", IDENT)
    web_node = IDENT.replace("ident", "web-node").replace("motd", "greeting")
    repo.write("apps/web/templates/node.yaml.j2", web_node)
    repo.write_yaml("groups/paris.yaml", {"selector": "site=paris", "vars": {"greeting": "hi"}})
    cache = RenderCache()
    fleet = load_fleet(repo.work)
    baseline = Baseline("old", fleet, render_fleet(fleet, cache=cache).apps)

    changed = change(repo)
    rendered = render_changes(baseline, repo.work, changed, cache=cache)

    assert rendered is not None and not rendered.problems
    assert digests(rendered.apps) == full(repo.work)
    rendered_again = rendered.rendered or set()
    kept = [n for n in rendered_again & baseline.apps.keys() if f"nodes/{n}.yaml" not in changed]
    assert all(rendered.apps[n]["ident"] is baseline.apps[n]["ident"] for n in kept)
