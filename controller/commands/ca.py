"""`shoal ca init|issue|renew|show`: the fleet certificate authority.

`init` creates the CA (key mode 0600, outside any git repository, never overwritten);
`issue controller|broker|node NAME` writes a key and certificate into `--out`;
`renew CERT` re-issues a certificate for its own key, in place; `show` lists the CA
and certificates with their expiry. The work is in `controller.identity.authority`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from controller.identity.authority import (
    CA_CERT,
    CONTROLLER_NAME,
    DEFAULT_CA_DAYS,
    DEFAULT_DAYS,
    EXPIRY_WARNING_DAYS,
    Authority,
    AuthorityError,
    common_name,
    default_ca_dir,
    load_certificate,
    now,
    parse_sans,
    write_private,
)
from shadow import is_valid_node_name
from shadow.errors import ExitCode


def add_ca_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the CA's folder, outside the fleet repository "
        "(default: $SHOAL_CA_DIR, else ~/.local/share/shoal/ca)",
    )


def ca_dir(args: argparse.Namespace) -> Path:
    return Path(args.ca_dir) if args.ca_dir else default_ca_dir()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ca",
        help="the fleet certificate authority: create it, issue and renew certificates",
        description="The fleet's certificate authority. Every node, the controller and the "
        "broker get a certificate from it; the broker admits only clients it signed and "
        "takes the certificate's name as the user name. Its key stays outside the fleet "
        "repository (--ca-dir or $SHOAL_CA_DIR).",
        epilog="Typical start: `shoal ca init`, `shoal ca issue broker broker --san "
        "broker.example.com --out broker-tls`, `shoal ca issue controller --out ctl-tls`, "
        "then `shoal provision` for the nodes.",
    )
    actions = parser.add_subparsers(dest="ca_action", metavar="ACTION", required=True)

    init = actions.add_parser("init", help="create the fleet CA (never overwrites one)")
    add_ca_dir_argument(init)
    init.add_argument("--name", default="shoal fleet CA", help="the CA's common name")
    init.add_argument(
        "--days", type=int, default=DEFAULT_CA_DAYS, help="validity in days (default: %(default)s)"
    )

    issue = actions.add_parser(
        "issue",
        help="issue a certificate for the controller, the broker or a node",
        description="Write NAME.key (mode 0600), NAME.crt and the CA's ca.crt into --out. "
        "A node's certificate has CN = the node name; the broker's carries --san names.",
    )
    issue.add_argument("kind", choices=["controller", "broker", "node"])
    issue.add_argument(
        "name", nargs="?", help=f"the certificate's name (controller: {CONTROLLER_NAME})"
    )
    issue.add_argument("--out", type=Path, required=True, metavar="DIR")
    issue.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="broker: a DNS name or IP address clients use to reach it (repeatable)",
    )
    issue.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="validity in days (default: %(default)s)"
    )
    add_ca_dir_argument(issue)

    renew = actions.add_parser(
        "renew",
        help="renew certificates for their own keys, in place",
        description="Re-issue each CERT (same name, usage and SANs) for --days from now; the "
        "key (CERT with .key for .crt, or --key) stays. Replaces CERT atomically.",
    )
    renew.add_argument("certs", nargs="+", type=Path, metavar="CERT")
    renew.add_argument("--key", type=Path, help="the key (only with one CERT)")
    renew.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="validity in days (default: %(default)s)"
    )
    add_ca_dir_argument(renew)

    show = actions.add_parser("show", help="the CA and certificates with their expiry")
    show.add_argument("certs", nargs="*", type=Path, metavar="CERT")
    add_ca_dir_argument(show)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "days", 1) < 1:
            raise AuthorityError(f"--days must be at least 1, got {args.days}")
        return {"init": _init, "issue": _issue, "renew": _renew, "show": _show}[args.ca_action](
            args
        )
    except AuthorityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT


def _init(args: argparse.Namespace) -> int:
    authority = Authority.init(ca_dir(args), args.name, args.days)
    print(f"created the fleet CA {authority.name!r} in {authority.directory}")
    print(f"  key  {authority.directory / 'ca.key'} (mode 0600: keep it safe, never commit it)")
    print(
        f"  cert {authority.cert_path} (valid until {authority.cert.not_valid_after_utc:%Y-%m-%d})"
    )
    return ExitCode.OK


def _issue(args: argparse.Namespace) -> int:
    name = args.name or (CONTROLLER_NAME if args.kind == "controller" else None)
    if not name:
        raise AuthorityError(f"`shoal ca issue {args.kind}` needs a NAME")
    if args.kind == "node" and not is_valid_node_name(name):
        raise AuthorityError(f"{name!r} is not a valid node name")
    if args.kind != "broker" and args.san:
        raise AuthorityError("--san is for the broker's certificate")
    sans = parse_sans(args.san or ([] if args.kind != "broker" else [name]))
    authority = Authority.load(ca_dir(args))
    out: Path = args.out
    targets = [out / f"{name}.key", out / f"{name}.crt"]
    for target in targets:
        if target.exists():
            raise AuthorityError(f"{target}: exists already; it is not overwritten")
    issued = authority.issue(name, server=args.kind == "broker", sans=sans, days=args.days)
    out.mkdir(parents=True, exist_ok=True)
    write_private(targets[0], issued.key)
    targets[1].write_bytes(issued.cert)
    if not (out / CA_CERT).exists():
        (out / CA_CERT).write_bytes(authority.cert_pem)
    print(
        f"issued {args.kind} certificate {name!r} until {issued.not_after:%Y-%m-%d}: {targets[1]}"
    )
    return ExitCode.OK


def _renew(args: argparse.Namespace) -> int:
    if args.key and len(args.certs) > 1:
        raise AuthorityError("--key goes with a single CERT")
    authority = Authority.load(ca_dir(args))
    renewed = []
    for cert_path in args.certs:  # check and sign all first: nothing half-renewed
        key_path = args.key or cert_path.with_suffix(".key")
        renewed.append((cert_path, authority.renew(cert_path, key_path, args.days)))
    for cert_path, issued in renewed:
        fd, tmp = tempfile.mkstemp(dir=cert_path.parent, prefix=".renew-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(issued.cert)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cert_path)
        print(f"renewed {cert_path} until {issued.not_after:%Y-%m-%d}")
    return ExitCode.OK


def _show(args: argparse.Namespace) -> int:
    authority = Authority.load(ca_dir(args))
    rows = [(authority.cert_path, authority.cert)]
    rows += [(path, load_certificate(path)) for path in args.certs]
    moment = now()
    for path, cert in rows:
        left = (cert.not_valid_after_utc - moment).days
        note = ""
        if left < 0:
            note = "  EXPIRED"
        elif left < EXPIRY_WARNING_DAYS:
            note = "  expires soon: `shoal ca renew`"
        signed = "" if authority.verifies(cert) else "  (not signed by this CA)"
        print(
            f"{common_name(cert)!r:28} until {cert.not_valid_after_utc:%Y-%m-%d} "
            f"({left} days){note}{signed}  {path}"
        )
    return ExitCode.OK
