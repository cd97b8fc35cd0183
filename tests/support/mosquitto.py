"""A real Mosquitto broker on a free loopback port, with a generated config.

Persistence lives in the test's temp folder, so `restart()` keeps retained messages
(as a production broker with `persistence true` does); `kill()` is `kill -9`, and a
`start()` after it comes back from the last autosave. `max_queued_messages 0` is
required: Mosquitto's default of 1000 silently drops retained messages for a new
wildcard subscriber on a big fleet (docs/controller.md, "Broker facts").
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Mosquitto:
    """`start()`, `stop()`, `restart()`; `url` for shoal's `--broker`."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra_config: str = "") -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        self.config_path.write_text("\n".join(lines) + "\n" + self.extra_config + "\n")

    def start(self) -> Mosquitto:
        self.write_config()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            err = b""
            if self.proc.poll() is not None and self.proc.stderr:
                err = self.proc.stderr.read()
            raise RuntimeError(f"mosquitto did not start: {err.decode(errors='replace')}") from None
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """`kill -9`: no last save; a restart comes back from the last autosave (every
        second here), as a production broker comes back from its own."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def save(self, timeout: float = 10.0) -> None:
        """Make it write its persistence file now (SIGUSR1), as an autosave would."""
        assert self.proc is not None, "not running"
        before = self.database.stat().st_mtime_ns if self.database.exists() else None
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.database.exists() or self.database.stat().st_mtime_ns == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not save {self.database}")
            time.sleep(0.02)

    @property
    def database(self) -> Path:
        """The persistence file a restart reads back."""
        return self.workdir / "mosquitto.db"

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GeneratedMosquitto(Mosquitto):
    """A Mosquitto running the configuration `shoal broker-config` wrote into `config_dir`,
    unchanged but for what a test run needs: a log file and, as root, `user root` (the
    broker would otherwise drop to the `mosquitto` user, who cannot read the test's
    temp folder)."""

    def __init__(self, config_dir: Path, port: int) -> None:
        super().__init__(config_dir / "test-run", port=port)
        self.generated = Path(config_dir) / "mosquitto.conf"

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        lines = [
            self.generated.read_text(),
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        self.config_path.write_text("\n".join(lines) + "\n")

    def hup(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(1)
