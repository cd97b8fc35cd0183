"""`shoal controller`: follow a fleet repository and publish every node's Desired document.

Parses the command line into `ControllerSettings` and runs a `Controller`
(`controller.service.controller`) until SIGINT/SIGTERM, or once with `--once`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

from shadow.errors import ExitCode
from transport import BrokerOptions, BrokerURLError, add_broker_arguments, positive_seconds

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "controller",
        help="follow a fleet repository and publish each node's desired state over MQTT",
        description="Follow a branch of a fleet repository (URL or local path): on every new "
        "commit, validate and render the fleet and publish the Desired document of each node "
        "whose content changed (retained, QoS 1). A commit that does not validate or render "
        "is never published. New commits are noticed by polling, by a push webhook "
        "(POST /webhook on --http) and, for a local repository, by watching its refs.",
    )
    parser.add_argument("--repo", required=True, metavar="URL_OR_PATH", help="fleet repository")
    parser.add_argument("--branch", default="main", help="branch to follow (default: %(default)s)")
    add_broker_arguments(parser, default=None)
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="poll the repository this often (default: %(default)s)",
    )
    parser.add_argument(
        "--http",
        metavar="[HOST]:PORT",
        help="serve the dashboard (/), /healthz, /metrics and POST /webhook here, e.g. :8080",
    )
    parser.add_argument(
        "--http-token",
        default=os.environ.get("SHOAL_HTTP_TOKEN"),
        metavar="TOKEN",
        help="require this token for the dashboard and /metrics (Authorization: Bearer "
        "TOKEN, or basic auth with TOKEN as password); /healthz and /webhook stay open "
        "(default: $SHOAL_HTTP_TOKEN)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("SHOAL_WEBHOOK_SECRET"),
        metavar="SECRET",
        help="require webhooks signed with this secret (default: $SHOAL_WEBHOOK_SECRET)",
    )
    parser.add_argument(
        "--signing-key",
        type=Path,
        metavar="FILE",
        default=os.environ.get("SHOAL_SIGNING_KEY"),
        help="sign every Desired document with this Ed25519 key (shoal signing-key create); "
        "edges that trust its public half accept nothing else (default: $SHOAL_SIGNING_KEY)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="clone, checkouts and the publish ledger (default: ~/.cache/shoal/controller/...)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="fetch, publish, wait for the broker's acknowledgements and exit "
        "(0 ok, 1 bad commit, 2 git or broker unreachable); needs --broker",
    )
    add_status_arguments(parser)
    parser.add_argument(
        "--dynamic-security",
        action="store_true",
        help="keep the broker's node clients in step with git (Mosquitto's dynamic-security "
        "plugin, as `shoal broker-config` sets it up): a node removed from the fleet or "
        "marked revoked is locked out within seconds, a new node admitted; needs "
        "--cert-file (the controller's certificate)",
    )
    return parser


def add_broker_clients(controller: Any, args: argparse.Namespace) -> None:
    """--dynamic-security: revocation that follows git (controller.identity.revocation)."""
    if not args.dynamic_security:
        return
    from controller.identity.authority import common_name, load_certificate
    from controller.identity.revocation import BrokerClients

    name = common_name(load_certificate(Path(controller.broker.cert_file)))
    clients = BrokerClients(controller.broker, name)
    controller.add(clients)
    controller.revision_listeners.append(clients.revision_reconciled)


# --- status branch (the status helper's part; see controller/status) -------------------


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("status branch")
    group.add_argument(
        "--status-branch",
        default="shoal-status",
        metavar="BRANCH",
        help="commit what the edges report to this branch of --repo (default: %(default)s)",
    )
    group.add_argument(
        "--status-interval",
        type=positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="at most one status commit this often (default: %(default)s)",
    )
    group.add_argument(
        "--no-status", action="store_true", help="do not write reports back into git"
    )


def add_status_writer(controller: Any, args: argparse.Namespace, work_dir: Path) -> Any:
    """Commit edge reports to the status branch beside the pipeline (unless --no-status);
    the `StatusService`, or None."""
    if args.no_status or args.once:
        return None
    from controller.status.service import StatusService

    service = StatusService(
        controller,
        args.repo,
        work_dir,
        branch=args.status_branch,
        interval=args.status_interval,
    )
    controller.add(service)
    return service


def add_dashboard(controller: Any, status: Any) -> None:
    """The dashboard's pages on --http, and the fleet's gauges on /metrics."""
    from controller.dashboard import ControllerState, Dashboard
    from controller.dashboard.metrics import FleetCollector

    state = ControllerState(controller, status)
    dashboard = Dashboard(state)
    controller.pages = dashboard
    controller.metrics.add_collector(FleetCollector(state, dashboard.snapshots))


# ---------------------------------------------------------------------------------------


def default_work_dir(repo: str, branch: str) -> Path:
    """One folder per repository and branch, so two controllers never share a ledger."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", repo.rstrip("/").rsplit("/", 1)[-1])[:40] or "repo"
    key = hashlib.sha256(f"{repo}\0{branch}".encode()).hexdigest()[:10]
    cache = Path.home() / ".cache" / "shoal" / "controller"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = Path(".shoal-controller")
    return cache / f"{stem}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', branch)}-{key}"


