"""`shoal ca`: the fleet CA is created once, kept out of git, and issues what the broker
and TLS libraries accept."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from controller.identity.authority import Authority, AuthorityError, common_name
from shoal.cli import main as shoal


def test_init_creates_a_private_key_and_never_overwrites_it(tmp_path: Path, capsys) -> None:
    ca = tmp_path / "ca"
    assert shoal(["ca", "init", "--ca-dir", str(ca)]) == 0
    key = (ca / "ca.key").read_bytes()
    assert stat.S_IMODE((ca / "ca.key").stat().st_mode) == 0o600
    assert shoal(["ca", "init", "--ca-dir", str(ca)]) == 1
    assert "a CA exists already; it is never overwritten" in capsys.readouterr().err
    assert (ca / "ca.key").read_bytes() == key


def test_init_refuses_a_folder_inside_a_git_repository(tmp_path: Path, capsys) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "fleet")], check=True)
    assert shoal(["ca", "init", "--ca-dir", str(tmp_path / "fleet" / "ca")]) == 1
    assert "inside the git repository" in capsys.readouterr().err
    assert not (tmp_path / "fleet" / "ca").exists()


def test_the_ca_dir_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SHOAL_CA_DIR", str(tmp_path / "env-ca"))
    assert shoal(["ca", "init"]) == 0
    assert (tmp_path / "env-ca" / "ca.key").exists()


def test_issued_certificates_verify_with_openssl_for_their_use(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    assert shoal(["ca", "init", "--ca-dir", str(ca)]) == 0
    out = tmp_path / "tls"
    assert (
        shoal(["ca", "issue", "node", "paris-gw-01", "--out", str(out), "--ca-dir", str(ca)]) == 0
    )
    args = ["ca", "issue", "broker", "mqtt.example.com", "--out", str(out), "--ca-dir", str(ca)]
    assert shoal([*args, "--san", "mqtt.example.com", "--san", "10.0.0.5"]) == 0
    node = x509.load_pem_x509_certificate((out / "paris-gw-01.crt").read_bytes())
    assert common_name(node) == "paris-gw-01"
    for name, purpose in (("paris-gw-01", "sslclient"), ("mqtt.example.com", "sslserver")):
        check = subprocess.run(
            [
                "openssl",
                "verify",
                "-purpose",
                purpose,
                "-CAfile",
                str(out / "ca.crt"),
                str(out / f"{name}.crt"),
            ],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    context = ssl.create_default_context(cafile=str(out / "ca.crt"))
    context.load_cert_chain(out / "paris-gw-01.crt", out / "paris-gw-01.key")  # key matches


def test_renew_extends_a_certificate_for_its_own_key(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    Authority.init(ca, "test CA")
    out = tmp_path / "tls"
    assert (
        shoal(["ca", "issue", "controller", "--out", str(out), "--ca-dir", str(ca), "--days", "5"])
        == 0
    )
    path = out / "shoal-controller.crt"
    before = x509.load_pem_x509_certificate(path.read_bytes())
    assert shoal(["ca", "renew", str(path), "--ca-dir", str(ca), "--days", "400"]) == 0
    after = x509.load_pem_x509_certificate(path.read_bytes())
    assert after.public_key() == before.public_key()
    assert after.not_valid_after_utc - before.not_valid_after_utc > dt.timedelta(days=390)


def test_a_missing_or_unreadable_ca_key_is_named(tmp_path: Path, capsys) -> None:
    out = ["--out", str(tmp_path / "o")]
    assert shoal(["ca", "issue", "node", "n1", *out, "--ca-dir", str(tmp_path / "none")]) == 1
    assert f"{tmp_path / 'none' / 'ca.key'}: no CA key here" in capsys.readouterr().err
    Authority.init(tmp_path / "ca", "test CA")
    (tmp_path / "ca" / "ca.key").chmod(0o600)
    (tmp_path / "ca" / "ca.key").write_text("garbage\n")
    assert shoal(["ca", "issue", "node", "n1", *out, "--ca-dir", str(tmp_path / "ca")]) == 1
    assert (
        f"{tmp_path / 'ca' / 'ca.key'}:1: not an unencrypted PEM private key"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists()


def test_an_expired_ca_is_refused_naming_its_certificate(tmp_path: Path) -> None:
    authority = Authority.init(tmp_path / "ca", "short CA", days=1)
    fake_now = authority.cert.not_valid_after_utc + dt.timedelta(days=1)
    import controller.identity.authority as module

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "now", lambda: fake_now)
        with pytest.raises(AuthorityError, match=r"ca\.crt: the fleet CA certificate expired on"):
            Authority.load(tmp_path / "ca")
