"""`shoal broker-config --mosquitto DIR`: a complete, confining Mosquitto 2 configuration.

Reads the fleet (node names, topic prefix) from REPO, issues the broker's server
certificate from the fleet CA (subject alternative names from --san) unless
--cert/--key name one, and writes the folder `controller.identity.brokerconfig`
describes. Refuses a folder that is not empty.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from controller.commands.ca import add_ca_dir_argument, ca_dir
from controller.commands.reporting import add_repo_argument
from controller.fleet.problems import FleetError
from controller.identity.authority import (
    CONTROLLER_NAME,
    Authority,
    AuthorityError,
    load_certificate,
    parse_sans,
)
from controller.identity.brokerconfig import (
    BrokerConfigError,
    MosquittoLayout,
    check_empty,
    find_plugin,
    write_mosquitto,
)
from shadow.errors import ExitCode


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "broker-config",
        help="write a Mosquitto configuration that confines each node to its own shadow",
        description="Write a complete Mosquitto 2 configuration for the fleet in REPO: a TLS "
        "listener admitting only certificates of the fleet CA (the certificate's name is the "
        "user name), anonymous clients refused, persistence on, max_queued_messages 0, and "
        "per-node ACLs in the dynamic-security plugin: a node reads only its own desired "
        "topic and writes only its own reported and online topics; the controller writes "
        "every desired and reads every report.",
        epilog="Run the broker with `mosquitto -c DIR/mosquitto.conf`, and the controller with "
        "--dynamic-security so nodes added to or removed from git are admitted or locked out "
        "without restarting it. EMQX and cloud brokers: docs/security.md.",
    )
    parser.add_argument(
        "--mosquitto", type=Path, required=True, metavar="DIR", help="new or empty folder"
    )
    add_repo_argument(parser)
    add_ca_dir_argument(parser)
    parser.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="a DNS name or IP the nodes use to reach the broker (repeatable; "
        "default: localhost, 127.0.0.1 and this host's name)",
    )
    parser.add_argument("--cert", type=Path, metavar="FILE", help="use this server certificate")
    parser.add_argument("--key", type=Path, metavar="FILE", help="the key of --cert")
    parser.add_argument("--port", type=int, default=8883, help="TLS port (default: %(default)s)")
    parser.add_argument(
        "--bind", default="", metavar="ADDRESS", help="listen address (default: all)"
    )
    parser.add_argument(
        "--controller-name",
        default=CONTROLLER_NAME,
        metavar="NAME",
        help="the controller certificate's name (default: %(default)s)",
    )
    parser.add_argument(
        "--install-dir",
        type=Path,
        metavar="DIR",
        help="where DIR's files will live on the broker host (default: DIR itself)",
    )
    parser.add_argument(
        "--plugin", default=None, metavar="PATH", help="mosquitto_dynamic_security.so's path"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from controller.fleet.loading import load_fleet

    try:
        check_empty(args.mosquitto)
        if (args.cert is None) != (args.key is None):
            raise BrokerConfigError("--cert and --key go together")
        try:
            fleet = load_fleet(Path(args.repo))
        except FleetError as exc:
            first = exc.problems[0] if exc.problems else exc
            raise BrokerConfigError(f"{args.repo}: the fleet does not load: {first}") from None
        authority = Authority.load(ca_dir(args))
        if args.cert is not None:
            cert = load_certificate(args.cert)
            if not authority.verifies(cert):
                raise AuthorityError(f"{args.cert}: not signed by the fleet CA {authority.name!r}")
            broker_cert, broker_key = args.cert.read_bytes(), args.key.read_bytes()
        else:
            sans = args.san or ["localhost", "127.0.0.1", socket.gethostname()]
            issued = authority.issue(sans[0], server=True, sans=parse_sans(sans))
            broker_cert, broker_key = issued.cert, issued.key
        nodes = [n.name for n in fleet.nodes.values() if not n.revoked]
        clash = fleet.nodes.get(args.controller_name)
        if clash is not None:
            raise BrokerConfigError(
                f"{clash.file}: node {clash.name!r} has the controller's certificate name; "
                "rename the node (or give the controller another with --controller-name)"
            )
        layout = MosquittoLayout(
            install_dir=(args.install_dir or args.mosquitto).absolute(),
            port=args.port,
            bind=args.bind,
            plugin=args.plugin or find_plugin(),
        )
        write_mosquitto(
            args.mosquitto,
            layout,
            fleet=fleet.name,
            prefix=fleet.topic_prefix,
            nodes=nodes,
            controller_name=args.controller_name,
            ca_cert=authority.cert_pem,
            broker_cert=broker_cert,
            broker_key=broker_key,
        )
    except (BrokerConfigError, AuthorityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(
        f"wrote {args.mosquitto}/mosquitto.conf: TLS on port {args.port}, {len(nodes)} nodes "
        f"and {args.controller_name!r} confined (dynamic-security.json)"
    )
    print(f"  run: mosquitto -c {layout.install_dir}/mosquitto.conf")
    return ExitCode.OK
