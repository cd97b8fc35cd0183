"""`shoal edge`: run the edge agent for one node until interrupted.

Listed in shoal/cli.py's COMMAND_MODULES. Parses flags into `AgentSettings`,
builds the Kubernetes runtime and the broker options, and runs `Agent` until
SIGINT/SIGTERM (then publishes `online: false` and exits 0). Heavy imports
(kubernetes) stay inside `run`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edge.runtime.kubernetes import APPLY_CONCURRENCY
from edge.selfupdate.agentdir import ENV as SUPERVISED
from shadow import DEFAULT_PREFIX, Topics, is_valid_node_name
from shadow.errors import ExitCode
from shadow.limits import DESIRED_LIMITS, DecodeLimits
from shadow.policy import UNRESTRICTED, Policy
from transport import BrokerOptions, BrokerURLError, add_broker_arguments, positive_seconds

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "broker": "mqtt://127.0.0.1:1883",
    "report_interval": 30.0,
    "reconcile_interval": 60.0,
    "topic_prefix": DEFAULT_PREFIX,
    "apply_concurrency": APPLY_CONCURRENCY,
}


def positive_count(text: str) -> int:
    """argparse type for a number of requests at once: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def default_state_dir(node: str) -> Path:
    """`/var/lib/shoal/edge/<node>` for root (a system service), else under the XDG state dir."""
    if os.geteuid() == 0:
        return Path("/var/lib/shoal/edge") / node
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "shoal" / "edge" / node


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "edge",
        help="run the edge agent: apply this node's desired state to Kubernetes and report",
        description="Run the edge agent for one node: take its Desired document from the "
        "broker, apply it to the node's Kubernetes cluster (server-side apply, pruning, "
        "drift repair), and publish Reported documents. Keeps working from its state dir "
        "when the broker is unreachable.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="edge.yaml with any of the settings below (schemas/edge.schema.json; an "
        "install bundle has one); a flag given here wins over the file",
    )
    parser.add_argument("--node", help="this node's name (its identity in topics)")
    add_broker_arguments(parser, default=DEFAULTS["broker"])
    for action in parser._actions:  # None marks "not given", so the file can fill it in
        if action.dest in DEFAULTS:
            action.default = None
    kube = parser.add_argument_group("kubernetes")
    where = kube.add_mutually_exclusive_group()
    where.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)",
    )
    where.add_argument(
        "--in-cluster",
        action="store_true",
        help="use the pod's service account (when the agent runs inside the cluster)",
    )
    kube.add_argument("--context", metavar="CTX", help="kubeconfig context (default: current)")
    kube.add_argument(
        "--apply-concurrency",
        type=positive_count,
        metavar="N",
        help="server-side applies of one app in flight at once, after its Namespaces and "
        "CRDs (like Argo CD's --kubectl-parallelism-limit); more pays when the API server "
        f"is slow to answer each request (default: {APPLY_CONCURRENCY}, one by one)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="durable local store (default: /var/lib/shoal/edge/NODE as root, "
        "else ~/.local/state/shoal/edge/NODE)",
    )
    parser.add_argument(
        "--report-interval",
        type=positive_seconds,
        metavar="SECONDS",
        help=f"publish a heartbeat report at least this often (default: {DEFAULTS['report_interval']})",
    )
    parser.add_argument(
        "--reconcile-interval",
        type=positive_seconds,
        metavar="SECONDS",
        help="check for drift and retry failures this often "
        f"(default: {DEFAULTS['reconcile_interval']})",
    )
    parser.add_argument(
        "--max-document-bytes",
        type=int,
        default=DESIRED_LIMITS.max_bytes,
        metavar="BYTES",
        help="refuse a Desired document larger than this, before decoding it "
        "(default: %(default)s; set the broker's message_size_limit to match)",
    )
    parser.add_argument(
        "--trust-key",
        action="append",
        type=Path,
        metavar="FILE",
        help="accept only Desired documents signed by this public key (the controller's "
        "PATH.pub from shoal signing-key create); repeat it to trust two keys while one "
        "replaces the other (default: accept unsigned documents, with a warning)",
    )
    parser.add_argument(
        "--report-key",
        type=Path,
        metavar="FILE",
        help="sign every report with this ECDSA P-256 private key, whose public half "
        "nodes/NODE.yaml records as reportKey (default: --key-file, the node.key of the "
        "install bundle; without either, reports go unsigned)",
    )
    parser.add_argument(
        "--age-identity",
        action="append",
        type=Path,
        metavar="FILE",
        help="the node's age identity (age.key in its install bundle): sealed secrets are "
        "opened with it just before they are applied; repeatable",
    )
    parser.add_argument(
        "--http",
        metavar="[HOST]:PORT",
        help="serve /healthz and /metrics (Prometheus) here, e.g. :9100 (default: off)",
    )
    parser.add_argument(
        "--self-update",
        nargs="?",
        const="host",
        choices=["host", "cluster"],
        help="update this agent to the release the fleet repository declares (agent: in "
        "fleet.yaml). host (the default): run under a supervisor that installs each "
        "release's wheel beside the others and goes back to the previous one when the new "
        "one is not healthy in time; cluster: the agent runs in the node's cluster and "
        "rolls out the release's image on its own Deployment, rolling back when the new "
        "pod never becomes Ready (docs/agent-updates.md)",
    )
    parser.add_argument(
        "--agent-deployment",
        metavar="NAMESPACE/NAME",
        help="with --self-update cluster: the agent's own Deployment "
        "(default: $POD_NAMESPACE/shoal-edge)",
    )
    parser.add_argument(
        "--topic-prefix",
        metavar="PREFIX",
        help=f"MQTT topic prefix, as in fleet.yaml (default: {DEFAULT_PREFIX})",
    )
    add_local_policy_arguments(parser)
    return parser


def add_local_policy_arguments(parser: argparse.ArgumentParser) -> None:
    local = parser.add_argument_group(
        "local policy",
        "What this node's owner allows, on top of each app's policy from fleet.yaml and "
        "app.yaml: an object must pass both. Each flag repeats; GLOB is a shell-style "
        "pattern, and a leading '!' denies what it matches (only denials: allow the rest). "
        "Unset, the node adds no restriction.",
    )
    local.add_argument(
        "--allow-namespace",
        action="append",
        metavar="GLOB",
        help="namespaces apps may use or create, e.g. 'shoal-*' or '!kube-*'",
    )
    local.add_argument(
        "--allow-kind",
        action="append",
        metavar="GLOB",
        help="namespaced kinds apps may create: Kind or group/Kind, e.g. 'apps/*' or '!Secret'",
    )
    local.add_argument(
        "--allow-cluster-kind",
        action="append",
        metavar="GLOB",
        help="cluster-scoped kinds apps may create, e.g. Namespace; '!*' allows none",
    )
    local.add_argument(
        "--deny-privileged-rbac",
        action="store_true",
        help="refuse roles granting '*', escalate, bind or impersonate, and bindings of "
        "cluster-admin, admin, edit or system: roles, whatever fleet.yaml allows",
    )


def local_policy(args: argparse.Namespace) -> Policy:
    """The node owner's policy from the local policy flags (UNRESTRICTED when none is set)."""
    return Policy(
        source="this node's local policy (shoal edge --allow-*)",
        namespaces=tuple(args.allow_namespace or UNRESTRICTED.namespaces),
        kinds=tuple(args.allow_kind or UNRESTRICTED.kinds),
        cluster_kinds=tuple(args.allow_cluster_kind or UNRESTRICTED.cluster_kinds),
        privileged_rbac=not args.deny_privileged_rbac,
    )


def run(args: argparse.Namespace) -> int:
    from edge import nodeinfo
    from edge.agent import Agent, AgentSettings
    from edge.config import ConfigError, merge, read_config
    from edge.http import EdgeHttp, HttpAddressError, parse_address
    from edge.identity import (
        IdentityError,
        ReportKeyError,
        certificate_not_after,
        report_signer,
        say_how_reports_are_signed,
    )
    from edge.runtime.kubernetes import KubernetesRuntime, check_config, client_factory
    from edge.selfupdate.incluster import ClusterUpdater
    from edge.selfupdate.updater import RESTART_EXIT, from_environment
    from edge.store import StoreError

    try:
        merge(args, read_config(args.config) if args.config else None, DEFAULTS)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if not args.node:
        print(
            "error: the node's name is missing: --node NAME, or node: in --config", file=sys.stderr
        )
        return ExitCode.BAD_INPUT
    if not is_valid_node_name(args.node):
        print(
            f"error: --node {args.node!r} is not a valid node name "
            "(lowercase letters, digits, '.', '-', '_')",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    try:
        broker = BrokerOptions.from_args(args)
    except BrokerURLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        not_after = certificate_not_after(broker.cert_file) if broker.cert_file else ""
    except IdentityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    problem = check_config(args.kubeconfig, args.context, args.in_cluster)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    try:
        http_address = parse_address(args.http) if args.http else None
    except HttpAddressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    state_dir = args.state_dir or default_state_dir(args.node)
    if args.self_update == "host" and not os.environ.get(SUPERVISED):
        return _supervise(state_dir)
    if not args.debug:
        # urllib3 warns on every retried connection; the agent reports the outcome once.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    trusted = None
    if args.trust_key:
        from shadow.signing import KeyFileError, TrustedKeys, load_public_key

        keys = []
        for path in args.trust_key:
            try:
                keys.append(load_public_key(path.read_bytes()))
            except OSError as exc:
                print(f"error: --trust-key {path}: {exc.strerror or exc}", file=sys.stderr)
                return ExitCode.UNAVAILABLE
            except KeyFileError as exc:
                print(f"error: --trust-key {path}: {exc}", file=sys.stderr)
                return ExitCode.BAD_INPUT
        trusted = TrustedKeys(keys)
        log.info("accepting documents signed by %s", ", ".join(sorted(trusted.keys)))
    try:
        signer, signing_note = report_signer(args.report_key, broker.key_file)
    except ReportKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    settings = AgentSettings(
        report_signer=signer,
        trusted_keys=trusted,
        node=args.node,
        state_dir=state_dir,
        topics=Topics(args.topic_prefix),
        report_interval=args.report_interval,
        reconcile_interval=args.reconcile_interval,
        progress_interval=min(2.0, args.reconcile_interval),
        certificate_not_after=not_after,
        limits=DecodeLimits(args.max_document_bytes, DESIRED_LIMITS.max_depth),
        local_policy=local_policy(args),
    )
    identities = []
    for path in args.age_identity or ():
        try:
            identities += [
                line.strip()
                for line in path.read_text().splitlines()
                if line.strip().startswith("AGE-SECRET-KEY-")
            ]
        except OSError as exc:
            print(f"error: --age-identity {path}: {exc.strerror or exc}", file=sys.stderr)
            return ExitCode.UNAVAILABLE
    runtime = KubernetesRuntime(
        client_factory(args.kubeconfig, args.context, args.in_cluster),
        discovery_cache=state_dir / "discovery-cache.json",
        age_identities=identities,
        apply_concurrency=args.apply_concurrency,
    )
    updater: Any = from_environment(nodeinfo.agent_version())
    if args.self_update == "cluster":
        where = args.agent_deployment or f"{os.environ.get('POD_NAMESPACE', 'shoal')}/shoal-edge"
        namespace, _, name = where.partition("/")
        if not name:
            print(f"error: --agent-deployment {where!r}: expected NAMESPACE/NAME", file=sys.stderr)
            return ExitCode.USAGE
        updater = ClusterUpdater(
            client_factory(args.kubeconfig, args.context, args.in_cluster), namespace, name
        )
    try:
        agent = Agent(settings, runtime, broker, updater)
    except BrokerURLError as exc:  # TLS files that exist but cannot be loaded
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    http = None
    try:
        if http_address is not None:
            http = EdgeHttp(http_address, agent)
        agent.start()
    except (StoreError, HttpAddressError) as exc:
        if http is not None:
            http.stop()
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    if http is not None:
        http.start()
    log.info("edge agent for node %s running (state dir %s)", args.node, state_dir)
    if trusted is None:
        log.warning(
            "no --trust-key: accepting unsigned Desired documents from anyone on the broker"
        )
    say_how_reports_are_signed(signer, signing_note)
    try:
        while not stop.wait(0.5):
            if not agent.alive():
                print("error: the edge agent's loop stopped unexpectedly", file=sys.stderr)
                return ExitCode.UNAVAILABLE
            if agent.restart_requested:
                log.info("a new agent version is selected; handing over to it")
                return RESTART_EXIT
    finally:
        if http is not None:
            http.stop()
        agent.stop()
    log.info("edge agent for node %s stopped", args.node)
    return ExitCode.OK  # a requested stop (SIGTERM, Ctrl-C) is a normal end


def _supervise(state_dir: Path) -> int:
    """`--self-update`: run the agent as the supervisor's child, with the same flags."""
    from edge.selfupdate.agentdir import AgentDir
    from edge.selfupdate.supervisor import Supervisor

    argv = sys.argv[1:]
    child_args = argv[argv.index("edge") + 1 :] if "edge" in argv else argv
    child_args = _without_self_update(child_args)
    supervisor = Supervisor(AgentDir(state_dir / "agent"), child_args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: supervisor.stop())
    log.info("supervising the edge agent (self-update on; agent dir %s)", state_dir / "agent")
    return supervisor.run()


def _without_self_update(args: list[str]) -> list[str]:
    """The flags for the supervised agent: all but `--self-update [host]`."""
    kept: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value and arg == "host":
            skip_value = False
            continue
        skip_value = arg == "--self-update"
        if arg in ("--self-update", "--self-update=host"):
            continue
        kept.append(arg)
    return kept
