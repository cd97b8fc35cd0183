"""`shoal init DIR` makes a fleet repository that works at once: one commit on `main`,
valid, every node's Desired document valid against the schema."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.commands import init
from controller.render.rendering import load_and_render
from schemas import validator
from shadow import DesiredDocument
from tests.review.conftest import FleetRepo, Shoal, fresh_machine_env, git, run_shoal


def test_init_on_a_fresh_machine_makes_one_commit_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "my-fleet"
    result = run_shoal("init", target, env=fresh_machine_env(tmp_path / "home"))

    assert result.code == 0, result.err
    assert "Next steps" in result.out
    assert "git config user.name" in result.out  # it says it used a stand-in identity
    assert git(target, "rev-list", "--count", "HEAD") == "1"
    assert git(target, "branch", "--show-current") == "main"
    assert git(target, "status", "--porcelain") == ""
    tracked = set(git(target, "ls-files").splitlines())
    assert {
        "fleet.yaml",
        "README.md",
        ".github/workflows/shoal.yml",
        ".pre-commit-config.yaml",
    } <= tracked

    validate = run_shoal("validate", target)
    assert validate.code == 0, validate.out + validate.err


def test_init_keeps_the_users_own_identity(fleet: FleetRepo) -> None:
    configured = subprocess.run(
        ["git", "config", "--global", "user.email"], capture_output=True, text=True
    ).stdout.strip()
    if not configured:
        pytest.skip("this machine has no global git identity")
    assert git(fleet.path, "log", "-1", "--format=%ae") == configured
    local = subprocess.run(
        ["git", "config", "--local", "--get-regexp", r"^user\."],
        cwd=fleet.path,
        capture_output=True,
        text=True,
    )
    assert local.stdout == ""


def test_every_template_node_renders_a_valid_desired_document() -> None:
    render = load_and_render(init.template_dir())
    assert render.problems == []
    assert len(render.fleet.nodes) >= 6
    for node in render.fleet.nodes:
        apps = render.apps.get(node, {})
        assert apps, f"{node} runs no app"
        document = DesiredDocument.build(node, "0" * 40, 1, apps).to_dict()
        errors = [e.message for e in validator("desired").iter_errors(document)]
        assert errors == [], f"{node}: {errors}"
        DesiredDocument.from_dict(document)  # digests match content


def test_template_inference_settings_follow_the_hardware_model() -> None:
    render = load_and_render(init.template_dir())
    settings: dict[str, set[str]] = {}
    for node, apps in render.apps.items():
        (deployment,) = [r for r in apps["inference"].resources if r["kind"] == "Deployment"]
        env = {
            e["name"]: e["value"]
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        model = render.fleet.nodes[node].tags["model"]
        settings.setdefault(model, set()).add(
            f"{env['MODEL_NAME']}/{env['BATCH_SIZE']}/{env['ACCELERATOR']}"
        )
    assert set(settings) == {"rpi4", "jetson-orin"}
    assert all(len(values) == 1 for values in settings.values()), settings
    assert settings["rpi4"] != settings["jetson-orin"]


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")

    result = run_shoal("init", target)

    assert result.code == 1
    assert "not empty" in result.err and str(target) in result.err
    assert "Traceback" not in result.err
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_init_accepts_an_existing_empty_directory(tmp_path: Path, shoal: Shoal) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    assert shoal("init", target).code == 0
    assert (target / "fleet.yaml").is_file()


def test_init_says_clearly_when_the_template_is_missing(
    tmp_path: Path,
    shoal,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(init, "template_dir", lambda: tmp_path / "nowhere")
    result = shoal("init", tmp_path / "fleet")
    assert result.code == 2
    assert "template is missing" in result.err