def run(args: argparse.Namespace) -> ExitCode:
    from controller.service.controller import Controller, ControllerSettings
    from controller.service.source import missing_source
    from transport.embedded import EmbeddedBrokerError
    from transport.httpserving import HttpAddressError, parse_address
    from transport.interpreter import tune_interpreter

    tune_interpreter()  # publishing and report intake beside rendering and commits
    if args.dynamic_security and not (args.broker and args.cert_file):
        log.error("--dynamic-security needs --broker and the controller's --cert-file/--key-file")
        return ExitCode.UNAVAILABLE
    if args.once and not args.broker:
        log.error("--once needs --broker: the embedded broker would vanish with the process")
        return ExitCode.USAGE
    try:
        broker = BrokerOptions.from_args(args) if args.broker else None
        http = parse_address(args.http) if args.http else None
    except (BrokerURLError, HttpAddressError) as exc:
        log.error("%s", exc)
        return ExitCode.USAGE
    missing = missing_source(args.repo, args.branch)
    if missing:
        log.error("%s", missing)
        return ExitCode.UNAVAILABLE
    signing_key = None
    if args.signing_key:
        from shadow.signing import KeyFileError, SigningKey

        try:
            signing_key = SigningKey.from_pem(Path(args.signing_key).read_bytes())
        except OSError as exc:
            log.error("--signing-key %s: %s", args.signing_key, exc.strerror or exc)
            return ExitCode.UNAVAILABLE
        except KeyFileError as exc:
            log.error("--signing-key %s: %s", args.signing_key, exc)
            return ExitCode.BAD_INPUT
        log.info("signing Desired documents with key %s", signing_key.key_id)
    settings = ControllerSettings(
        signing_key=signing_key,
        repo=args.repo,
        branch=args.branch,
        work_dir=args.work_dir or default_work_dir(args.repo, args.branch),
        broker=broker,
        interval=args.interval,
        http=http,
        webhook_secret=args.webhook_secret,
        http_token=args.http_token or None,
    )
    controller = Controller(settings)
    status = add_status_writer(controller, args, settings.work_dir)
    add_broker_clients(controller, args)
    if not args.once:
        add_dashboard(controller, status)
    if args.once:
        return controller.run_once()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        controller.start()
    except (HttpAddressError, EmbeddedBrokerError) as exc:
        controller.stop()
        log.error("%s", exc)
        return ExitCode.UNAVAILABLE
    except Exception:
        controller.stop()
        raise
    try:
        # Poll: a signal delivered to another thread sets the flag but never wakes a
        # bare wait() in the main thread (seen with `shoal demo` stopping the controller).
        while not stop.wait(1.0):
            pass
    finally:
        log.info("stopping")
        controller.stop()
    return ExitCode.OK  # a requested stop (Ctrl-C, SIGTERM) is a normal end
