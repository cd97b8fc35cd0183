"""Time from a commit that removes a node to that node's lock-out, against the time from
a commit to its Desired documents on the broker.

    python -m bench.revocation [--nodes 200] [--rounds 5]

A fleet of N nodes, a Mosquitto from `shoal broker-config`, and an in-process
controller following the local repository with `--dynamic-security`'s broker clients.
Each round connects one node with its certificate, commits the removal of its file,
and measures until the broker drops its session (the lock-out). Baseline: the same
commit's reconcile, until the controller has published it (`last_revision`), which is
the part revocation rides on. Prints min / median / max of both.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from controller.identity.authority import CONTROLLER_NAME, Authority
from controller.identity.revocation import BrokerClients
from controller.service.controller import Controller, ControllerSettings
from tests.identity.conftest import Client, broker_config, issue_files
from tests.support.controller import FleetRepo
from tests.support.mosquitto import GeneratedMosquitto, free_port
from tests.support.waiting import wait_until
from transport import BrokerOptions

SMALL_ARGS = ["--nodes", "20", "--rounds", "2"]


def options(port: int, base: Path, name: str) -> BrokerOptions:
    folder = base / "certs" / name
    return BrokerOptions(
        host="127.0.0.1",
        port=port,
        tls=True,
        ca_file=str(base / "ca" / "ca.crt"),
        cert_file=str(folder / f"{name}.crt"),
        key_file=str(folder / f"{name}.key"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.revocation")
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-revocation-"))
    try:
        authority = Authority.init(base / "ca", "bench CA")
        names = [f"node-{i:04d}" for i in range(args.nodes)]
        repo = FleetRepo.create(base, {n: {"site": "paris"} for n in names})
        port = free_port()
        assert broker_config(repo.work, base / "ca", base / "broker", port) == 0
        for name in [*names[: args.rounds], CONTROLLER_NAME]:
            issue_files(authority, name, base / "certs" / name)
        broker = GeneratedMosquitto(base / "broker", port).start()
        ctl = options(port, base, CONTROLLER_NAME)
        controller = Controller(
            ControllerSettings(
                repo=str(repo.work), work_dir=base / "work", broker=ctl, interval=3600
            )
        )
        clients = BrokerClients(ctl, CONTROLLER_NAME)
        controller.add(clients)
        controller.revision_listeners.append(clients.revision_reconciled)
        controller.start()
        lockouts, publishes = [], []
        try:
            wait_until(lambda: clients.applied is not None, 60)
            for name in names[: args.rounds]:
                node = Client(options(port, base, name), name)
                node.wait_connected()
                repo.remove(f"nodes/{name}.yaml")
                started = time.monotonic()
                revision = repo.commit(f"remove {name}")
                seen: dict[str, float] = {}
                while len(seen) < 2 and time.monotonic() - started < 60:
                    now = time.monotonic() - started
                    if node.disconnects:
                        seen.setdefault("lockout", now)
                    if controller.last_revision == revision:
                        seen.setdefault("published", now)
                    time.sleep(0.005)
                lockouts.append(seen["lockout"])
                publishes.append(seen["published"])
                node.close()
        finally:
            controller.stop()
            broker.stop()

        def summary(values: list[float]) -> str:
            return f"min {min(values):.2f}s, median {statistics.median(values):.2f}s, max {max(values):.2f}s"

        print(
            f"baseline: commit -> reconciled and published ({args.nodes} nodes): {summary(publishes)}"
        )
        print(
            f"shoal: commit -> node locked out of the broker: {summary(lockouts)} (promise: 10 s)"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
