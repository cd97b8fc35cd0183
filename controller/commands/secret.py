"""`shoal secret set|reseal|rm|list`: values in the fleet repository that only their nodes read.

`set NAME --selector S` reads the value from standard input (never from an argument, so
it stays out of shell history and `ps`), seals it to the age recipient of every node the
selector matches (shadow/sealing.py) and writes `secrets/NAME.yaml`; commit it like any
change. `reseal NAME` follows the fleet: entries of nodes that left are dropped, and nodes
that joined need the value again on standard input. `rm NAME` deletes the file; `list`
shows each secret with the nodes that can read it and those that match but cannot.
The controller never sees a value or a node's private key.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from controller.commands.reporting import add_repo_argument, print_problems


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "secret",
        help="seal a value to the nodes that need it (secrets/<name>.yaml)",
        description="Sealed secrets: a value sealed to each node a selector matches, readable "
        'by those nodes alone. Templates write {{ secret("NAME") }} inside a Secret\'s data '
        "or stringData; render, diff and the status branch show only <sealed NAME sha256:...>.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    set_ = verbs.add_parser(
        "set",
        help="seal a value read from standard input",
        description="Read the value from standard input (a prompt without echo on a "
        "terminal) and seal it to every node SELECTOR matches, into secrets/NAME.yaml.",
    )
    set_.add_argument("name", metavar="NAME")
    set_.add_argument(
        "--selector", required=True, help="the nodes that may read it, e.g. site=paris"
    )
    add_repo_argument(set_)
    reseal = verbs.add_parser(
        "reseal",
        help="follow nodes that joined or left (new nodes need the value on stdin)",
        description="Drop the entries of nodes the selector no longer matches; seal to nodes "
        "that now match, with the value read from standard input (needed only then).",
    )
    reseal.add_argument("name", metavar="NAME")
    add_repo_argument(reseal)
    rm = verbs.add_parser("rm", help="delete secrets/NAME.yaml")
    rm.add_argument("name", metavar="NAME")
    add_repo_argument(rm)
    list_ = verbs.add_parser("list", help="each secret and the nodes that can read it")
    list_.add_argument("--format", choices=["table", "json"], default="table")
    add_repo_argument(list_)
    return parser


def run(args: argparse.Namespace) -> int:
    from controller.fleet.loading import load_fleet
    from controller.fleet.problems import FleetError
    from controller.fleet.selectors import SelectorError, parse_selector

    root = Path(args.repo)
    try:
        fleet = load_fleet(root)
    except FleetError as exc:
        print_problems(exc.problems, sys.stderr)
        return 1
    if args.verb == "list":
        return _list(fleet, args.format)
    path = root / "secrets" / f"{args.name}.yaml"
    existing = fleet.secrets.get(args.name)
    if args.verb == "rm":
        if existing is None:
            return _unknown(args.name, fleet)
        path.unlink()
        print(f"removed {path.relative_to(root)}; commit it to take the secret off its nodes")
        return 0
    if args.verb == "set":
        try:
            selector = parse_selector(args.selector)
        except SelectorError as exc:
            print(f"error: --selector {args.selector!r}: {exc}", file=sys.stderr)
            return 1
        text, keep = args.selector, {}
    else:
        if existing is None:
            return _unknown(args.name, fleet)
        selector, text = existing.selector, existing.selector.text
        keep = existing.sealed
    matched = sorted(n for n, node in fleet.nodes.items() if selector.matches(node.tags))
    if not matched:
        print(f"error: selector {text!r} matches no node of the fleet", file=sys.stderr)
        return 1
    unready = [n for n in matched if not fleet.nodes[n].recipient]
    if unready:
        print(
            f"error: no age recipient for {', '.join(unready[:10])}"
            f"{' and more' if len(unready) > 10 else ''}: provision them (shoal provision) "
            "or add recipient: to their node files",
            file=sys.stderr,
        )
        return 1
    still = {n: keep[n] for n in matched if n in keep and keep[n][0] == fleet.nodes[n].recipient}
    joined = [n for n in matched if n not in still]
    if joined:
        value = _read_value(args.name)
        if value is None:
            print("error: no value on standard input", file=sys.stderr)
            return 1
        from shadow.sealing import seal

        for node in joined:
            sealed = seal(args.name, value, fleet.nodes[node].recipient)
            still[node] = (
                fleet.nodes[node].recipient,
                base64.b64encode(sealed.ciphertext).decode(),
            )
    left = sorted(set(keep) - set(still))
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "name": args.name,
        "selector": text,
        "sealed": {n: {"recipient": r, "value": v} for n, (r, v) in sorted(still.items())},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=10_000))
    print(
        f"sealed {args.name} to {len(still)} nodes ({len(joined)} new, {len(left)} dropped) "
        f"in {path.relative_to(root)}; commit it"
    )
    return 0


def _read_value(name: str) -> bytes | None:
    if sys.stdin.isatty():
        typed = getpass.getpass(f"value of {name}: ")
        return typed.encode() if typed else None
    data = sys.stdin.buffer.read()
    data = data[:-1] if data.endswith(b"\n") and not data.endswith(b"\n\n") else data
    return data or None


def _unknown(name: str, fleet: Any) -> int:
    from controller.commands.reporting import unknown_name

    print(f"error: {unknown_name('secret', name, sorted(fleet.secrets))}", file=sys.stderr)
    return 1


def _list(fleet: Any, fmt: str) -> int:
    rows = []
    for name, secret in sorted(fleet.secrets.items()):
        matched = sorted(n for n, node in fleet.nodes.items() if secret.selector.matches(node.tags))
        readers = [
            n
            for n in matched
            if n in secret.sealed and secret.sealed[n][0] == fleet.nodes[n].recipient
        ]
        rows.append(
            {
                "name": name,
                "selector": secret.selector.text,
                "readers": readers,
                "missing": [n for n in matched if n not in readers],
                "stale": sorted(set(secret.sealed) - set(matched)),
            }
        )
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no secrets (shoal secret set NAME --selector S < value)")
    for row in rows:
        print(
            f"{row['name']}  selector {row['selector']!r}: {len(row['readers'])} nodes can read it"
        )
        if row["missing"]:
            print(
                f"    cannot read it yet: {', '.join(row['missing'])} (shoal secret reseal {row['name']})"
            )
        if row["stale"]:
            print(f"    sealed to nodes it no longer selects: {', '.join(row['stale'])}")
    return 0
