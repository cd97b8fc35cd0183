"""Verifying signed reports: what the controller's intake pays per report, against no checking.

    python -m bench.report_verify [--nodes 1000] [--rounds 5]

Builds `--nodes` reports the way edges send them (one app, a resource each, canonical
JSON), each signed with its node's own ECDSA P-256 key, and feeds every payload to the
status intake (`controller.status.intake.Intake.take`: decode, check, verify) `--rounds`
times (a new report per node each round) in the same run:

- baseline: the fleet records no reportKey, so intake decodes and checks but verifies
  nothing (what the controller did before signed reports);
- verified: every node's key is recorded, so every report is also verified;
- re-delivered: the last round's reports again, byte for byte (what the broker hands a
  reconnecting controller): each node's last verified payload is not verified twice.

Prints reports per second and microseconds per report for each, and the ratios. Signing
on the edge is timed too (one report at a time, as an agent does).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from controller.status.intake import Intake
from controller.status.verification import NodeKeys, ReportVerifier
from shadow import Topics
from shadow.reportsigning import ReportSigner
from tests.support.reports import report


def take_all(intake: Intake, messages: list[tuple[str, bytes]]) -> float:
    """Seconds to take every message; each must be taken as a report."""
    started = time.perf_counter()
    for topic, payload in messages:
        taken = intake.take(topic, payload)
        if taken.verdict != "report":
            raise SystemExit(f"{topic}: not taken ({intake.refused.get(taken.node)})")
    return time.perf_counter() - started


def summary(name: str, seconds: list[float], count: int) -> float:
    best, median = min(seconds), statistics.median(seconds)
    print(
        f"{name:<12} {count / median:>9,.0f} reports/s  {median / count * 1e6:>7.1f} us/report"
        f"  (best {best / count * 1e6:.1f} us)"
    )
    return median


SMALL_ARGS = ["--nodes", "50", "--rounds", "2"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    topics = Topics("shoal")
    signers = {f"node-{i:05}": ReportSigner.generate() for i in range(args.nodes)}
    started = time.perf_counter()
    # One batch per round: every node's next report (a new time, so new bytes and signature).
    batches = [
        [
            (
                topics.reported(node),
                signer.signed_json(
                    report(
                        node,
                        apps={"web": "Ready", "db": "Progressing"},
                        time=f"2026-12-01T00:00:{r:02}Z",
                    )
                ),
            )
            for node, signer in signers.items()
        ]
        for r in range(args.rounds)
    ]
    count = args.nodes
    signing = (time.perf_counter() - started) / (count * args.rounds)
    size = statistics.mean(len(p) for _, p in batches[0])
    print(f"{count} nodes, {args.rounds} rounds of signed reports of {size:.0f} bytes")
    print(f"signing on the edge: {signing * 1e6:.0f} us per report")

    nodes = frozenset(signers)
    keys = NodeKeys({node: signer.key_text() for node, signer in signers.items()})

    def intake(node_keys: Callable[[], NodeKeys | None]) -> Intake:
        return Intake(topics, lambda: nodes, verifier=ReportVerifier(node_keys))

    plain = intake(NodeKeys)  # no reportKey recorded: decoded and checked, not verified
    baseline = summary("baseline", [take_all(plain, b) for b in batches], count)
    verifying = intake(lambda: keys)
    verified = summary("verified", [take_all(verifying, b) for b in batches], count)
    # A controller reconnecting gets every retained report again, byte for byte.
    again = summary("re-delivered", [take_all(verifying, batches[-1]) for _ in batches], count)
    print(
        f"verified / baseline: {verified / baseline:.2f}x; re-delivered / baseline: {again / baseline:.2f}x"
    )


if __name__ == "__main__":
    main()
