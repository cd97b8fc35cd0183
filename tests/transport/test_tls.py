"""mqtts:// with --ca-file (and mutual TLS) against a real Mosquitto TLS listener."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto, free_port
from tests.support.waiting import wait_until
from transport import BrokerOptions, make_client

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=shoal test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", f"{name}.pem",
                 cwd=directory)  # fmt: skip
    return directory


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, int, Path]]:
    pki = make_pki(tmp_path / "pki")
    tls_port = free_port()
    extra = "\n".join(
        [
            f"listener {tls_port} 127.0.0.1",
            f"cafile {pki / 'ca.pem'}",
            f"certfile {pki / 'server.pem'}",
            f"keyfile {pki / 'server.key'}",
            "require_certificate true",
        ]
    )
    broker = Mosquitto(tmp_path / "mosquitto", extra_config=extra).start()
    yield broker, tls_port, pki
    broker.stop()


def test_mutual_tls_round_trip(tls_broker: tuple[Mosquitto, int, Path]) -> None:
    _, port, pki = tls_broker
    options = BrokerOptions.from_url(
        f"mqtts://127.0.0.1:{port}",
        ca_file=str(pki / "ca.pem"),
        cert_file=str(pki / "client.pem"),
        key_file=str(pki / "client.key"),
    )
    got: list[bytes] = []
    client = make_client(options, "tls-test")
    client.on_message = lambda c, u, m: got.append(bytes(m.payload))
    client.connect(options.host, options.port)
    client.loop_start()
    try:
        client.subscribe("shoal/nodes/+/desired", 1)
        client.publish("shoal/nodes/a/desired", b"secret", qos=1, retain=True).wait_for_publish(10)
        assert wait_until(lambda: got, timeout=10) == [b"secret"]
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_broker_not_signed_by_the_ca_is_refused(
    tls_broker: tuple[Mosquitto, int, Path], tmp_path: Path
) -> None:
    _, port, pki = tls_broker
    other = make_pki(tmp_path / "other")
    options = BrokerOptions.from_url(
        f"mqtts://127.0.0.1:{port}",
        ca_file=str(other / "ca.pem"),
        cert_file=str(pki / "client.pem"),
        key_file=str(pki / "client.key"),
    )
    client = make_client(options, "tls-wrong-ca")
    with pytest.raises(OSError, match="certificate verify failed"):
        client.connect(options.host, options.port)
