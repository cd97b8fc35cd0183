"""Time from `git push` to the last affected node's Desired document at a subscriber.

    python -m bench.push_to_edge [--nodes 10000] [--changed-sites 10] [--trigger local]

A synthetic fleet (`bench.render_fleet.build_fleet`: 100 sites, 20 apps) is pushed to
a bare repository; `shoal controller` runs in this process against a Mosquitto
broker with its webhook on a loopback port. After the first publish of every node, a
commit changes the vars of `--changed-sites` site groups (1,000 of 10,000 nodes),
is pushed with git and announced with a signed GitHub-style webhook; the clock stops
when a subscriber on `<prefix>/nodes/+/desired` has received every changed node's
document. With `--trigger local` the controller follows the working copy itself and
the commit is noticed by its ref watcher (no push, no webhook). Baseline in the same
run: the first (full) reconcile of the fleet.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from controller.service.controller import Controller, ControllerSettings
from tests.support.controller import SlowSaveMosquitto, git
from tests.support.waiting import wait_until
from transport import BrokerOptions, make_client

SMALL_ARGS = ["--nodes", "1000", "--changed-sites", "10"]
SECRET = "bench-secret"


def build(root: Path, nodes: int) -> None:
    from bench.render_fleet import build_fleet

    build_fleet(root, nodes, apps=20, sites=100, per_node_apps=1)


class Arrivals:
    """A subscriber in its own process (as edges are): after the retained burst it
    prints `ready`, reads a revision on stdin, then prints the wall-clock time of each
    arriving document of that revision."""

    def __init__(self, url: str, topic: str, retained: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.push_to_edge", "--subscriber", url, topic, str(retained)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the subscriber did not start")

    def expect(self, revision: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(revision + "\n")
        self.proc.stdin.flush()

    def last_of(self, count: int) -> float:
        """Wall-clock time at which the `count`-th document of the revision arrived."""
        assert self.proc.stdout is not None
        last = 0.0
        for _ in range(count):
            last = float(self.proc.stdout.readline())
        return last

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


class _Tally:
    received = 0
    revision = b"\0"


def subscriber(url: str, topic: str, retained: int) -> int:
    """The `--subscriber` process behind `Arrivals`."""
    options = BrokerOptions.from_url(url)
    client = make_client(options, f"bench-sub-{uuid.uuid4().hex[:6]}")
    tally = _Tally()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        tally.received += 1
        if tally.revision in msg.payload:
            print(time.time(), flush=True)

    client.on_connect = lambda c, *_: c.subscribe(topic, 1)
    client.on_message = on_message
    client.connect(options.host, options.port)
    client.loop_start()
    wait_until(lambda: tally.received >= retained, 300, interval=0.02)
    print("ready", flush=True)
    tally.revision = sys.stdin.readline().strip().encode()
    sys.stdin.readline()  # until the parent kills us
    return 0


def webhook(port: int, branch: str) -> int:
    body = json.dumps({"ref": f"refs/heads/{branch}"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook",
        data=body,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.push_to_edge", description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--changed-sites", type=int, default=10, help="site groups to change")
    parser.add_argument(
        "--trigger",
        choices=["webhook", "local"],
        default="webhook",
        help="webhook: push to a bare remote + signed webhook; local: commit in a watched working copy",
    )
    parser.add_argument(
        "--subscriber", nargs=3, metavar=("URL", "TOPIC", "RETAINED"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.subscriber:
        return subscriber(args.subscriber[0], args.subscriber[1], int(args.subscriber[2]))
    # The reconciler's log line splits each reconcile into render and publish time.
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    logging.getLogger("controller.service.reconciler").setLevel(logging.INFO)
    logging.getLogger("controller.service.controller").setLevel(logging.DEBUG)

    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
        base = Path(tmp)
        work, remote = base / "fleet", base / "remote.git"
        git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
        git(base, "init", "--quiet", "--initial-branch=main", str(work))
        build(work, args.nodes)
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", "synthetic fleet")
        git(work, "push", "--quiet", str(remote), "main")

        with SlowSaveMosquitto(base / "mosquitto") as broker:
            local = args.trigger == "local"
            controller = Controller(
                ControllerSettings(
                    repo=str(work if local else remote),
                    work_dir=base / "controller",
                    broker=BrokerOptions.from_url(broker.url),
                    interval=3600,
                    http=("127.0.0.1", 0),
                    webhook_secret=SECRET,
                    watch_local=local,
                )
            )
            started = time.perf_counter()
            controller.start()
            try:
                first = git(work, "rev-parse", "HEAD")
                wait_until(
                    lambda: (
                        controller.last_revision == first and controller.publisher.unconfirmed == 0
                    ),
                    600,
                    interval=0.05,
                )
                initial = time.perf_counter() - started
                print(
                    f"fleet: {args.nodes} nodes; first full reconcile + publish of every node: "
                    f"{initial:.2f} s (baseline)"
                )
                prefix = controller.topics.prefix if controller.topics else "shoal"
                # Ready once the retained burst (every node) has arrived: the clock starts after.
                arrivals = Arrivals(broker.url, f"{prefix}/nodes/+/desired", args.nodes)

                for s in range(args.changed_sites):
                    group = work / "groups" / f"site-{s:03d}.yaml"
                    group.write_text(group.read_text().replace(".example.com", "-new.example.com"))
                message = f"new NTP servers for {args.changed_sites} sites"
                reconciles = controller.metrics.reconciles
                published = controller.metrics.documents_published
                if local:
                    # The clock starts before `git commit`; the ref watcher is the only trigger.
                    # (The subscriber learns the sha right after: documents take longer.)
                    t0 = time.time()
                    git(work, "commit", "--quiet", "-am", message)
                    arrivals.expect(git(work, "rev-parse", "HEAD"))
                    t_push = t_hook = time.time()
                else:
                    git(work, "commit", "--quiet", "-am", message)
                    arrivals.expect(git(work, "rev-parse", "HEAD"))
                    t0 = time.time()
                    git(work, "push", "--quiet", str(remote), "main")
                    t_push = time.time()
                    webhook(controller.http.port if controller.http else 0, "main")
                    t_hook = time.time()
                wait_until(lambda: controller.metrics.reconciles > reconciles, 120, interval=0.005)
                t_reconciled = time.time()
                expected = controller.metrics.documents_published - published
                t_last = arrivals.last_of(expected)
                arrivals.close()
            finally:
                controller.stop()

        print(
            f"change: {args.changed_sites} site groups -> {expected} of {args.nodes} nodes changed"
        )
        if local:
            print(f"  git commit -> reconciled (queued): {t_reconciled - t0:6.3f} s")
        else:
            print(f"  git push:                          {t_push - t0:6.3f} s")
            print(f"  webhook answered:                  {t_hook - t_push:6.3f} s")
            print(f"  webhook -> reconciled (queued):    {t_reconciled - t_hook:6.3f} s")
        print(f"  queued -> last document arrived:   {t_last - t_reconciled:6.3f} s")
        what = "git commit (local, ref watcher)" if local else "git push (webhook)"
        print(f"{what} -> last affected node's document at the subscriber: {t_last - t0:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
