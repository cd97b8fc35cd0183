"""`shoal provision --count 1000`, key generation included, against writing the same files.

    python -m bench.provision [--count 1000]

Copies the template fleet into a temporary git repository, creates a CA, and times:

- baseline: generating the same number of ECDSA P-256 keys and writing as many files
  (7 per node) with plain Python — the floor set by key generation and the disk;
- shoal: `shoal provision --count N` (in this process): checks, one render per tag set
  for the RBAC rules, keys and certificates, bundles (folder + .tar.gz), the commit.

Prints wall and CPU seconds of both (target: shoal under 10 s for 1,000 nodes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from controller.commands.init import template_dir
from controller.identity.authority import Authority, key_pem, new_key
from shoal.cli import main as shoal

SMALL_ARGS = ["--count", "50"]
TEMPLATE = template_dir()  # the fleet template `shoal init` copies


def timed(work) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    cpu, wall = os.times(), time.perf_counter()
    work()
    after = os.times()
    return time.perf_counter() - wall, (after.user - cpu.user) + (after.system - cpu.system)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.provision")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-provision-"))
    try:
        repo = base / "fleet"
        shutil.copytree(TEMPLATE, repo)
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@x",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@x",
        }
        for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fleet"]):
            subprocess.run(["git", "-C", str(repo), *command], check=True, env=env)
        os.environ.update({k: v for k, v in env.items() if k.startswith("GIT_")})
        Authority.init(base / "ca", "bench CA")

        def floor() -> None:
            out = base / "floor"
            out.mkdir()
            for i in range(args.count):
                data = key_pem(new_key())
                (out / str(i)).mkdir()
                for name in range(7):
                    fd = os.open(out / str(i) / str(name), os.O_WRONLY | os.O_CREAT, 0o600)
                    os.write(fd, data)
                    os.close(fd)

        def provision() -> None:
            code = shoal(
                [
                    "provision",
                    str(repo),
                    "--count",
                    str(args.count),
                    "--tags",
                    "site=paris,model=rpi4",
                    "--broker",
                    "mqtts://mqtt.example.com:8883",
                    "--out",
                    str(base / "bundles"),
                    "--ca-dir",
                    str(base / "ca"),
                ]
            )
            assert code == 0, code

        floor_wall, floor_cpu = timed(floor)
        wall, cpu = timed(provision)
        bundles = sum(1 for p in (base / "bundles").iterdir() if p.suffix == ".gz")
        print(
            f"baseline: {args.count} keys + {7 * args.count} files: {floor_wall:.2f}s wall, {floor_cpu:.2f}s CPU"
        )
        print(
            f"shoal provision --count {args.count}: {wall:.2f}s wall, {cpu:.2f}s CPU ({bundles} bundles, 1 commit)"
        )
        print(f"ratio: {wall / floor_wall:.2f}x the baseline; target under 10 s for 1,000 nodes")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
