"""Interpreter settings for a long-running process whose paho network threads share
the GIL with CPU-bound work and a large heap: the thread switch interval and the
garbage collector's thresholds.

Called once at start by `shoal controller` (`controller.commands.run`) and by the
simulated edges of `bench.status_fleet`. Measured on this project's 2-core machine
with a 10,000-node rollout (`python -m bench.status_fleet --nodes 10000`):

- **Switch interval.** paho's network thread makes a few system calls per MQTT packet
  and needs the GIL back after each one. While another thread computes (rendering a
  revision, building a status commit, taking in reports), CPython hands the GIL over
  only every `sys.getswitchinterval()` seconds, 5 ms by default, and a window of 20
  QoS 1 publishes crawls: 10,000 of them took 3.1-4.3 s beside one busy thread at
  5 ms, 0.8-0.9 s at 0.2 ms (0.8-1.1 s with no busy thread at all). A CPU-bound
  thread pays for the shorter interval only while another thread waits for the GIL.
- **Garbage collector.** With the default thresholds (700, 10, 10) the controller ran
  a full collection (every thread stopped) of 140-300 ms every second or two during a
  rollout, finding almost nothing: a rollout allocates millions of short-lived objects
  (documents, reports, status files) beside a heap of millions of long-lived ones
  (the fleet, its renders, the ledger, the status book). With (50,000, 20, 10) a full
  collection waits for about ten million allocations: a whole bench run (start and two
  rollouts) had one longer than 10 ms, where it had seven. Reference counting still
  frees at once everything that is not in a cycle; cycles wait for the next
  collection of their generation.
"""

from __future__ import annotations

import gc
import sys

# Seconds a thread may hold the GIL while another one waits for it.
SWITCH_SECONDS = 0.0002
# Allocations before a young collection; young collections per middle one; middle
# collections per full one (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 10)


def tune_interpreter() -> None:
    """Let waiting threads (paho's network loops) take the GIL after `SWITCH_SECONDS`,
    and collect garbage by `GC_THRESHOLDS`."""
    sys.setswitchinterval(SWITCH_SECONDS)
    gc.set_threshold(*GC_THRESHOLDS)
