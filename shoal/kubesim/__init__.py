"""A Kubernetes API server stand-in over real HTTP, for tests and `shoal demo`.

No API server can run where shoal is developed and demonstrated, so this package
serves the part of the Kubernetes API the edge agent uses — discovery, namespaces,
CRUD, server-side apply, label selectors, resourceVersion/generation and workload
rollouts — to the official `kubernetes` client. What it emulates and what it does
not: docs/kubernetes-stand-in.md.

    from shoal.kubesim import KubeSim
    with KubeSim(rollout_seconds=0.2) as sim:
        sim.write_kubeconfig(path)
"""

from shoal.kubesim.sim import KubeSim

__all__ = ["KubeSim"]
