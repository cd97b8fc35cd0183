"""Progressive rollout: an app's change reaches its nodes wave by wave (docs/rollouts.md).

The reconciler (`controller.service.reconciler`) asks the `RolloutEngine` which render
of each app every node gets (the new one inside the opened waves, the previous one
outside), and the `RolloutRunner` beside the controller advances the waves on the
Reported states a `ReportListener` hears and on the bake and offline timers, asking the
controller to publish the nodes whose documents change. Parts:

- `planning`: waves from a policy and node names (stable hash, shares, selectors); pure.
- `machine`: one app's rollout state and its decisions from the wave's counts; pure.
- `engine`: every app's rollout, the composition of documents, persistence.
- `observed`: a report reduced to what a wave judges; an app's files hashed.
- `control`: the operator's `rollouts/<app>.yaml` (pause, resume, promote, abort).
- `store`: the engine's state in the work dir, written atomically.
- `reports`: the controller's subscription to Reported and online messages.
- `runner`: the thread that feeds reports and timers to the engine.
- `previous`: a past revision rendered again from git (after a restart).

Below the service room and above render/fleet: it knows the fleet model and the
shadow contract, never the service, status or commands.
"""

from controller.rollout.engine import RolloutEngine
from controller.rollout.planning import plan_waves
from controller.rollout.previous import render_at
from controller.rollout.runner import RolloutRunner

__all__ = ["RolloutEngine", "RolloutRunner", "plan_waves", "render_at"]
