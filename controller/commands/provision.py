"""`shoal provision`: register nodes in bulk and write each one's install bundle.

From `--csv nodes.csv` (`name,tag=value,...` per line) or `--count N --prefix edge-
--tags site=paris`: checks every name and tag (naming the CSV line), issues each node a
key and certificate from the fleet CA, writes the bundles (`controller.identity.
bundles`) and makes one commit with `nodes/<name>.yaml` on a new branch, ready for a
pull request. Bundles are staged in a temporary folder and renamed into --out at the
end; the commit is made last; a failure leaves neither. `--bundle-for NODE` writes
bundles for nodes already in the fleet (a replaced machine), with new keys, and commits
them (`recipient:`, `reportKey:`) into the existing node files on a new branch.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.commands.ca import add_ca_dir_argument, ca_dir
from controller.commands.reporting import add_repo_argument
from controller.fleet.model import Fleet, Node
from controller.fleet.problems import FleetError
from controller.identity.authority import (
    DEFAULT_DAYS,
    Authority,
    AuthorityError,
    inside_git_repository,
)
from controller.identity.bundles import BundleSettings, bundle_files, rules_for, write_bundle
from controller.identity.provisioning import (
    ProvisionError,
    Registration,
    check,
    check_branch,
    commit_nodes,
    head_of,
    node_text,
    numbered,
    parse_tags,
    read_csv,
    rekeyed_text,
)
from shadow.errors import ExitCode
from shadow.reportsigning import ReportKey
from shadow.sealing import new_identity


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "provision",
        help="register nodes in bulk: one commit on a new branch, an install bundle each",
        description="Register nodes in the fleet repository REPO and write an install bundle "
        "per node into --out (key, certificate, fleet CA, edge.yaml, a systemd unit and a "
        "Kubernetes manifest; folder and .tar.gz, mode 0600). The node files go into one "
        "commit on a new branch, ready for a pull request; keys never enter the repository.",
        epilog="Examples: `shoal provision --csv nodes.csv --broker mqtts://mqtt.example.com:8883 "
        "--out ~/bundles`; `shoal provision --count 100 --prefix edge- --tags site=paris "
        "--broker ... --out ...`.",
    )
    add_repo_argument(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--csv", type=Path, metavar="FILE", help="one `name,tag=value,...` per line"
    )
    source.add_argument("--count", type=int, metavar="N", help="make N numbered names")
    source.add_argument(
        "--bundle-for",
        action="append",
        metavar="NODE",
        help="new bundles for nodes already in the fleet (repeatable): new keys, and a "
        "commit on a new branch recording them in the node files",
    )
    parser.add_argument(
        "--prefix", default="edge-", help="--count: name prefix (default: %(default)s)"
    )
    parser.add_argument("--tags", default="", metavar="K=V,...", help="--count: tags of every node")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="new or empty folder, outside the repository",
    )
    parser.add_argument(
        "--broker", required=True, metavar="URL", help="mqtts://host:port the nodes connect to"
    )
    parser.add_argument(
        "--branch", metavar="NAME", help="the new branch (default: provision/<first>-to-<last>)"
    )
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="certificate validity (default: %(default)s)"
    )
    parser.add_argument(
        "--image",
        default=BundleSettings.image,
        help="agent image in kubernetes.yaml (default: %(default)s)",
    )
    parser.add_argument(
        "--kubeconfig-path",
        default=BundleSettings.kubeconfig,
        metavar="PATH",
        help="the node's kubeconfig, for the systemd install (default: %(default)s)",
    )
    parser.add_argument(
        "--trust-key",
        type=Path,
        metavar="FILE",
        help="the controller's signing public key (shoal signing-key create): bundled, and "
        "the only key the nodes accept documents from",
    )
    add_ca_dir_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from controller.fleet.loading import load_fleet

    repo = Path(args.repo).absolute()
    try:
        try:
            fleet = load_fleet(repo)
        except FleetError as exc:
            first = exc.problems[0] if exc.problems else exc
            raise ProvisionError(f"{repo}: the fleet does not load: {first}") from None
        base = head_of(repo)
        registrations, commit = _registrations(args, fleet)
        authority = Authority.load(ca_dir(args))
        _check_out(args.out, repo)
        branch = args.branch or _default_branch(registrations, rekey=not commit)
        check_branch(repo, branch)
        settings = BundleSettings(
            broker=args.broker,
            topic_prefix=fleet.topic_prefix,
            image=args.image,
            kubeconfig=args.kubeconfig_path,
            days=args.days,
            rules=_rules(fleet, registrations),
            trust_key=_trust_key(args.trust_key),
        )
        started = time.monotonic()
        registrations = _write_bundles(args.out, registrations, authority, settings)
        try:
            if commit:
                files = {r.node_file(): node_text(r) for r in registrations}
            else:  # the node files as they are, with the new bundles' keys
                files = {
                    r.where: rekeyed_text((repo / r.where).read_text(encoding="utf-8"), r)
                    for r in registrations
                }
            sha = commit_nodes(repo, branch, base, files, _message(registrations, commit))
        except BaseException:
            shutil.rmtree(args.out, ignore_errors=True)
            raise
    except (ProvisionError, AuthorityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    seconds = time.monotonic() - started
    count = len(registrations)
    print(
        f"wrote {count} install bundle{'s' if count != 1 else ''} into {args.out} in {seconds:.1f}s"
    )
    node_files = f"{count} node file{'s' if count != 1 else ''}"
    if commit:
        print(f"committed {node_files} on branch {branch} ({sha[:12]})")
        print(f"  next: git push origin {branch}, open a pull request, merge it;")
        print("  then install each node from its bundle (docs/security.md)")
    else:
        print(f"committed the new keys to {node_files} on branch {branch} ({sha[:12]})")
        print(f"  next: merge {branch}, then install the new bundles: until the merge the")
        print("  controller refuses the nodes' reports (signed by a key git does not record);")
        print("  reseal the secrets they read (`shoal secret reseal`, docs/security.md)")
    return ExitCode.OK


def _registrations(args: argparse.Namespace, fleet: Fleet) -> tuple[list[Registration], bool]:
    if args.bundle_for:
        registrations = []
        for name in args.bundle_for:
            node = fleet.nodes.get(name)
            if node is None:
                near = difflib.get_close_matches(name, list(fleet.nodes), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ProvisionError(f"{fleet.root}/nodes: no node {name!r} in the fleet{hint}")
            if node.revoked:
                raise ProvisionError(
                    f"{node.file}: node {name!r} is revoked; remove `revoked: true` first"
                )
            registrations.append(Registration(name, dict(node.tags), node.file))
        return registrations, False
    existing = {n.name: n.file for n in fleet.nodes.values()}
    for path in (fleet.root / "nodes").glob("*.y*ml"):
        existing.setdefault(path.stem, f"nodes/{path.name}")
    if args.csv is not None:
        registrations = read_csv(args.csv)
    else:
        tags = parse_tags(args.tags.split(","), "--tags")
        registrations = numbered(args.count, args.prefix, tags, existing)
    check(registrations, existing)
    return registrations, True


def _check_out(out: Path, repo: Path) -> None:
    top = inside_git_repository(out.absolute())
    if top is not None and top.resolve() == repo.resolve():
        raise ProvisionError(f"--out {out}: inside the fleet repository; keys must never enter it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ProvisionError(f"--out {out}: not an empty folder (nothing is overwritten)")


def _default_branch(registrations: list[Registration], rekey: bool = False) -> str:
    first, last = registrations[0].name, registrations[-1].name
    kind = "provision/rekey-" if rekey else "provision/"
    return f"{kind}{first}" if first == last else f"{kind}{first}-to-{last}"


def _message(registrations: list[Registration], new: bool = True) -> str:
    names = [r.name for r in registrations]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    what = "Provision" if new else "New keys for"
    return f"{what} {len(names)} node{'s' if len(names) != 1 else ''}: {shown}\n"


def _rules(fleet: Fleet, registrations: list[Registration]) -> tuple[tuple[str, str], ...]:
    """What the agent may manage: the kinds the fleet's apps render for these nodes (one
    render per distinct tag set: new nodes differ only by name and tags)."""
    from controller.render.rendering import render_fleet

    representatives: dict[tuple[tuple[str, str], ...], Registration] = {}
    for reg in registrations:
        representatives.setdefault(tuple(sorted(reg.tags.items())), reg)
    nodes = dict(fleet.nodes)
    for reg in representatives.values():
        if reg.name not in nodes:
            nodes[reg.name] = Node(reg.name, dict(reg.tags), {}, reg.node_file())
    render = render_fleet(replace(fleet, nodes=nodes), [r.name for r in representatives.values()])
    if render.problems:
        raise ProvisionError(f"the fleet does not render for the new nodes: {render.problems[0]}")
    resources = [
        res for apps in render.apps.values() for app in apps.values() for res in app.resources
    ]
    return rules_for(resources)


def _write_bundles(
    out: Path, registrations: list[Registration], authority: Authority, settings: BundleSettings
) -> list[Registration]:
    """Write every bundle, each with a fresh age identity; the registrations with the
    recipients their node files record."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    progress = sys.stderr.isatty()
    try:
        total = len(registrations)
        keyed = []
        for done, reg in enumerate(registrations, 1):
            identity, recipient = new_identity()
            files = bundle_files(reg.name, authority, settings, identity)
            report_key = ReportKey.from_certificate(files["node.crt"]).text()
            keyed.append(replace(reg, recipient=recipient, report_key=report_key))
            write_bundle(staging, reg.name, files)
            if progress and (done == total or done % 25 == 0):
                print(
                    f"\rprovisioning: {done}/{total} bundles", end="", file=sys.stderr, flush=True
                )
        if progress:
            print(file=sys.stderr)
        os.chmod(staging, 0o700)
        if out.exists():
            out.rmdir()  # checked empty
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return keyed


def _trust_key(path: Path | None) -> bytes:
    """The controller's public key to bundle, checked; b"" without --trust-key."""
    if path is None:
        return b""
    from shadow.signing import KeyFileError, load_public_key

    try:
        data = path.read_bytes()
        load_public_key(data)
    except OSError as exc:
        raise ProvisionError(f"--trust-key {path}: {exc.strerror or exc}") from exc
    except KeyFileError as exc:
        raise ProvisionError(f"--trust-key {path}: {exc}") from exc
    return data
