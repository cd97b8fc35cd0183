"""Install one agent release into a virtualenv of its own: download, check, install, prove.

Called by the updater (edge/selfupdate/updater.py) in its own thread. The wheel comes from
the release's `url` (a file path, `file://`, `http://` or `https://`); it is used only if
its sha256 is the one the fleet repository declares. It is installed with pip into
`versions/<version>/` (a virtualenv that sees the base interpreter's packages), and its
dependencies come from the same wheelhouse (`--find-links`) or the base interpreter, never
from an index. The install counts only once the new `shoal --version` names the release's
version; then `.complete` is written, last.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import venv
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edge.selfupdate.agentdir import COMPLETE, AgentDir, power_cut
from shadow import AgentRelease
from shadow.errors import BadInput
from transport.atomicfile import replace_atomically

MAX_WHEEL_BYTES = 256 * 1024 * 1024
DOWNLOAD_TIMEOUT = 60.0
PIP_TIMEOUT = 600.0


class UpdateFailed(BadInput):
    """The release cannot be installed; the message is what the node reports (the fleet
    repository's `agent:` must name a wheel that installs, or its host come back)."""


def install(release: AgentRelease, agent_dir: AgentDir) -> Path:
    """The prefix of `release`'s virtualenv, installing it first when needed."""
    done = agent_dir.installed(release.version, release.sha256)
    if done is not None:
        return done
    if not release.url:
        raise UpdateFailed(
            f"agent {release.version} names no wheel: set agent.wheelhouse or agent.url"
        )
    agent_dir.make()
    wheel = download(release, agent_dir.downloads)
    power_cut("downloaded")
    prefix = agent_dir.versions / release.version
    shutil.rmtree(prefix, ignore_errors=True)
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(prefix)
    python = prefix / "bin" / "python"
    links = _find_links(release.url)
    command = [
        sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check",
        "install", "--quiet", "--no-index", *(["--find-links", links] if links else []), str(wheel),
    ]  # fmt: skip
    _run(command, "installing the wheel")
    shown = _run([str(python), "-I", "-m", "shoal", "--version"], "starting the new agent")
    if shown.split()[-1:] != [release.version]:
        raise UpdateFailed(
            f"the wheel installs {shown.strip() or 'nothing'}, not agent {release.version}"
        )
    power_cut("installed")
    replace_atomically(prefix / COMPLETE, release.sha256.encode())
    return prefix


def download(release: AgentRelease, folder: Path) -> Path:
    """The release's wheel in `folder`, checked against its sha256."""
    name = Path(unquote(urlsplit(release.url).path)).name
    if not name.endswith(".whl"):
        raise UpdateFailed(f"agent {release.version}: {release.url} is not a wheel (.whl)")
    target = folder / name
    if target.is_file() and _sha256(target) == release.sha256:
        return target
    part = folder / f"{name}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with _open(release.url) as source, part.open("wb") as out:
            while chunk := source.read(1 << 20):
                size += len(chunk)
                if size > MAX_WHEEL_BYTES:
                    raise UpdateFailed(f"{release.url} is larger than {MAX_WHEEL_BYTES} bytes")
                digest.update(chunk)
                out.write(chunk)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise UpdateFailed(
            f"agent {release.version}: no wheel at {release.url} ({reason})"
        ) from exc
    got = digest.hexdigest()
    if got != release.sha256:
        part.unlink(missing_ok=True)
        raise UpdateFailed(
            f"agent {release.version}: the wheel at {release.url} has sha256 {got[:16]}..., "
            f"not {release.sha256[:16]}... as the fleet repository says; refused"
        )
    part.replace(target)
    return target


def _open(url: str):  # type: ignore[no-untyped-def]
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return Path(unquote(parts.path)).open("rb")
    if parts.scheme in ("http", "https"):
        return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)
    raise ValueError(f"unsupported URL scheme {parts.scheme!r}")


def _find_links(url: str) -> str:
    """The wheelhouse beside the wheel, for its dependencies: a folder or a URL."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return str(Path(unquote(parts.path)).parent)
    return url.rsplit("/", 1)[0] + "/"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _run(command: list[str], doing: str) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateFailed(f"{doing} failed: {exc}") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise UpdateFailed(f"{doing} failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout
