"""Sealing one secret to 1,000 nodes: `shoal secret set` against a bare age loop.

    python -m bench.seal [--nodes 1000]

Builds a fleet of N nodes, each with its own age recipient, then times:
- baseline: `pyrage.encrypt` of the value once per recipient, nothing else;
- shoal: `shoal secret set NAME --selector ...` in-process (load and validate the fleet,
  seal per node, write secrets/NAME.yaml), and then `shoal validate` rendering a Secret
  that uses it on every node.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import pyrage
import yaml
from pyrage import x25519

from shoal.cli import main as shoal

SMALL_ARGS = ["--nodes", "50"]
TEMPLATE = (
    "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"
    'data:\n  password: {{ secret("db-password") }}\n'
)


def build(root: Path, nodes: int) -> list[str]:
    recipients = []
    (root / "nodes").mkdir(parents=True)
    (root / "fleet.yaml").write_text("name: bench\n")
    for i in range(nodes):
        recipient = str(x25519.Identity.generate().to_public())
        recipients.append(recipient)
        node = {"name": f"edge-{i:05d}", "tags": {"site": "paris"}, "recipient": recipient}
        (root / "nodes" / f"edge-{i:05d}.yaml").write_text(yaml.safe_dump(node))
    app = root / "apps" / "db"
    (app / "templates").mkdir(parents=True)
    (app / "app.yaml").write_text("name: db\nversion: '1'\nselector: site=paris\nnamespace: db\n")
    (app / "templates" / "secret.yaml.j2").write_text(TEMPLATE)
    return recipients


def quiet(argv: list[str], stdin: bytes = b"") -> int:
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return shoal(argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seal", description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fleet"
        recipients = build(root, args.nodes)
        value = b"correct-horse-battery-staple"
        started = time.perf_counter()
        for recipient in recipients:
            pyrage.encrypt(value, [x25519.Recipient.from_str(recipient)])
        bare = time.perf_counter() - started
        started = time.perf_counter()
        code = quiet(["secret", "set", "db-password", str(root), "--selector", "site=paris"], value)
        sealed = time.perf_counter() - started
        assert code == 0, "shoal secret set failed"
        started = time.perf_counter()
        code = quiet(["validate", str(root)])
        validated = time.perf_counter() - started
        assert code == 0, "shoal validate failed"
        size = (root / "secrets" / "db-password.yaml").stat().st_size
        stdin = sys.__stdin__
        sys.stdin = stdin
    print(f"sealing one secret to {args.nodes} nodes")
    print(f"bare age loop:        {bare:.3f} s ({bare / args.nodes * 1e3:.2f} ms per node)")
    print(
        f"shoal secret set:     {sealed:.3f} s ({sealed / bare:.1f}x the bare loop; the file is {size / 1024:.0f} KB)"
    )
    print(f"shoal validate:       {validated:.3f} s (every node renders its own sealed token)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
