"""The fault suite's scenarios, timed: fault -> converged, against a no-fault baseline.

    python -m bench.faults                       # every scenario once, with baselines (~5 min)
    python -m bench.faults --runs 3 --only edge_killed_mid_apply --only broker_killed
    python -m bench.faults --outage 10           # a shorter broker outage

Runs the scenarios of tests/faults/scenarios.py (the same code the fault tests run,
with the same assertions: converged to HEAD, generations only increase, no report
lost) on real processes: `shoal controller`, Mosquitto with persistence, `shoal edge`
against KubeSim, simulated edges for size. Before its fault, each scenario times one
change on the same fleet with no fault (push -> every node Synced at the new revision
on the status branch): the baseline. The fault's figure is the time from the fault (a
kill, or the broker's return after an outage; a killed process is restarted at once)
to the same convergence.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import tempfile
from pathlib import Path

from tests.faults.scenarios import OUTAGE_SECONDS, SCENARIOS, Outcome

SMALL_ARGS = ["--only", "edge_killed_mid_apply"]


def span(values: list[float]) -> str:
    """The median, and the range when there are several runs."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f} s"
    return f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})"


def main(argv: list[str] | None = None) -> int:
    names = [s.__name__ for s in SCENARIOS]
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--runs", type=int, default=1, help="runs of each scenario")
    parser.add_argument("--only", action="append", choices=names, help="run only these")
    parser.add_argument(
        "--outage", type=float, default=OUTAGE_SECONDS, help="broker outage in seconds"
    )
    args = parser.parse_args(argv)
    print(f"{'scenario':<42} {'fault -> converged':>18} {'push -> converged':>18} {'no fault':>9}")
    for scenario in SCENARIOS:
        if args.only and scenario.__name__ not in args.only:
            continue
        outcomes: list[Outcome] = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="shoal-faults-") as tmp:
                options: dict[str, object] = {"measure_baseline": True}
                if "outage" in inspect.signature(scenario).parameters:
                    options["outage"] = args.outage
                outcomes.append(scenario(Path(tmp), **options))  # type: ignore[operator]
        baselines = [o.baseline for o in outcomes if o.baseline is not None]
        print(
            f"{outcomes[0].scenario:<42} {span([o.seconds for o in outcomes]):>18} "
            f"{span([o.total for o in outcomes]):>18} {span(baselines):>9}"
        )
        for outcome in outcomes:
            facts = ", ".join(f"{k} {v}" for k, v in outcome.facts.items())
            print(f"    {outcome.fault} ({facts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
