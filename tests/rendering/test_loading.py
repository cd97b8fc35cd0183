"""Loading a fleet repository: every file validated, every problem located (file, path,
line) and reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet, load_usable
from controller.fleet.problems import FleetError, Problem
from tests.support.render import FleetRepo


@pytest.fixture
def repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo(tmp_path / "fleet", vars={"ntp": "pool.ntp.org"})
    repo.node("paris-1", site="paris", model="rpi4")
    repo.group("paris", "site=paris", priority=10, replicas=3)
    repo.app("web", selector="site=paris", replicas=1)
    return repo


def problems(root: Path) -> list[Problem]:
    with pytest.raises(FleetError) as caught:
        load_fleet(root)
    return caught.value.problems


def test_a_valid_repository_loads_into_the_model(repo: FleetRepo) -> None:
    fleet = load_fleet(repo.root)
    assert fleet.name == "test"
    assert fleet.topic_prefix == "shoal"
    assert fleet.vars == {"ntp": "pool.ntp.org"}
    node = fleet.nodes["paris-1"]
    assert (node.tags, node.file) == ({"site": "paris", "model": "rpi4"}, "nodes/paris-1.yaml")
    group = fleet.groups["paris"]  # the name defaults to the file stem
    assert (group.priority, group.vars, group.selector.text) == (10, {"replicas": 3}, "site=paris")
    app = fleet.apps["web"]
    assert (app.version, app.namespace, app.file) == ("1.0", "web", "apps/web/app.yaml")
    assert app.templates == ("apps/web/templates/configmap.yaml.j2",)


def test_broken_yaml_names_file_and_line(repo: FleetRepo) -> None:
    repo.write("nodes/broken.yaml", "name: broken\ntags: {site: paris\nvars: {}\n")
    [problem] = problems(repo.root)
    assert problem.file == "nodes/broken.yaml"
    assert problem.line == 3
    assert problem.message.startswith("invalid YAML:")


def test_a_schema_violation_names_the_path_and_its_line(repo: FleetRepo) -> None:
    repo.write("nodes/bad.yaml", "name: bad\ntags:\n  site: paris\n  floor: 3\n")
    [problem] = problems(repo.root)
    assert str(problem) == (
        "nodes/bad.yaml:4: tags.floor: must be a string, got a number (3); quote it to keep it as text"
    )


def test_an_unknown_key_is_an_error_listing_the_allowed_ones(repo: FleetRepo) -> None:
    repo.write("groups/lyon.yaml", "selector: site=lyon\npriorty: 5\n")
    [problem] = problems(repo.root)
    assert str(problem) == (
        "groups/lyon.yaml:2: unknown key 'priorty' (allowed here: agent, name, priority, selector, vars)"
    )


def test_a_missing_required_key(repo: FleetRepo) -> None:
    repo.write("apps/api/app.yaml", "name: api\nselector: ''\nnamespace: api\n")
    repo.write("apps/api/templates/a.yaml.j2", "")
    [problem] = problems(repo.root)
    assert str(problem) == "apps/api/app.yaml:1: missing required key 'version'"


def test_duplicate_node_names_name_both_files(repo: FleetRepo) -> None:
    repo.node("paris-1", file="nodes/zz-copy.yaml", site="paris")
    [problem] = problems(repo.root)
    assert str(problem) == (
        "nodes/zz-copy.yaml:1: name: duplicate node name 'paris-1': "
        "also defined in nodes/paris-1.yaml"
    )


def test_a_bad_selector_names_its_file_and_the_selector(repo: FleetRepo) -> None:
    repo.group("rpi", "model in (rpi4,rpi5")
    [problem] = problems(repo.root)
    assert (problem.file, problem.where, problem.line) == ("groups/rpi.yaml", "selector", 1)
    assert "bad selector 'model in (rpi4,rpi5'" in problem.message
    assert "missing ')'" in problem.message


def test_app_name_must_equal_its_folder(repo: FleetRepo) -> None:
    repo.write("apps/api/app.yaml", "name: apis\nversion: '1'\nselector: ''\nnamespace: api\n")
    repo.write("apps/api/templates/a.yaml.j2", "")
    [problem] = problems(repo.root)
    assert str(problem) == (
        "apps/api/app.yaml:1: name: name 'apis' must equal the app's folder name 'api'"
    )


def test_missing_files_are_reported(repo: FleetRepo) -> None:
    (repo.root / "apps" / "empty").mkdir()
    repo.write(
        "apps/notemplates/app.yaml", "name: notemplates\nversion: '1'\nselector: ''\nnamespace: x\n"
    )
    (repo.root / "fleet.yaml").unlink()
    assert [str(p) for p in problems(repo.root)] == [
        "apps/empty/app.yaml: missing: every folder under apps/ needs an app.yaml",
        "apps/notemplates/templates: no templates: an app renders apps/notemplates/templates/*.j2",
        "fleet.yaml: missing: a fleet repository has fleet.yaml at its root",
    ]


def test_empty_file_and_non_mapping(repo: FleetRepo) -> None:
    repo.write("nodes/empty.yaml", "")
    repo.write("nodes/list.yaml", "- name: x\n")
    messages = {p.file: p.message for p in problems(repo.root)}
    assert messages == {
        "nodes/empty.yaml": "expected a mapping of keys (like name: ...), the file is empty",
        "nodes/list.yaml": "expected a mapping of keys (like name: ...), the file is a list",
    }


def test_a_key_written_twice_is_an_error(repo: FleetRepo) -> None:
    repo.write("nodes/twice.yaml", "name: twice\ntags: {site: paris}\nname: again\n")
    [problem] = problems(repo.root)
    assert str(problem) == "nodes/twice.yaml:3: name: key written twice (YAML keeps only the last)"


def test_reserved_and_invalid_variable_names(repo: FleetRepo) -> None:
    repo.write("nodes/vars.yaml", "name: vars\nvars:\n  node: 1\n  my-var: 2\n")
    found = {(p.line, p.where) for p in problems(repo.root)}
    assert found == {(3, "vars"), (4, "vars")}


def test_tag_values_must_be_selectable_strings(repo: FleetRepo) -> None:
    repo.write("nodes/t.yaml", "name: t\ntags: {site: Paris Nord}\n")
    [problem] = problems(repo.root)
    assert problem.where == "tags.site"
    assert problem.message.startswith("'Paris Nord' is not valid: A label value")


def test_every_problem_of_a_repository_is_reported_in_one_run(repo: FleetRepo) -> None:
    repo.write("fleet.yaml", "name: Bad_Name\n")
    repo.write("nodes/broken.yaml", ": :\n  - [\n")
    repo.write("nodes/typo.yaml", "name: typo\ntagz: {}\n")
    repo.group("bad", "site=")
    repo.group("worse", "a b")
    repo.node("paris-1", file="nodes/again.yaml", site="paris")
    found = problems(repo.root)
    assert [p.file for p in found] == [
        "fleet.yaml",
        "groups/worse.yaml",
        "nodes/broken.yaml",
        "nodes/paris-1.yaml",
        "nodes/typo.yaml",
    ]
    assert "duplicate node name 'paris-1': also defined in nodes/again.yaml" in found[3].message


def test_not_a_directory(tmp_path: Path) -> None:
    [problem] = problems(tmp_path / "nowhere")
    assert problem.message == "not a directory: expected a fleet repository"


def test_fleet_error_lists_problems_one_per_line(repo: FleetRepo) -> None:
    repo.write("nodes/a.yaml", "name: a\nfoo: 1\n")
    repo.write("nodes/b.yaml", "name: b\nbar: 1\n")
    with pytest.raises(FleetError) as caught:
        load_fleet(repo.root)
    assert str(caught.value).splitlines() == [
        "nodes/a.yaml:2: unknown key 'foo' (allowed here: agent, name, recipient, reportKey, revoked, tags, vars)",
        "nodes/b.yaml:2: unknown key 'bar' (allowed here: agent, name, recipient, reportKey, revoked, tags, vars)",
    ]


def test_symlinks_leading_out_of_the_repository_are_not_read(
    repo: FleetRepo, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("name: secret-host-data\n")
    (repo.root / "nodes" / "leak.yaml").symlink_to(secret)
    outside_app = tmp_path / "elsewhere"
    outside_app.mkdir()
    (repo.root / "apps" / "linked").symlink_to(outside_app)
    assert [str(p) for p in problems(repo.root)] == [
        "apps/linked: a symlink leading outside the repository: not read",
        "nodes/leak.yaml: a symlink leading outside the repository: not read",
    ]


def test_symlinks_inside_the_repository_are_fine(repo: FleetRepo) -> None:
    (repo.root / "shared").mkdir()
    (repo.root / "shared" / "lyon-1.yaml").write_text("name: lyon-1\ntags: {site: lyon}\n")
    (repo.root / "nodes" / "lyon-1.yaml").symlink_to(repo.root / "shared" / "lyon-1.yaml")
    assert sorted(load_fleet(repo.root).nodes) == ["lyon-1", "paris-1"]


def test_yaml_booleans_where_text_is_expected_get_a_hint(repo: FleetRepo) -> None:
    repo.write("nodes/b.yaml", "name: b\ntags: {on: yes}\n")
    [problem] = problems(repo.root)
    assert str(problem) == (
        "nodes/b.yaml:2: tags[true]: must be a string, got a boolean (true); quote it to keep "
        "it as text (YAML reads an unquoted yes/no/on/off/true/false key as a boolean: quote it)"
    )


# --- all or nothing for the controller, what loads for `shoal validate` --------------


def test_one_broken_file_fails_the_whole_load(repo: FleetRepo) -> None:
    repo.node("paris-2", site="paris")
    repo.write("nodes/typo.yaml", "name: typo\ntagz: {}\n")
    with pytest.raises(FleetError) as caught:
        load_fleet(repo.root)
    assert [p.file for p in caught.value.problems] == ["nodes/typo.yaml"]


def test_load_usable_keeps_the_valid_files_and_every_problem(repo: FleetRepo) -> None:
    repo.node("paris-2", site="paris")
    repo.write("nodes/typo.yaml", "name: typo\ntagz: {}\n")
    repo.app("api", selector="site=paris")
    repo.write("apps/api/app.yaml", "name: api\n")
    usable = load_usable(repo.root)
    assert sorted(usable.fleet.nodes) == ["paris-1", "paris-2"]
    assert sorted(usable.fleet.apps) == ["web"]
    assert sorted(usable.fleet.groups) == ["paris"]
    assert usable.fleet.vars == {"ntp": "pool.ntp.org"}
    assert usable.variables_complete
    assert {p.file for p in usable.problems} == {"nodes/typo.yaml", "apps/api/app.yaml"}
    [stand_in] = usable.unloaded_apps
    assert (stand_in.name, stand_in.templates) == ("api", ("apps/api/templates/configmap.yaml.j2",))


@pytest.mark.parametrize(
    ("file", "text"),
    [("fleet.yaml", "name: [broken\n"), ("groups/paris.yaml", "selector: 'site in (x'\n")],
)
def test_variables_are_incomplete_without_fleet_yaml_or_a_group(
    repo: FleetRepo, file: str, text: str
) -> None:
    repo.write(file, text)
    usable = load_usable(repo.root)
    assert not usable.variables_complete
    assert sorted(usable.fleet.nodes) == ["paris-1"]
    assert [p.file for p in usable.problems] == [file]


def test_a_value_not_matching_its_pattern_shows_the_pattern(repo: FleetRepo) -> None:
    repo.write("nodes/n.yaml", "name: nœud-é\ntags: {site: paris}\n")
    [problem] = problems(repo.root)
    assert (problem.file, problem.line, problem.where) == ("nodes/n.yaml", 1, "name")
    assert problem.message.startswith("'nœud-é' is not valid: The node's identity")
    assert problem.message.endswith("; it must match ^[a-z0-9]([a-z0-9.\\-_]{0,251}[a-z0-9])?$")


def test_a_file_in_templates_without_j2_is_named_not_skipped(repo: FleetRepo) -> None:
    repo.write("apps/web/templates/service.yaml", "apiVersion: v1\nkind: Service\n")
    repo.write("apps/web/templates/.gitkeep", "")
    [problem] = problems(repo.root)
    assert str(problem) == (
        "apps/web/templates/service.yaml: not rendered: only *.j2 files in templates/ are;"
        " rename it to service.yaml.j2 (or move it to files/ and read it with file())"
    )
