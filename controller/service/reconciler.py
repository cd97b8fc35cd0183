"""One reconcile: a revision's files in, changed Desired documents out.

Called by `controller.service.controller.Controller` for each new commit (and by `--once`).
The steps, in order: load + validate + render the fleet (`controller.fleet.loading`,
`controller.render.rendering`) → diff each node's digest against the ledger → issue a
generation per changed node → publish. A revision that fails to load or render
publishes nothing: the last good state stays on the broker and the failure is kept
in `last_error` for `/healthz`, the log and `--once`'s exit status.

A node that left the repository gets a Desired document with no apps, so its edge
prunes everything; it stays in the ledger with that empty digest.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.fleet.agent import agent_release
from controller.service.ledger import Ledger
from controller.service.metrics import Metrics
from controller.service.publisher import Publisher
from shadow import DesiredApp, DesiredDocument, Topics, node_digest, now_ms
from transport import BrokerUnavailable

if TYPE_CHECKING:
    from controller.fleet.model import Fleet
    from controller.render.budget import RenderBudget
    from controller.render.incremental import Baseline, Rendered
    from controller.render.rendercache import RenderCache
    from controller.rollout import RolloutEngine

log = logging.getLogger(__name__)

EMPTY_DIGEST = node_digest({})

RetainedReader = Callable[[Topics], Mapping[str, tuple[int, str]]]
ChangedFiles = Callable[[str], list[str] | None]
CONTROL_FOLDER = "rollouts/"  # the operator's rollout decisions: they render nothing


@dataclass(frozen=True)
class RevisionError:
    """Why a revision was not published: the commit and every problem (file: message)."""

    revision: str
    problems: tuple[str, ...]
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "problems": list(self.problems),
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="seconds")[:-6] + "Z",
        }


@dataclass(frozen=True)
class Outcome:
    revision: str
    ok: bool
    published: int = 0
    nodes: int = 0
    seconds: float = 0.0
    problems: tuple[str, ...] = ()


class Reconciler:
    def __init__(
        self,
        publisher: Publisher,
        read_retained: RetainedReader,
        metrics: Metrics,
        *,
        work_dir: Path | None,
    ) -> None:
        self.publisher = publisher
        self.metrics = metrics
        self.work_dir = work_dir
        self._read_retained = read_retained
        self._ledgers: dict[str, Ledger] = {}
        # Nodes whose unconfirmed entry came from an earlier run: paho no longer holds
        # them, so they are sent again (same generation when the content is unchanged).
        self._orphans: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self.last_good: str | None = None
        self.last_error: RevisionError | None = None
        self.topics: Topics | None = None
        self._baseline: Baseline | None = None
        # The nodes of the last good revision (the status writer records only these).
        self.fleet_nodes: frozenset[str] | None = None
        # Compiled templates and render memos of unchanged apps, reused from commit to commit.
        self._render_cache: RenderCache | None = None
        # Asked between render steps: True stops the render (`RenderCancelled` goes up).
        self.cancel_render: Callable[[], bool] = lambda: False
        self.rendering: tuple[str, RenderBudget, float] | None = None  # revision, budget, start
        # Progressive rollouts (controller/rollout/): which render of an app each node
        # gets; the controller sets it. None: every change goes to every node at once.
        self.rollouts: RolloutEngine | None = None

    @property
    def fleet(self) -> Fleet | None:
        """The fleet of the last good revision."""
        return self._baseline.fleet if self._baseline is not None else None

    @property
    def served(self) -> Baseline | None:
        """The last good revision, its fleet model and every node's rendered apps (what
        the broker holds), or None before the first good reconcile. Read-only."""
        return self._baseline

    def ledger(self, prefix: str) -> Ledger:
        """The ledger for `prefix`, merged with the broker's retained documents on first use."""
        if prefix in self._ledgers:
            return self._ledgers[prefix]
        path = None
        if self.work_dir is not None:
            path = self.work_dir / f"ledger-{re.sub(r'[^A-Za-z0-9_.-]', '_', prefix)}.json"
        ledger = Ledger(path)
        stale = self._read_back(prefix, ledger)
        self._orphans[prefix] = stale
        log.info(
            "ledger for %s/: %d nodes known, %d to resend (missing, unreadable or older on "
            "the broker, or never confirmed)",
            prefix,
            len(ledger),
            len(stale),
        )
        self._ledgers[prefix] = ledger
        return ledger

    def _read_back(self, prefix: str, ledger: Ledger) -> set[str]:
        """Fold the broker's retained documents into `ledger`; return the nodes to resend.

        A node is resent when its topic is empty or unreadable, or carries an older
        generation or another digest than the ledger. The broker is not trusted to have
        kept what it acknowledged: its database may have been wiped, and a Mosquitto
        with a small max_queued_messages drops retained messages for a wildcard
        subscriber (docs/controller.md, "Broker facts"). Resending a document with the ledger's generation and
        digest is harmless: an edge skips a digest it already applied.
        """
        try:
            retained = self._read_retained(Topics(prefix))  # BrokerUnavailable: retried
        except OSError as exc:
            raise BrokerUnavailable(f"cannot read the broker: {exc}") from exc
        ledger.merge_broker(retained)
        stale = {
            node
            for node, entry in ledger.snapshot().items()
            if retained.get(node) != (entry.generation, entry.digest)
        }
        if stale:
            log.warning(
                "%d of %d Desired documents under %s/ are missing, unreadable or stale on "
                "the broker (%d read back); sending them again",
                len(stale),
                len(ledger),
                prefix,
                len(retained),
            )
        return stale

    def repair(self) -> int:
        """After a reconnect: read the retained documents back and resend, from the last
        good revision, every node the broker lost or holds wrong (a wiped or replaced
        broker, garbage on a topic). Returns how many documents were sent."""
        with self._lock:
            topics, baseline = self.topics, self._baseline
            if topics is None or baseline is None or topics.prefix not in self._ledgers:
                return 0  # nothing published yet: the first reconcile reads back anyway
            ledger = self._ledgers[topics.prefix]
            self._orphans[topics.prefix] = self._read_back(topics.prefix, ledger)
            documents = self._changed_documents(
                baseline.revision, baseline.fleet, baseline.apps, set(), ledger, topics.prefix
            )
            if documents:
                ledger.issue({d.node: (d.generation, d.digest) for d in documents})
                self.publisher.publish(topics, ledger, documents)
                self.metrics.republished(len(documents))
                log.info(
                    "revision %s: %d documents %s again to repair the broker",
                    baseline.revision[:12],
                    len(documents),
                    self._sent_how(documents),
                )
            self._orphans[topics.prefix] = set()
            return len(documents)

    def reconcile(
        self, revision: str, root: Path, changed_since: ChangedFiles | None = None
    ) -> Outcome:
        """Render `root` (the files of `revision`) and publish what changed.

        `changed_since(old_revision)` lists the files that differ from an older revision;
        with it, a commit touching only nodes and groups re-renders only affected nodes.
        """
        with self._lock:
            return self._reconcile(revision, root, changed_since)

    def _render(self, revision: str, root: Path, changed_since: ChangedFiles | None) -> Rendered:
        from controller.fleet.loading import load_fleet
        from controller.render.budget import RenderBudget, RenderLimits
        from controller.render.incremental import Rendered, render_changes
        from controller.render.rendercache import RenderCache
        from controller.render.rendering import render_fleet

        if self._render_cache is None:
            self._render_cache = RenderCache()
        cache = self._render_cache
        budget = RenderBudget(RenderLimits(), cancelled=self.cancel_render)
        self.rendering = (revision, budget, time.monotonic())
        try:
            baseline = self._baseline
            if baseline is not None and changed_since is not None:
                changed = changed_since(baseline.revision)
                if changed is not None:
                    changed = [p for p in changed if not p.startswith(CONTROL_FOLDER)]
                    partial = render_changes(baseline, root, changed, cache=cache, budget=budget)
                    if partial is not None:
                        return partial
            fleet = load_fleet(root)
            full = render_fleet(fleet, cache=cache, budget=budget)
            return Rendered(fleet, full.apps, full.problems, full.renders, None)
        finally:
            self.rendering = None

    def rendering_status(self) -> dict[str, Any] | None:
        """What /healthz shows while a revision renders: which, what, for how long."""
        rendering = self.rendering
        if rendering is None:
            return None
        revision, budget, started = rendering
        return {
            "revision": revision,
            "now": budget.what or "loading the fleet",
            "seconds": round(time.monotonic() - started, 1),
        }

    def _reconcile(self, revision: str, root: Path, changed_since: ChangedFiles | None) -> Outcome:
        from controller.fleet.problems import FleetError
        from controller.render.incremental import Baseline

        started = time.monotonic()
        try:
            render = self._render(revision, root, changed_since)
            problems = [str(p) for p in render.problems]
        except FleetError as exc:
            problems = [str(p) for p in exc.problems] or [str(exc)]
        if problems:
            return self._bad(revision, problems, started)
        fleet = render.fleet

        topics = Topics(fleet.topic_prefix)
        ledger = self.ledger(topics.prefix)  # may raise BrokerUnavailable
        self.topics = topics
        fresh = render.rendered
        if self.rollouts is not None:
            old = self._baseline
            previous = (old.revision, old.apps) if old is not None else None
            touched = self.rollouts.plan(revision, fleet, render.apps, previous)
            fresh = None if fresh is None else fresh | touched
        self._baseline = Baseline(revision, fleet, render.apps)
        if self.fleet_nodes is None or self.fleet_nodes != fleet.nodes.keys():
            self.fleet_nodes = frozenset(fleet.nodes)
        rendered_at = time.monotonic()
        documents = self._changed_documents(
            revision, fleet, render.apps, fresh, ledger, topics.prefix
        )
        if documents:
            ledger.issue({d.node: (d.generation, d.digest) for d in documents})
            self.publisher.publish(topics, ledger, documents)
        self._orphans[topics.prefix] = set()
        seconds = time.monotonic() - started
        self.metrics.reconciled(seconds, render.renders, len(documents), revision)
        self.last_good = revision
        log.info(
            "revision %s: %d of %d nodes rendered (%d renders) in %.2fs, %d documents %s in %.2fs",
            revision[:12],
            render.rendered_nodes,
            len(render.apps),
            render.renders,
            rendered_at - started,
            len(documents),
            self._sent_how(documents),
            seconds - (rendered_at - started),
        )
        return Outcome(revision, True, len(documents), len(render.apps), seconds)

    def publish_nodes(self, nodes: set[str]) -> int:
        """Rebuild `nodes`' documents from the last good revision and publish the ones
        that changed (a rollout's wave opened or rolled back). Returns how many went out."""
        with self._lock:
            topics, baseline = self.topics, self._baseline
            if topics is None or baseline is None:
                return 0
            ledger = self.ledger(topics.prefix)
            documents = self._changed_documents(
                baseline.revision, baseline.fleet, baseline.apps, nodes, ledger, topics.prefix
            )
            if documents:
                ledger.issue({d.node: (d.generation, d.digest) for d in documents})
                self.publisher.publish(topics, ledger, documents)
                log.info(
                    "revision %s: %d documents %s for the rollouts",
                    baseline.revision[:12],
                    len(documents),
                    self._sent_how(documents),
                )
            return len(documents)

    def _sent_how(self, documents: list[DesiredDocument]) -> str:
        """How the log should say documents went out: paho only queues them while the
        broker is away, and "published" would claim more than happened."""
        if not documents or self.publisher.connected:
            return "published"
        return "queued, waiting for the broker"

    def _bad(self, revision: str, problems: list[str], started: float) -> Outcome:
        seconds = time.monotonic() - started
        self.last_error = RevisionError(revision, tuple(problems))
        self.metrics.failed("render", seconds)
        log.error(
            "revision %s is not published (%s); %s stays live:\n  %s",
            revision[:12],
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''}",
            f"revision {self.last_good[:12]}" if self.last_good else "what the broker holds",
            "\n  ".join(problems),
        )
        return Outcome(revision, False, seconds=seconds, problems=tuple(problems))

    def _changed_documents(
        self,
        revision: str,
        fleet: Fleet,
        rendered: Mapping[str, Mapping[str, DesiredApp]],
        fresh: set[str] | None,
        ledger: Ledger,
        prefix: str,
    ) -> list[DesiredDocument]:
        """Documents for nodes whose digest differs from the ledger's. `fresh` names the
        nodes rendered this time (None: all); the others are unchanged since the last
        good revision, which was diffed already, so only orphans among them are checked."""
        orphans = self._orphans.get(prefix, set())
        known = ledger.snapshot()
        now = now_ms()
        documents = []
        candidates = rendered.keys() if fresh is None else fresh | (orphans & rendered.keys())
        current = [(node, rendered[node]) for node in sorted(candidates) if node in rendered]
        removed: list[tuple[str, Mapping[str, DesiredApp]]] = [
            (node, {}) for node in known if node not in rendered
        ]
        rollouts = self.rollouts
        for node, apps in (*current, *removed):
            entry = known.get(node)
            spec = fleet.nodes.get(node)
            agent = agent_release(fleet, spec) if spec is not None else None
            if rollouts is not None and node in rendered:
                apps = rollouts.compose(node, apps, revision)
            digest = node_digest(apps, agent)
            if rollouts is not None:
                rollouts.expect(node, digest)
            if entry is not None and entry.digest == digest:
                if node not in orphans:
                    continue
                generation = entry.generation  # same content: never a new generation
            else:
                generation = now if entry is None else max(now, entry.generation + 1)
            ordered = {name: apps[name] for name in sorted(apps)}
            documents.append(
                DesiredDocument(node, revision, generation, ordered, digest, agent=agent)
            )
        return documents
