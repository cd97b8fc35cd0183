"""A 4-wave rollout over simulated nodes: gate delay, report CPU, full rollout time.

    python -m bench.rollout [--nodes 10000] [--connections 8] [--bake 1]

Sets up Mosquitto, a fleet repository of `--nodes` nodes whose app `web` has a rollout
policy (waves 10%, 25%, 50%, 100%; `--bake` seconds), `shoal controller` as a real
process, and the simulated edges of tests/support/simedges.py (each answers a Desired
document with a Synced report at once). Prints:

- per wave, the delay from the wave's last report to the next wave's first document
  (beyond the bake), and to the p99 of its documents (target p99 < 1 s), as the
  simulated edges (in this process) receive them, and as the controller logs them
  (the wave's last report received -> next wave opened; documents handed to the broker);
- the full rollout time, push to the last node Synced, against (waves - 1) x bake
  (no bake after the last wave): the overhead is the rest;
- the controller's CPU per 1,000 reports (every node's report sent again, three times)
  with no rollout active, and with one active (waiting at a manual gate: the engine
  decodes the open wave's reports), in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench._processes import start_controller, stop_controller
from controller.fleet.rollout import parse_policy
from controller.rollout.planning import plan_waves
from tests.support.controller import FleetRepo, SlowSaveMosquitto, git, web_app_with_rollout
from tests.support.simedges import SimulatedEdges
from tests.support.waiting import wait_until

SMALL_ARGS = ["--nodes", "400", "--bake", "0.5"]
WAVES = ["10%", "25%", "50%", "100%"]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def replay_reports(edges: SimulatedEdges, rounds: int) -> int:
    """Every node's last report sent again `rounds` times; returns how many."""
    sent = 0
    size = -(-len(edges.accepted) // len(edges.clients))
    names = sorted(edges.accepted)
    for _ in range(rounds):
        infos = []
        for index, client in enumerate(edges.clients):
            for node in names[index * size : (index + 1) * size]:
                payload = edges._reports.get(node)
                if payload:
                    infos.append(client.publish(edges.topics.reported(node), payload, qos=1))
                    sent += 1
        for info in infos:
            info.wait_for_publish(60)
    return sent


def report_cpu(pid: int, edges: SimulatedEdges) -> float:
    """Controller CPU seconds per 1,000 replayed reports."""
    time.sleep(1.0)  # let what came before settle
    before = cpu_seconds(pid)
    sent = replay_reports(edges, 3)
    time.sleep(1.5)  # the controller takes the tail of the burst
    return (cpu_seconds(pid) - before) / sent * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rollout", description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--bake", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shoal-bench-rollout-") as tmp:
        run(args, Path(tmp))
    return 0


def run(args: argparse.Namespace, root: Path) -> None:
    broker = SlowSaveMosquitto(root / "mosquitto").start()
    names = [f"node-{i:05}" for i in range(args.nodes)]
    repo = FleetRepo.create(root, {n: {"site": f"s{i % 10}"} for i, n in enumerate(names)})
    policy = {"waves": WAVES, "bake": args.bake}
    repo.write_yaml("apps/web/app.yaml", web_app_with_rollout("v1", policy))
    first = repo.commit_and_push("web v1")
    edges = SimulatedEdges(broker.url, names, args.connections)
    log = (root / "controller.log").open("wb")
    controller = start_controller(
        repo.remote, broker.url, root / "controller", log, status_interval=5
    )
    try:
        wait_until(
            lambda: len(edges.synced(first)) == args.nodes,
            180,
            message="timed out waiting for the first render",
        )
        idle = report_cpu(controller.pid, edges)

        repo.write_yaml("apps/web/app.yaml", web_app_with_rollout("v2", policy))
        second = repo.commit("web v2")
        pushed = time.monotonic()
        git(repo.work, "push", "-q", "origin", "main")
        synced = wait_until(
            lambda: s if len(s := edges.synced(second)) == args.nodes else None,
            600,
            message="timed out waiting for the rollout",
        )
        total = max(synced.values()) - pushed
        waves = plan_waves(parse_policy(policy, "bench"), {n: {} for n in names})
        print(f"rollout of {args.nodes} nodes in {len(waves)} waves, bake {args.bake:g} s:")
        delays, firsts = [], []
        for k in range(len(waves) - 1):
            last = max(synced[n] for n in waves[k].nodes)
            arrivals = [synced[n] - last - args.bake for n in waves[k + 1].nodes]
            delays += arrivals
            firsts.append(min(arrivals))
            print(
                f"  wave {k + 1} ({len(waves[k].nodes)}) last report -> wave {k + 2} "
                f"({len(waves[k + 1].nodes)}): first document {min(arrivals) * 1000:.0f} ms, "
                f"p99 {percentile(arrivals, 99) * 1000:.0f} ms beyond the bake"
            )
        print(
            f"  gate delay over all next-wave nodes: p50 {percentile(delays, 50) * 1000:.0f} ms, "
            f"p99 {percentile(delays, 99) * 1000:.0f} ms (target p99 < 1000 ms)"
        )
        lines = (root / "controller.log").read_text().splitlines()
        opened = [
            x.split(": ", 1)[1] for x in lines if "after the previous wave's last report" in x
        ]
        handed = [x.split(": ", 1)[1] for x in lines if "documents handed to the broker" in x]
        print("  in the controller (its log): last report received -> next wave's documents")
        totals = []
        for a, b in zip(opened, handed, strict=False):
            gate = float(a.split(" after the previous")[0].rsplit(" ", 1)[1].rstrip("s"))
            sent = float(b.rsplit(" ", 1)[1].rstrip("s"))
            totals.append(gate + sent)
            print(f"    {a}; {b.removeprefix('rollout: ')}")
        if totals:
            print(
                f"  controller gate, last report -> all the next wave's documents handed to "
                f"the broker: max {max(totals) * 1000:.0f} ms over {len(totals)} gates "
                f"(target p99 < 1000 ms)"
            )
        floor = (len(waves) - 1) * args.bake
        print(
            f"  full rollout {total:.2f} s = {len(waves) - 1} bakes x {args.bake:g} s "
            f"({floor:.2f} s) + {total - floor:.2f} s overhead"
        )

        gated = {"waves": ["10%", {"share": "100%", "manual": True}], "bake": 0}
        repo.write_yaml("apps/web/app.yaml", web_app_with_rollout("v3", gated))
        third = repo.commit_and_push("web v3, waiting at a manual gate")
        first_wave = len(plan_waves(parse_policy(gated, "bench"), {n: {} for n in names})[0].nodes)
        wait_until(
            lambda: len(edges.synced(third)) == first_wave,
            120,
            message="timed out waiting for the gated wave",
        )
        active = report_cpu(controller.pid, edges)
        print(
            f"controller CPU per 1,000 reports: {idle * 1000:.0f} ms with no rollout active, "
            f"{active * 1000:.0f} ms with one active ({first_wave} nodes in its open wave) "
            f"({(active / idle - 1) * 100 if idle else 0:+.0f} %)"
        )
    finally:
        stop_controller(controller)
        log.close()
        edges.close()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
