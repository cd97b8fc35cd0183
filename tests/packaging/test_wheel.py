"""shoal as people install it: a wheel in a fresh virtualenv, outside the checkout.

`pip install .`, `pipx install .` and an image built from the wheel all run the wheel's
files, not the source tree's; the first commands of the README (`shoal init`, `shoal demo`)
must work from it. The virtualenv sees the test run's site-packages for the third-party
dependencies (so no download), but shoal itself comes only from the wheel: the test
checks where the installed `controller` package lives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
# Nothing of the checkout may leak into what is installed: no PYTHONPATH, no VIRTUAL_ENV.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shoal's wheel, freshly built from this checkout."""
    root = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(CHECKOUT), "--no-deps", "-q", "-w", root],
        capture_output=True,
        text=True,
        timeout=240,
        env=CLEAN_ENV,
    )
    assert built.returncode == 0, built.stderr
    (found,) = root.glob("shoal-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path) -> Path:
    """The bin/ folder of a virtualenv with shoal installed from the wheel."""
    env_dir = wheel.parent / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", wheel],
        capture_output=True,
        text=True,
        timeout=240,
        env=CLEAN_ENV,
    )
    assert installed.returncode == 0, installed.stderr
    return env_dir / "bin"


def shoal(
    bin_dir: Path, *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = dict(CLEAN_ENV)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(bin_dir / "shoal"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_wheel_is_what_runs(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import controller, shoal; print(controller.__file__)"],
        cwd=tmp_path,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent), where
    version = shoal(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("shoal "), version


def test_init_then_validate_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    made = shoal(installed, "init", "my-fleet", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    fleet = tmp_path / "my-fleet"
    assert (fleet / ".github" / "workflows" / "shoal.yml").is_file()
    assert (fleet / ".pre-commit-config.yaml").is_file()
    checked = shoal(installed, "validate", cwd=fleet)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_demo_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    demo = shoal(
        installed,
        "demo",
        "--dir",
        str(tmp_path / "demo"),
        "--port",
        "0",
        "--exit-when-synced",
        "--timeout",
        "150",
        cwd=tmp_path,
        timeout=200,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "Synced" in demo.stdout


@pytest.mark.skipif(shutil.which("pipx") is None, reason="pipx is not installed")
def test_pipx_install_of_the_wheel_runs_init(wheel: Path, tmp_path: Path) -> None:
    env = CLEAN_ENV | {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    # --system-site-packages: the dependencies come from this environment, not a download.
    done = subprocess.run(
        ["pipx", "install", "--system-site-packages", str(wheel)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    made = shoal(tmp_path / "bin", "init", "fleet", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "fleet" / "fleet.yaml").is_file()


def test_the_wheel_carries_the_dashboard_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        sizes = {name: archive.getinfo(name).file_size for name in archive.namelist()}
    for name in ("dashboard.js", "dashboard.css"):
        assert sizes.get(f"controller/dashboard/static/{name}", 0) > 500, name
