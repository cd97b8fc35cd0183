"""`shoal validate`: ok with counts, or every problem on its own line and exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shoal.cli import main
from tests.support.render import FleetRepo

ROOT = Path(__file__).resolve().parents[2]


def test_a_clean_repository(fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(fleet_repo.root)]) == 0
    assert capsys.readouterr().out == (
        "ok: 3 nodes, 3 apps, 3 groups, 7 app renders (5 distinct)\n"
    )


def test_repo_defaults_to_the_current_folder(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fleet_repo.root)
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 nodes")


def test_every_problem_is_listed_one_per_line(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.write("nodes/typo.yaml", "name: typo\ntagz: {}\n")
    fleet_repo.group("broken", "site in (paris")
    assert main(["validate", str(fleet_repo.root)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "groups/broken.yaml:1: selector: bad selector 'site in (paris': missing ')' to close "
        "the list of values (at character 15)",
        "nodes/typo.yaml:2: unknown key 'tagz' (allowed here: agent, name, recipient, reportKey, revoked, tags, vars)",
    ]
    assert "invalid: 2 problem(s)" in err
    assert "Traceback" not in out + err


def test_render_errors_name_the_nodes_once_per_mistake(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.app("web", {"deploy.yaml.j2": "kind: {{ kind }}\n"})
    fleet_repo.app("sensors", {"a.yaml.j2": "{{ ''.__class__.__mro__ }}"}, selector="site=lyon")
    assert main(["validate", str(fleet_repo.root)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "apps/sensors/templates/a.yaml.j2:1: not allowed in the template sandbox: access to "
        "attribute '__class__' of 'str' object is unsafe. (node lyon-1, app sensors)",
        "apps/web/templates/deploy.yaml.j2:1: undefined variable 'kind' "
        "(nodes lyon-1, paris-1, paris-2, app web)",
    ]


def test_many_nodes_with_the_same_mistake_stay_one_line(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(10):
        fleet_repo.node(f"nice-{i}", site="nice")
    fleet_repo.app("web", {"deploy.yaml.j2": "{{ missing }}"})
    assert main(["validate", str(fleet_repo.root)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.endswith("(nodes lyon-1, nice-0, nice-1 and 10 more, app web)")


def test_json_format(fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]) -> None:
    fleet_repo.write("nodes/typo.yaml", "name: typo\ntagz: {}\n")
    assert main(["validate", str(fleet_repo.root), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["problems"] == [
        {
            "file": "nodes/typo.yaml",
            "line": 2,
            "where": "",
            "message": "unknown key 'tagz' (allowed here: agent, name, recipient, reportKey, revoked, tags, vars)",
            "node": None,
            "app": None,
        }
    ]


def test_as_a_process_no_traceback_exit_1(fleet_repo: FleetRepo) -> None:
    fleet_repo.write("fleet.yaml", "name: [broken\n")
    done = subprocess.run(
        [sys.executable, "-m", "shoal", "validate", str(fleet_repo.root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout.startswith("fleet.yaml:2: invalid YAML:")
    assert "Traceback" not in done.stderr


# --- a broken file does not hide the problems of the others -----------------------------


def test_load_syntax_and_render_errors_are_reported_in_one_run(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.write("nodes/typo.yaml", "name: typo\ntagz: {}\n")
    fleet_repo.app("sensors", {"a.yaml.j2": "{% if %}\n"}, selector="site=lyon")
    fleet_repo.app("web", {"deploy.yaml.j2": "kind: {{ kind }}\n"})
    assert main(["validate", str(fleet_repo.root)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "apps/sensors/templates/a.yaml.j2:1: template syntax error: Expected an expression, "
        "got 'end of statement block' (app sensors)",
        "apps/web/templates/deploy.yaml.j2:1: undefined variable 'kind' "
        "(nodes lyon-1, paris-1, paris-2, app web)",
        "nodes/typo.yaml:2: unknown key 'tagz' (allowed here: agent, name, recipient, reportKey, revoked, tags, vars)",
    ]
    assert "invalid: 3 problem(s)" in err


def test_the_valid_nodes_and_apps_are_rendered_beside_broken_ones(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.write("nodes/paris-2.yaml", "name: paris-2\ntags: {site: paris}\nextra: 1\n")
    fleet_repo.write("apps/sensors/app.yaml", "name: sensors\n")
    fleet_repo.app("inference", {"cm.yaml.j2": "{{ gpu | to_json }}"}, selector="")
    assert main(["validate", str(fleet_repo.root), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    found = {(p["file"], p["node"], p["message"].split(" (")[0]) for p in report["problems"]}
    assert found == {
        ("apps/inference/templates/cm.yaml.j2", "lyon-1", "undefined variable 'gpu'"),
        ("apps/inference/templates/cm.yaml.j2", "paris-1", "undefined variable 'gpu'"),
        ("apps/sensors/app.yaml", None, "missing required key 'namespace'"),
        ("apps/sensors/app.yaml", None, "missing required key 'selector'"),
        ("apps/sensors/app.yaml", None, "missing required key 'version'"),
        ("nodes/paris-2.yaml", None, "unknown key 'extra'"),
    }
    assert report["rendered"] is True
    assert report["nodes"] == 2  # paris-2 did not load


def test_a_broken_app_file_still_gets_its_templates_checked(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.app("sensors", {"a.yaml.j2": "{{ x | nosuchfilter }}\n"}, selector="site=lyon")
    fleet_repo.write("apps/sensors/app.yaml", "name: sensors\nversion: 1\n")
    assert main(["validate", str(fleet_repo.root)]) == 1
    out = capsys.readouterr().out
    assert (
        "apps/sensors/templates/a.yaml.j2:1: template syntax error: No filter named "
        "'nosuchfilter'. (app sensors)"
    ) in out.splitlines()
    assert "apps/sensors/app.yaml:2: version: must be a string" in out


@pytest.mark.parametrize(
    ("file", "text"),
    [("fleet.yaml", "name: [broken\n"), ("groups/rpi4.yaml", "selector: 'model in (rpi4'\n")],
)
def test_while_variables_are_incomplete_templates_are_still_compiled(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str], file: str, text: str
) -> None:
    fleet_repo.write(file, text)
    fleet_repo.app("sensors", {"a.yaml.j2": "{% if %}\n"}, selector="site=lyon")
    assert main(["validate", str(fleet_repo.root)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("apps/sensors/templates/a.yaml.j2:1: template syntax error")
    assert lines[1].startswith(f"{file}:")
    # A missing group's variables would be reported as undefined on every node it matches.
    assert "undefined" not in out
    assert "nodes not rendered: fix fleet.yaml and groups/ first" in err


def test_a_selector_matching_no_node_is_a_note(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.group("typo", "sit=paris", priority=5)
    assert main(["validate", str(fleet_repo.root)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: 3 nodes")
    assert err == (
        "note: groups/typo.yaml: group typo's selector 'sit=paris' matches no node"
        " (check the tag keys and values against nodes/)\n"
    )
    assert main(["validate", str(fleet_repo.root), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == [err.removeprefix("note: ").strip()]


def test_a_missing_folder_is_one_problem_without_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main(["validate", str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{missing}: not a directory: expected a fleet repository\n"
    assert err == f"invalid: 1 problem(s) in {missing}\n"


def test_rollout_control_files_are_checked(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    app = sorted(p.name for p in (fleet_repo.root / "apps").iterdir())[0]
    fleet_repo.write(f"rollouts/{app}.yaml", f"app: {app}\npaused: true\n")
    assert main(["validate", str(fleet_repo.root)]) == 0
    capsys.readouterr()
    fleet_repo.write(f"rollouts/{app}.yaml", f"app: {app}\npaused: maybe\n")
    fleet_repo.write(f"rollouts/{app}x.yaml", "paused: true\n")
    fleet_repo.write("rollouts/broken.yaml", "a: [\n")
    assert main(["validate", str(fleet_repo.root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"rollouts/{app}.yaml: paused: must be true or false" in out
    assert f"rollouts/{app}x.yaml: steers no app: there is no app named '{app}x'" in " ".join(out)
    assert f"(did you mean: {app}?)" in " ".join(out)
    assert any(line.startswith("rollouts/broken.yaml: steers no app") for line in out)
    fleet_repo.write(f"rollouts/{app}.yaml", f"app: {app}\npaused: [\n")
    assert main(["validate", str(fleet_repo.root)]) == 1
    assert f"rollouts/{app}.yaml:3: YAML syntax" in capsys.readouterr().out
