"""`python -m shoal.kubesim`: run one stand-in API server by hand until Ctrl-C."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from shoal.kubesim import KubeSim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shoal.kubesim", description="Serve a Kubernetes API stand-in over HTTP."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    parser.add_argument(
        "--rollout-seconds",
        type=float,
        default=2.0,
        help="how long a workload rolls out, and a deleted namespace terminates (default 2)",
    )
    parser.add_argument("--version", default="v1.30.0", help="the Kubernetes version it reports")
    args = parser.parse_args(argv)
    sim = KubeSim(args.host, args.port, args.rollout_seconds, args.version).start()
    print(f"kubesim serving {sim.url}", flush=True)
    if args.kubeconfig:
        print(f"kubeconfig written to {sim.write_kubeconfig(args.kubeconfig)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        return 130
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
