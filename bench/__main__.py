"""`python -m bench`: list the benchmarks; `--run` runs, with small sizes, those that
define `SMALL_ARGS` (the argv their `main(argv)` gets for a quick run)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def benchmarks() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--run", action="store_true", help="run each benchmark's small size")
    args = parser.parse_args(argv)
    names = benchmarks()
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        print(f"python -m bench.{name:<20} {summary}")
        if args.run:
            # A module opts in to `--run` with SMALL_ARGS (its argv for a quick run).
            small = getattr(module, "SMALL_ARGS", None)
            if small is None:
                print(f"  (skipped: run python -m bench.{name} yourself)")
                continue
            code = module.main(small)
            if code:
                return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
