"""Publishing 10,000 changed Desired documents: shoal's publisher vs a plain paho loop.

    python -m bench.publish [--nodes 10000] [--inflight 20]

Starts a Mosquitto broker (tests.support; saving every 30 min, as in production),
builds one Desired document per node (~2.5 KB each, apps shared between nodes as
memoized renders are), then times:

- baseline: a plain paho loop publishing the same payloads, retained QoS 1, to the same
  broker, until the last PUBACK;
- shoal: `Reconciler`-style publishing through `controller.service.publisher.Publisher` —
  issue generations in the ledger (written to disk), encode each document
  (`controller.render.payloads`, byte-identical to `DesiredDocument.to_json()`), publish, wait until every PUBACK is in and the ledger
  is saved.

- shoal, signed: the same with every document signed (`--signing-key`, Ed25519);
- verifying: what the edge spends per document checking a signature.

Prints the times and the ratios (targets: shoal at most 1.2x the plain loop; signed at
most 1.2x unsigned).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path

from controller.render.payloads import DesiredEncoder
from controller.service.ledger import Ledger
from controller.service.publisher import DEFAULT_INFLIGHT, Publisher
from shadow import DesiredApp, DesiredDocument, Topics, now_ms
from shadow.signing import SigningKey, TrustedKeys
from tests.support.controller import SlowSaveMosquitto
from transport import BrokerOptions, make_client


def make_documents(nodes: int, revision: str) -> list[DesiredDocument]:
    apps = {}
    for a in range(20):  # 20 app variants, 3 per node: about 3 KB per document
        resources = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": f"app{a}",
                    "namespace": f"ns{a % 3}",
                    "labels": {"app": f"app{a}"},
                },
                "spec": {
                    "replicas": 1 + a % 3,
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "image": f"registry.example.com/app{a}:1.{a}.0",
                                    "env": [
                                        {"name": f"VAR_{i}", "value": "x" * 20} for i in range(8)
                                    ],
                                }
                            ]
                        }
                    },
                },
            }
        ]
        apps[f"app{a}"] = DesiredApp.build(f"1.{a}.0", f"ns{a % 3}", resources)
    names = sorted(apps)
    generation = now_ms()
    return [
        DesiredDocument.build(
            f"edge-{i:05d}", revision, generation, {n: apps[n] for n in names[i % 18 : i % 18 + 3]}
        )
        for i in range(nodes)
    ]


def plain_loop(options: BrokerOptions, topics: list[str], payloads: list[bytes]) -> float:
    # paho's own default window (20): the loop as anyone would write it.
    client = make_client(options, f"bench-plain-{uuid.uuid4().hex[:6]}", max_inflight=20)
    done = threading.Event()
    remaining = [len(payloads)]

    def on_publish(*_args: object) -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            done.set()

    client.on_publish = on_publish
    client.connect(options.host, options.port)
    client.loop_start()
    try:
        started = time.perf_counter()
        for topic, payload in zip(topics, payloads, strict=True):
            client.publish(topic, payload, qos=1, retain=True)
        done.wait(120)
        return time.perf_counter() - started
    finally:
        client.disconnect()
        client.loop_stop()


def shoal_publisher(
    options: BrokerOptions,
    documents: list[DesiredDocument],
    workdir: Path,
    inflight: int,
    signer: SigningKey | None = None,
) -> float:
    publisher = Publisher(options, max_inflight=inflight, signer=signer)
    publisher.start()
    publisher.wait_connected(10)
    ledger = Ledger(workdir / f"ledger-{uuid.uuid4().hex[:6]}.json")
    topics = Topics("bench")
    try:
        started = time.perf_counter()
        ledger.issue({d.node: (d.generation, d.digest) for d in documents})
        publisher.publish(topics, ledger, documents)
        if not publisher.wait_confirmed(120):
            raise SystemExit("the broker did not confirm every document")
        elapsed = time.perf_counter() - started
        assert not ledger.unconfirmed()
        return elapsed
    finally:
        publisher.stop()


SMALL_ARGS = ["--nodes", "1000", "--rounds", "1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--inflight", type=int, default=DEFAULT_INFLIGHT)
    parser.add_argument("--rounds", type=int, default=5, help="best of N for each side")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, SlowSaveMosquitto(Path(tmp) / "mosquitto") as broker:
        options = BrokerOptions.from_url(broker.url)
        documents = make_documents(args.nodes, "0" * 40)
        topics = Topics("bench")
        payloads = [d.to_json() for d in documents]
        size = sum(map(len, payloads)) / len(payloads)
        print(
            f"{args.nodes} Desired documents, {size / 1024:.1f} KB average, inflight {args.inflight} (plain loop: 20)"
        )
        signer = SigningKey.generate()
        plain_times, shoal_times, signed_times = [], [], []
        for _ in range(args.rounds):
            plain_times.append(
                plain_loop(options, [topics.desired(d.node) for d in documents], payloads)
            )
            shoal_times.append(shoal_publisher(options, documents, Path(tmp), args.inflight))
            signed_times.append(
                shoal_publisher(options, documents, Path(tmp), args.inflight, signer)
            )
        plain, shoal, signed = min(plain_times), min(shoal_times), min(signed_times)
        print(f"plain paho loop:  {plain:.3f} s  ({args.nodes / plain:,.0f} documents/s)")
        print(
            f"shoal publisher:  {shoal:.3f} s  ({args.nodes / shoal:,.0f} documents/s, "
            "including encoding and the ledger)"
        )
        print(f"ratio: {shoal / plain:.2f}x (target <= 1.2x)")
        print(f"shoal, signed:    {signed:.3f} s  ({signed / shoal:.2f}x unsigned; target <= 1.2x)")
        trusted = TrustedKeys([signer.public])
        wire = [json.loads(DesiredEncoder(signer).encode(d)) for d in documents[:1000]]
        started = time.perf_counter()
        for data in wire:
            trusted.verify(data)
        per = (time.perf_counter() - started) / len(wire)
        print(f"edge verification: {per * 1e6:.0f} us per document (canonical JSON + Ed25519)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
