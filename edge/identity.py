"""The node's own certificate and key, as the edge agent sees them at start.

`shoal edge` (edge/cli.py) calls `certificate_not_after(cert_file)`: an expired or
not-yet-valid certificate stops the agent with one message naming the file (the
broker would refuse it anyway, with a TLS error that says much less); otherwise the
expiry goes into every report's nodeInfo, so `shoal status` can warn in time. It calls
`report_signer(report_key, key_file)` for the key that signs every report (the node's
TLS key unless `--report-key` names another).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from cryptography import x509

from shadow.errors import BadInput, ExitCode
from shadow.reportsigning import ReportSigner
from shadow.signing import KeyFileError

log = logging.getLogger(__name__)


class IdentityError(BadInput, ValueError):
    """The node's certificate cannot be used; the message names the file."""


class ReportKeyError(BadInput, ValueError):
    """`--report-key` cannot sign reports; `exit_code` is 2 for an unreadable file."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.BAD_INPUT) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def report_signer(report_key: Path | None, key_file: str | None) -> tuple[ReportSigner | None, str]:
    """The key reports are signed with: `--report-key`, else the TLS `--key-file` when it is
    an ECDSA P-256 key (what `shoal provision` issues), else None (reports go unsigned);
    and what to say about it once the agent runs (a warning when the key file cannot sign)."""
    if report_key is not None:
        try:
            return ReportSigner.from_pem(Path(report_key).read_bytes()), ""
        except OSError as exc:
            raise ReportKeyError(
                f"--report-key {report_key}: {exc.strerror or exc}", ExitCode.UNAVAILABLE
            ) from None
        except KeyFileError as exc:
            raise ReportKeyError(f"--report-key {report_key}: {exc}") from None
    if not key_file:
        return None, ""
    try:
        return ReportSigner.from_pem(Path(key_file).read_bytes()), ""
    except (OSError, KeyFileError) as exc:
        return None, (
            f"reports are not signed: --key-file {key_file} cannot sign them ({exc}); the "
            "controller refuses them once nodes/<node>.yaml records a reportKey "
            "(give --report-key)"
        )


def say_how_reports_are_signed(signer: ReportSigner | None, note: str) -> None:
    if signer is not None:
        log.info("signing reports with key %s", signer.key_id)
    elif note:
        log.warning("%s", note)
    else:
        log.info("reports are not signed (no --key-file or --report-key)")


def certificate_not_after(path: str | Path) -> str:
    """The certificate's notAfter as ISO 8601 UTC (`2027-12-01T19:25:00Z`)."""
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except OSError as exc:
        raise IdentityError(f"{path}: cannot be read: {exc.strerror}") from None
    except ValueError:
        raise IdentityError(f"{path}:1: not a PEM certificate") from None
    now = dt.datetime.now(dt.UTC)
    end = cert.not_valid_after_utc
    if end <= now:
        raise IdentityError(
            f"{path}: this node's certificate expired on {end:%Y-%m-%d %H:%M} UTC; "
            "renew it with `shoal ca renew` (or a new bundle)"
        )
    if cert.not_valid_before_utc > now:
        raise IdentityError(
            f"{path}: this node's certificate is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (is this machine's clock right?)"
        )
    return end.strftime("%Y-%m-%dT%H:%M:%SZ")
