"""The fleet certificate authority: create it, load it, issue and renew certificates.

`shoal ca` (controller/commands/ca.py), `provisioning` and `bundles` call it. The CA
lives in a folder of its own (`--ca-dir` or `$SHOAL_CA_DIR`), outside any git
repository: `ca.key` (mode 0600, never overwritten) and `ca.crt`. Keys are ECDSA P-256:
fast to make (a thousand in well under a second) and accepted by Mosquitto, EMQX and
OpenSSL for TLS client authentication.

Certificates: a node's has subject CN = node name (the broker takes it as the user
name) and extended key usage clientAuth; the controller's the same with its own name;
the broker's has serverAuth and its subject alternative names (DNS names or IPs).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.gitcli import GitFailed, git_text
from shadow.errors import BadInput

CA_KEY, CA_CERT = "ca.key", "ca.crt"
DEFAULT_CA_DAYS = 3650
DEFAULT_DAYS = 365
CONTROLLER_NAME = "shoal-controller"
EXPIRY_WARNING_DAYS = 30
KEY_MODE = 0o600


class AuthorityError(BadInput, ValueError):
    """A CA or certificate that cannot be used; the message names the file."""


def default_ca_dir() -> Path:
    """`$SHOAL_CA_DIR`, else ~/.local/share/shoal/ca (outside any fleet repository)."""
    env = os.environ.get("SHOAL_CA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shoal" / "ca"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the start (never readable by others, even briefly);
    refuses to replace an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def inside_git_repository(path: Path) -> Path | None:
    """The top of the git work tree holding `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        top = git_text("rev-parse", "--show-toplevel", cwd=probe)
    except GitFailed:
        return None  # not in a work tree (or no git): nothing to keep the key out of
    return Path(top) if top else None


def not_after(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_after_utc


def load_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AuthorityError(f"{path}: no such file") from None
    except OSError as exc:
        raise AuthorityError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise AuthorityError(f"{path}:1: not a PEM certificate") from None


def check_current(cert: x509.Certificate, path: Path, what: str = "certificate") -> None:
    """Raise naming `path` when `cert` is expired or not yet valid."""
    moment = now()
    if cert.not_valid_after_utc <= moment:
        raise AuthorityError(
            f"{path}: the {what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if cert.not_valid_before_utc > moment:
        raise AuthorityError(
            f"{path}: the {what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def alt_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in ext.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    ]


def parse_sans(values: Sequence[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses as the broker certificate's subject alternative names."""
    names: list[x509.GeneralName] = []
    for value in values:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            if not value or any(c in value for c in " /:@"):
                raise AuthorityError(
                    f"--san {value!r} is neither a DNS name nor an IP address"
                ) from None
            names.append(x509.DNSName(value))
    return names


@dataclass(frozen=True)
class Issued:
    """A key and its certificate, in PEM."""

    key: bytes
    cert: bytes
    not_after: dt.datetime


class Authority:
    """A loaded fleet CA that signs certificates."""

    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.directory = directory
        self.key = key
        self.cert = cert
        self.cert_pem = cert_pem(cert)

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT

    @property
    def name(self) -> str:
        return common_name(self.cert)

    # --- create and load -----------------------------------------------------------------

    @classmethod
    def init(cls, directory: Path, name: str, days: int = DEFAULT_CA_DAYS) -> Authority:
        """Create a new CA in `directory`; refuses when one is there or when `directory`
        is inside a git repository (the CA key must never be committed)."""
        directory = directory.expanduser().absolute()
        top = inside_git_repository(directory)
        if top is not None:
            raise AuthorityError(
                f"{directory}: inside the git repository {top}; keep the CA key outside "
                "every repository (--ca-dir or $SHOAL_CA_DIR)"
            )
        key_path = directory / CA_KEY
        if key_path.exists() or (directory / CA_CERT).exists():
            raise AuthorityError(f"{key_path}: a CA exists already; it is never overwritten")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = now() - dt.timedelta(minutes=5)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(key_path, key_pem(key))
        (directory / CA_CERT).write_bytes(cert_pem(cert))
        return cls(directory, key, cert)

    @classmethod
    def load(cls, directory: Path) -> Authority:
        """The CA in `directory`; AuthorityError naming the file when missing, unreadable,
        not a key, not matching the certificate or expired."""
        directory = directory.expanduser().absolute()
        key_path = directory / CA_KEY
        try:
            data = key_path.read_bytes()
        except FileNotFoundError:
            raise AuthorityError(
                f"{key_path}: no CA key here (create one with `shoal ca init`, or point "
                "--ca-dir / $SHOAL_CA_DIR at yours)"
            ) from None
        except OSError as exc:
            raise AuthorityError(f"{key_path}: cannot be read: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise AuthorityError(f"{key_path}:1: not an unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise AuthorityError(f"{key_path}:1: not an ECDSA key")
        cert = load_certificate(directory / CA_CERT)
        if cert.public_key() != key.public_key():
            raise AuthorityError(f"{directory / CA_CERT}: does not belong to {key_path}")
        check_current(cert, directory / CA_CERT, "fleet CA certificate")
        return cls(directory, key, cert)

    # --- issue ---------------------------------------------------------------------------

    def issue(
        self,
        name: str,
        *,
        server: bool = False,
        sans: Sequence[x509.GeneralName] = (),
        days: int = DEFAULT_DAYS,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> Issued:
        """A fresh key (or `key`) and a certificate with subject CN = `name`."""
        key = key or new_key()
        start = now() - dt.timedelta(minutes=5)
        end = min(start + dt.timedelta(days=days), self.cert.not_valid_after_utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(key_pem(key), cert_pem(cert), cert.not_valid_after_utc)

    def renew(self, cert_path: Path, key_path: Path, days: int = DEFAULT_DAYS) -> Issued:
        """The same subject, usage and names for `days` more, for the key at `key_path`."""
        old = load_certificate(cert_path)
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except FileNotFoundError:
            raise AuthorityError(f"{key_path}: no such file") from None
        except (ValueError, TypeError):
            raise AuthorityError(f"{key_path}:1: not an unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or old.public_key() != key.public_key():
            raise AuthorityError(f"{key_path}: not the key of {cert_path}")
        if old.issuer != self.cert.subject:
            raise AuthorityError(
                f"{cert_path}: issued by another CA ({old.issuer.rfc4514_string()})"
            )
        try:
            usages = old.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            server = ExtendedKeyUsageOID.SERVER_AUTH in usages
        except x509.ExtensionNotFound:
            server = False
        try:
            sans = list(old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
        return self.issue(common_name(old), server=server, sans=sans, days=days, key=key)

    def verifies(self, cert: x509.Certificate) -> bool:
        """True when this CA signed `cert`."""
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True
