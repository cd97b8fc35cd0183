"""A controller on a large fleet: first reconcile, then a push changing 10 % of nodes.

    python -m bench.fleet_push --root FLEET [--sites 100]

Run by `python -m bench.render_fleet --push` in a process of its own (so its peak
RSS is the controller's) on the fleet that benchmark wrote. Starts Mosquitto (as in
production: autosave every 30 min, `max_queued_messages 0`), then does what the
controller's pipeline does (`controller.service.reconciler.Reconciler`, with its
`RenderCache`, ledger and `Publisher`):

1. reconcile the fleet as it is: load, render every node, publish every document,
   wait for every PUBACK;
2. a push changing the vars of a tenth of the site groups (a tenth of the nodes):
   reconcile with the changed files named, as git names them, so it renders
   incrementally; a plain paho subscriber on `+/nodes/+/desired` notes when the
   last document of the new revision arrives.

Prints each step's time, the push → last changed document at the subscriber, and
the process's peak RSS, with the first reconcile's split: the highest RSS (sampled
every 20 ms) while loading and rendering, while diffing and issuing generations,
while `Publisher.publish` runs, and from then until the last PUBACK.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from controller.service.metrics import Metrics
from controller.service.publisher import Publisher
from controller.service.reconciler import Reconciler
from tests.support.controller import SlowSaveMosquitto
from transport import BrokerOptions, make_client


class Subscriber:
    """Counts the documents of one revision as they arrive."""

    def __init__(self, options: BrokerOptions) -> None:
        self.client = make_client(options, f"bench-sub-{uuid.uuid4().hex[:6]}")
        self.revision = ""
        self.seen: set[str] = set()
        self.received = 0
        self.last = 0.0
        self.lock = threading.Lock()
        self.client.on_message = self.on_message
        self.client.connect(options.host, options.port)
        self.client.subscribe("+/nodes/+/desired", qos=0)  # no PUBACK round trips
        self.client.loop_start()

    def on_message(self, _client: object, _userdata: object, message: object) -> None:
        payload: bytes = message.payload  # type: ignore[attr-defined]
        self.received += 1
        # A byte search, not a decode: the subscriber must keep up with the broker.
        if self.revision and f'"revision":"{self.revision}"'.encode() in payload:
            with self.lock:
                self.seen.add(message.topic)  # type: ignore[attr-defined]
                self.last = time.perf_counter()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): `ru_maxrss` would also count the image of
    the parent it was forked from (bench.render_fleet's, holding a 100,000-node fleet),
    which Linux carries over an exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


class RssPhases:
    """The highest RSS seen in each named phase, sampled by a thread every 20 ms, and
    how long each phase took."""

    def __init__(self) -> None:
        self.phase = "start"
        self.highest: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self._entered = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def enter(self, phase: str) -> None:
        self._note()
        now = time.perf_counter()
        self.seconds[self.phase] = now - self._entered
        self.phase, self._entered = phase, now
        self._note()

    def _note(self) -> None:
        rss = current_rss_mb()
        if rss > self.highest.get(self.phase, 0.0):
            self.highest[self.phase] = rss

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._note()

    def stop(self) -> str:
        self.enter("stopped")
        self._stop.set()
        self._thread.join()
        return ", ".join(
            f"{phase} {mb:.0f} MB ({self.seconds[phase]:.1f} s)"
            for phase, mb in self.highest.items()
            if phase not in ("start", "stopped")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_push", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the fleet (bench.render_fleet)")
    parser.add_argument("--sites", type=int, default=100)
    args = parser.parse_args(argv)
    root: Path = args.root

    with (
        tempfile.TemporaryDirectory(prefix="shoal-push-") as tmp,
        SlowSaveMosquitto(Path(tmp) / "mosquitto") as broker,
    ):
        options = BrokerOptions.from_url(broker.url)
        publisher = Publisher(options)
        publisher.start()
        publisher.wait_connected(10)
        reconciler = Reconciler(publisher, lambda topics: {}, Metrics(), work_dir=Path(tmp))
        before_publishing = []  # the peak RSS of loading, rendering and diffing
        publish, render = publisher.publish, reconciler._render
        phases = RssPhases()

        def noting_render(*args: Any) -> Any:
            phases.enter("load + render")
            rendered = render(*args)
            phases.enter("diff + issue")
            return rendered

        def noting_publish(*args: Any) -> int:
            before_publishing.append(peak_rss_mb())
            phases.enter("publish()")
            try:
                return publish(*args)
            finally:
                phases.enter("until the last PUBACK")

        publisher.publish = noting_publish  # type: ignore[method-assign]
        reconciler._render = noting_render  # type: ignore[method-assign]
        started = time.perf_counter()
        first = reconciler.reconcile("1" * 40, root)
        if not first.ok or not publisher.wait_confirmed(600):
            raise SystemExit(f"the first reconcile failed: {first.problems[:3]}")
        elapsed = time.perf_counter() - started
        split = phases.stop()
        publisher.publish = publish  # type: ignore[method-assign]
        reconciler._render = render  # type: ignore[method-assign]
        print(
            f"first reconcile: {elapsed:6.2f} s  {first.nodes} nodes "
            f"rendered, {first.published} documents published and acknowledged; "
            f"peak RSS {peak_rss_mb():.0f} MB ({before_publishing[0]:.0f} MB before publishing)"
        )
        print(f"highest RSS while (and how long): {split}")

        subscriber = Subscriber(options)
        try:
            # The retained burst of the subscription first (not timed): until 2 s pass
            # without a message, or all of them came.
            deadline, count, quiet = time.monotonic() + 300, -1, time.monotonic()
            while subscriber.received < first.published and time.monotonic() < deadline:
                if subscriber.received != count:
                    count, quiet = subscriber.received, time.monotonic()
                elif time.monotonic() - quiet > 2:
                    break
                time.sleep(0.05)
            print(f"subscriber: {subscriber.received} retained documents received first")
            changed = []
            for s in range(0, args.sites, 10):
                rel = f"groups/site-{s:03d}.yaml"
                path = root / rel
                path.write_text(path.read_text().replace("example.com", "changed.example.com"))
                changed.append(rel)
            revision = "2" * 40
            subscriber.revision = revision
            started = time.perf_counter()
            second = reconciler.reconcile(revision, root, lambda _old: list(changed))
            reconciled = time.perf_counter() - started
            deadline = time.monotonic() + 120
            while len(subscriber.seen) < second.published and time.monotonic() < deadline:
                time.sleep(0.01)
            last = subscriber.last - started
            print(
                f"push changing {len(changed)} site groups: reconcile {reconciled:.2f} s "
                f"({second.published} documents published); the last of them at the "
                f"subscriber {last:.2f} s after the push ({len(subscriber.seen)} received); "
                "target < 10 s"
            )
        finally:
            subscriber.stop()
            publisher.stop()
    print(f"controller peak RSS: {peak_rss_mb():.0f} MB (target <= 1.5 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
