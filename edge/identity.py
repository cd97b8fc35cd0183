"""The node's own certificate, as the edge agent sees it at start.

`shoal edge` (edge/cli.py) calls `certificate_not_after(cert_file)`: an expired or
not-yet-valid certificate stops the agent with one message naming the file (the
broker would refuse it anyway, with a TLS error that says much less); otherwise the
expiry goes into every report's nodeInfo, so `shoal status` can warn in time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from shadow.errors import BadInput


class IdentityError(BadInput, ValueError):
    """The node's certificate cannot be used; the message names the file."""


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
