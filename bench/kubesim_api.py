"""How fast the Kubernetes stand-in answers the official client: apply, re-apply, list.

    python -m bench.kubesim_api [--objects 500]

Starts a `KubeSim` and drives it through `kubernetes.dynamic.DynamicClient`, the way
the edge agent does, timing:

- baseline: GET of one Namespace through the same client (HTTP and client overhead,
  next to no store work);
- apply: server-side apply creating `--objects` ConfigMaps and as many Deployments;
- re-apply: the same manifests again (no-op applies: nothing is written);
- list: a labelled LIST of one app's objects among all of them.

Prints requests per second for each and their cost relative to the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoal.kubesim import KubeSim

SMALL_ARGS = ["--objects", "50"]


def manifests(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index in range(count):
        labels = {"app.kubernetes.io/managed-by": "shoal", "shoal.dev/app": f"app-{index % 10}"}
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{index}", "namespace": "bench", "labels": labels},
                "data": {"index": str(index), "payload": "x" * 200},
            }
        )
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"web-{index}", "namespace": "bench", "labels": labels},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": f"web-{index}"}},
                    "template": {
                        "metadata": {"labels": {"app": f"web-{index}"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                    },
                },
            }
        )
    return out


def timed(label: str, count: int, action: Callable[[], None], baseline: float | None) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    rate = count / seconds
    relative = f"  ({baseline / rate:.1f}x the baseline's cost per request)" if baseline else ""
    print(f"{label:<28} {count:>6} requests  {seconds:7.2f} s  {rate:8.0f}/s{relative}")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kubesim_api", description=__doc__)
    parser.add_argument("--objects", type=int, default=500, help="ConfigMaps (and Deployments)")
    args = parser.parse_args(argv)

    from kubernetes import client, dynamic

    with KubeSim(rollout_seconds=0) as sim, tempfile.TemporaryDirectory() as tmp:
        api = sim.api_client()
        dyn = dynamic.DynamicClient(api, cache_file=str(Path(tmp) / "discovery.json"))
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "bench"}})
        resources = {
            kind: dyn.resources.get(api_version=version, kind=kind)
            for version, kind in (("v1", "ConfigMap"), ("apps/v1", "Deployment"))
        }
        bodies = manifests(args.objects)
        rounds = max(len(bodies), 200)

        namespaces = dyn.resources.get(api_version="v1", kind="Namespace")

        def versions() -> None:
            for _ in range(rounds):
                dyn.get(namespaces, name="bench")

        def apply_all() -> None:
            for body in bodies:
                dyn.server_side_apply(
                    resources[body["kind"]], body=body, field_manager="shoal", force_conflicts=True
                )

        def list_one_app() -> None:
            for index in range(100):
                dyn.get(
                    resources["ConfigMap"],
                    namespace="bench",
                    label_selector=f"shoal.dev/app=app-{index % 10}",
                )

        print(f"kubesim at {sim.url}, {len(bodies)} objects")
        baseline = timed("baseline GET a Namespace", rounds, versions, None)
        timed("server-side apply (create)", len(bodies), apply_all, baseline)
        timed("server-side apply (no-op)", len(bodies), apply_all, baseline)
        timed("LIST one app by label", 100, list_one_app, baseline)
        api.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
