"""Time from `git push` to the last affected node's Desired document at a subscriber.

    python -m bench.push_to_edge [--nodes 10000] [--changed-sites 10]

A synthetic fleet (`bench.render_fleet.build_fleet`: 100 sites, 20 apps) is pushed to
a bare repository; `shoal controller` runs in this process against a Mosquitto
broker with its webhook on a loopback port. After the first publish of every node, a
commit changes the vars of `--changed-sites` site groups (1,000 of 10,000 nodes),
is pushed with git and announced with a signed GitHub-style webhook; the clock stops
when a subscriber on `<prefix>/nodes/+/desired` has received every changed node's
document. Baseline in the same run: the first (full) reconcile of the fleet.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from controller.service import Controller, ControllerSettings
from tests.support.controller import git
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from transport import BrokerOptions, make_client

SMALL_ARGS = ["--nodes", "1000", "--changed-sites", "10"]
SECRET = "bench-secret"


def build(root: Path, nodes: int) -> None:
    from bench.render_fleet import build_fleet

    build_fleet(root, nodes, apps=20, sites=100, per_node_apps=1)


class Arrivals:
    """Counts documents of one revision arriving on the wildcard subscription."""

    def __init__(self, url: str, topic: str) -> None:
        self.revision = b"\0"
        self.count = 0
        self.received = 0  # every message, the retained burst included
        self.last = 0.0
        self._lock = threading.Lock()
        options = BrokerOptions.from_url(url)
        self.client = make_client(options, f"bench-sub-{uuid.uuid4().hex[:6]}")
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(topic, 1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(options.host, options.port)
        self.client.loop_start()
        subscribed.wait(10)

    def expect(self, revision: str) -> None:
        with self._lock:
            self.revision, self.count = revision.encode(), 0

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        if self.revision in msg.payload:
            with self._lock:
                self.count += 1
                self.last = time.perf_counter()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


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
    args = parser.parse_args(argv)
    # The reconciler's log line splits each reconcile into render and publish time.
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    logging.getLogger("controller.reconciler").setLevel(logging.INFO)
    logging.getLogger("controller.service").setLevel(logging.DEBUG)

    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as tmp:
        base = Path(tmp)
        work, remote = base / "fleet", base / "remote.git"
        git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
        git(base, "init", "--quiet", "--initial-branch=main", str(work))
        build(work, args.nodes)
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", "synthetic fleet")
        git(work, "push", "--quiet", str(remote), "main")

        with Mosquitto(base / "mosquitto") as broker:
            controller = Controller(
                ControllerSettings(
                    repo=str(remote),
                    work_dir=base / "controller",
                    broker=BrokerOptions.from_url(broker.url),
                    interval=3600,
                    http=("127.0.0.1", 0),
                    webhook_secret=SECRET,
                    watch_local=False,
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
                arrivals = Arrivals(broker.url, f"{prefix}/nodes/+/desired")
                # Let the retained burst (every node) arrive before the clock starts.
                wait_until(lambda: arrivals.received >= args.nodes, 120, interval=0.05)

                for s in range(args.changed_sites):
                    group = work / "groups" / f"site-{s:03d}.yaml"
                    group.write_text(group.read_text().replace(".example.com", "-new.example.com"))
                git(
                    work,
                    "commit",
                    "--quiet",
                    "-am",
                    f"new NTP servers for {args.changed_sites} sites",
                )
                sha = git(work, "rev-parse", "HEAD")
                arrivals.expect(sha)
                reconciles = controller.metrics.reconciles
                published = controller.metrics.documents_published

                t0 = time.perf_counter()
                git(work, "push", "--quiet", str(remote), "main")
                t_push = time.perf_counter()
                webhook(controller.http.port if controller.http else 0, "main")
                t_hook = time.perf_counter()
                wait_until(lambda: controller.metrics.reconciles > reconciles, 120, interval=0.005)
                t_reconciled = time.perf_counter()
                expected = controller.metrics.documents_published - published
                wait_until(lambda: arrivals.count >= expected, 120, interval=0.005)
                t_last = arrivals.last
                arrivals.close()
            finally:
                controller.stop()

        print(
            f"change: {args.changed_sites} site groups -> {expected} of {args.nodes} nodes changed"
        )
        print(f"  git push:                        {t_push - t0:6.3f} s")
        print(f"  webhook answered:                {t_hook - t_push:6.3f} s")
        print(f"  webhook -> reconciled (queued):  {t_reconciled - t_hook:6.3f} s")
        print(f"  queued -> last document arrived: {t_last - t_reconciled:6.3f} s")
        print(f"git push -> last affected node's document at the subscriber: {t_last - t0:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
