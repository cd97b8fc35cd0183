"""Every app's rollout: which render each node gets, and the waves moving on reports.

The reconciler calls, under its lock:
- `plan(revision, fleet, rendered, previous)` for each good revision: an app whose
  render changed on nodes that had it (and whose policy asks for a rollout) starts a
  rollout of this revision (superseding one under way); the operator's control files
  (`rollouts/<app>.yaml`) are honoured; returns the nodes whose documents may change;
- `compose(node, apps, revision)` for each node it builds a document for: the app's
  new render inside the opened waves, the previous render (`from`) outside, each
  entry labelled with the commit its render came from;
- `expect(node, digest)` with each composed document's digest (a node is updated once
  it reports exactly that digest).
The `RolloutRunner` feeds `observe(node, report)` and `online(node, flag)` from the
broker and calls `evaluate(now)`, which advances, halts or rolls back and returns the
nodes to publish again. State changes are saved (`controller.rollout.store`) before any
document they cause is published, so a restarted controller resumes at the same wave.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.rollout import machine
from controller.rollout.control import Control, read_controls
from controller.rollout.machine import Rollout, WaveCounts
from controller.rollout.observed import Seen, app_fingerprint
from controller.rollout.planning import PlannedWave, plan_waves, rank
from controller.rollout.store import RolloutStore
from shadow import DesiredApp
from shadow.errors import ShoalError
from shadow.reportsigning import ReportKey

if TYPE_CHECKING:
    from controller.fleet.model import Fleet

log = logging.getLogger(__name__)

RenderedApps = Mapping[str, Mapping[str, DesiredApp]]
RenderRevision = Callable[[str], RenderedApps | None]


def _digest(app: DesiredApp | None) -> str:
    return app.digest if app is not None else ""


class RolloutEngine:
    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.store = RolloutStore(path)
        self.rollouts: dict[str, Rollout] = {}
        # app -> node -> the previous render (None: the app was not on the node) and
        # the commit it came from; for the members of the app's rollout.
        self.previous: dict[str, dict[str, DesiredApp | None]] = {}
        self.previous_revision: dict[str, dict[str, str]] = {}
        self.targets: dict[str, dict[str, str]] = {}  # app -> node -> digest rolled out
        self.last: dict[str, dict[str, Any]] = {}  # app -> status of a finished, replaced one
        self.controls: dict[str, Control] = {}
        self.handled: dict[str, str] = {}  # "app/promote|abort" -> the request id handled
        self.expected: dict[str, str] = {}  # node -> digest of its composed document
        self.reports: dict[str, Seen] = {}
        self.offline: set[str] = set()
        self.watched: frozenset[str] = frozenset()  # nodes of the open waves
        self.render_revision: RenderRevision = lambda revision: None
        self.changed = threading.Event()  # a watched report or a plan: evaluate soon
        self.gate_delays: list[float] = []  # seconds from a wave's last report to the next
        self.report_keys: dict[str, str] = {}  # node -> `reportKey` text (last good revision)
        self.require_signature = False
        self._keys: dict[str, ReportKey] = {}
        self._new: dict[str, set[str]] = {}  # app -> nodes getting the new render
        self._labels: dict[tuple[int, str], tuple[DesiredApp, DesiredApp]] = {}
        self._restored = False
        self.revision = ""  # the last revision planned
        loaded = self.store.load()
        if loaded is not None:
            self.rollouts, self.previous_revision, self.handled, self.last, self.revision = loaded
            self._restored = bool(self.rollouts)
            self._refresh()

    # --- the reconciler's side -----------------------------------------------------------

    def plan(
        self,
        revision: str,
        fleet: Fleet,
        rendered: RenderedApps,
        previous: tuple[str, RenderedApps] | None,
    ) -> set[str]:
        """Start, supersede or drop rollouts for `revision`; returns nodes to recompose."""
        with self.lock:
            self._labels.clear()
            touched: set[str] = set()
            if previous is None and self.revision and self.revision != revision:
                # A restart after commits: what the nodes have is the last planned revision.
                old = self.render_revision(self.revision)
                previous = (self.revision, old) if old is not None else None
            if self._restored:
                self._restore(revision, rendered)
            self.revision = revision
            self.controls = read_controls(fleet.root, fleet.apps)
            for name in sorted(set(self.rollouts) | set(fleet.apps)):
                app = fleet.apps.get(name)
                if app is None or app.rollout is None:
                    dropped = self.rollouts.pop(name, None)
                    if dropped is not None:
                        touched |= dropped.members()
                        self._forget(name)
                    continue
                if name in self.rollouts:
                    self._prune(name, self.rollouts[name], rendered)
                touched |= self._plan_app(revision, fleet, name, rendered, previous)
            touched |= self._apply_controls()
            now = self.clock()
            for rollout in self.rollouts.values():
                if rollout.active and rollout.opened == 0:
                    machine.step(rollout, WaveCounts(), now)  # wave 1 opens (unless paused)
                    touched |= set(rollout.wave_nodes())
            self._refresh()
            if self.rollouts or any(a.rollout is not None for a in fleet.apps.values()):
                self.report_keys = {n: s.report_key for n, s in fleet.nodes.items() if s.report_key}
                self.require_signature = fleet.require_signed_reports
                self.save()  # no policy anywhere: nothing to keep, no file written
                self.changed.set()
            return touched

    def _plan_app(
        self,
        revision: str,
        fleet: Fleet,
        name: str,
        rendered: RenderedApps,
        previous: tuple[str, RenderedApps] | None,
    ) -> set[str]:
        rollout = self.rollouts.get(name)
        old_revision, old = previous if previous is not None else ("", {})
        targets = self.targets.get(name, {})
        changed: list[str] = []
        for node, apps in rendered.items():
            new = apps.get(name)
            new_digest = new.digest if new is not None else ""
            if rollout is not None and node in targets:
                if targets[node] != new_digest:
                    changed.append(node)  # the change rolling out changed again
                continue
            if node not in old:
                continue  # a node new to the fleet: nothing to protect, it gets HEAD
            served = self._served(name, node, old[node].get(name))
            if (served.digest if served is not None else "") != new_digest:
                changed.append(node)
        if not changed:
            return set()
        fingerprint = app_fingerprint(fleet.root, name)
        if (
            rollout is not None
            and rollout.state != "Complete"
            and rollout.fingerprint == fingerprint
        ):
            # The app and fleet.yaml are as they were: a node or group file moved some
            # nodes' renders. The rollout goes on with them; nothing restarts or spreads.
            return self._retarget(name, rollout, changed, old, old_revision, rendered)
        # A new rollout (superseding any under way) from what each node has now.
        members = set(changed)
        if rollout is not None:
            members |= {n for n in rollout.members() if n in rendered}
            self.last[name] = rollout.status()
        before: dict[str, DesiredApp | None] = {}
        before_rev: dict[str, str] = {}
        for node in members:
            if node not in old and rollout is None:
                continue
            old_app = old[node].get(name) if node in old else None
            before[node] = self._served(name, node, old_app)
            before_rev[node] = self._served_revision(name, node, old_revision)
        members = {n for n in before if _digest(before[n]) != _digest(rendered[n].get(name))}
        if not members:
            self.rollouts.pop(name, None)
            self._forget(name)
            return set(before)
        policy = fleet.apps[name].rollout
        assert policy is not None
        waves = plan_waves(policy, {n: fleet.nodes[n].tags for n in members if n in fleet.nodes})
        source = Counter(before_rev[n] for n in members).most_common(1)[0][0]
        fresh = Rollout(name, fleet.apps[name].version, revision, source, policy, waves)
        fresh.fingerprint = fingerprint
        fresh.since = self.clock()
        if rollout is not None:
            log.warning(
                "rollout of %s %s supersedes %s at wave %d/%d: it starts again from wave 1; "
                "nodes already updated keep %s until their wave opens",
                name,
                revision[:12],
                rollout.revision[:12],
                rollout.current,
                len(rollout.waves),
                rollout.revision[:12],
            )
        self.rollouts[name] = fresh
        self.previous[name] = {n: before[n] for n in members}
        self.previous_revision[name] = {n: before_rev[n] for n in members}
        self.targets[name] = {
            n: rendered[n][name].digest if name in rendered[n] else "" for n in members
        }
        log.info(
            "rollout of %s %s (%s) to %d nodes in %d waves: %s",
            name,
            fresh.version,
            revision[:12],
            len(members),
            len(waves),
            ", ".join(f"{w.what} ({len(w.nodes)})" for w in waves),
        )
        return set(before) | set(changed)

    def _retarget(
        self,
        name: str,
        rollout: Rollout,
        nodes: list[str],
        old: RenderedApps,
        old_revision: str,
        rendered: RenderedApps,
    ) -> set[str]:
        """Nodes whose render of the app changed while its rollout is under way, the app
        itself unchanged (a node's own file, say): a member keeps its wave with the new
        target; another node joins the last wave. A halted change does not spread."""
        targets = self.targets.setdefault(name, {})
        joining = [n for n in nodes if n not in targets]
        for node in joining:
            self.previous.setdefault(name, {})[node] = self._served(name, node, old[node].get(name))
            self.previous_revision.setdefault(name, {})[node] = old_revision
        for node in nodes:
            targets[node] = _digest(rendered[node].get(name))
        if joining:
            last = rollout.waves[-1]
            joined = tuple(sorted(set(last.nodes) | set(joining), key=rank))
            rollout.waves[-1] = PlannedWave(joined, last.manual, last.what)
            log.info(
                "rollout of %s %s: %d nodes join its last wave (%s)",
                name,
                rollout.revision[:12],
                len(joining),
                ", ".join(sorted(joining)[:5]),
            )
        return set(nodes)

    def _prune(self, name: str, rollout: Rollout, rendered: RenderedApps) -> None:
        """Nodes that left the fleet leave the rollout's waves (they never report)."""
        gone = {n for n in rollout.members() if n not in rendered}
        if not gone:
            return
        rollout.waves = [
            PlannedWave(tuple(n for n in w.nodes if n not in gone), w.manual, w.what)
            for w in rollout.waves
        ]
        for table in (self.previous, self.previous_revision, self.targets):
            for node in gone:
                table.get(name, {}).pop(node, None)

    def _served(self, app: str, node: str, rendered: DesiredApp | None) -> DesiredApp | None:
        """What `node` has of `app` now: the previous render unless its wave opened."""
        rollout = self.rollouts.get(app)
        if rollout is None or node not in self.previous.get(app, {}):
            return rendered
        if node in self._new.get(app, set()):
            return rendered
        return self.previous[app][node]

    def _served_revision(self, app: str, node: str, fallback: str) -> str:
        rollout = self.rollouts.get(app)
        if rollout is None or node not in self.previous_revision.get(app, {}):
            return fallback
        if node in self._new.get(app, set()):
            return rollout.revision
        return self.previous_revision[app][node]

    def _restore(self, revision: str, rendered: RenderedApps) -> None:
        """After a restart: the previous renders again, from git (`render_revision`)."""
        self._restored = False
        renders: dict[str, RenderedApps | None] = {revision: rendered}
        for name, rollout in list(self.rollouts.items()):
            wanted = {rollout.revision, *self.previous_revision.get(name, {}).values()}
            for sha in sorted(wanted - renders.keys()):
                renders[sha] = self.render_revision(sha)
            target = renders.get(rollout.revision)
            if any(renders.get(sha) is None for sha in wanted) or target is None:
                log.error(
                    "rollout of %s %s cannot resume: a revision it needs no longer renders; "
                    "every node gets the newest render",
                    name,
                    rollout.revision[:12],
                )
                self.rollouts.pop(name)
                continue
            previous: dict[str, DesiredApp | None] = {}
            for node, sha in self.previous_revision.get(name, {}).items():
                apps = renders[sha] or {}
                previous[node] = apps.get(node, {}).get(name)
            self.previous[name] = previous
            self.targets[name] = {
                n: (target.get(n, {}).get(name).digest if name in target.get(n, {}) else "")  # type: ignore[union-attr]
                for n in previous
            }
            log.info(
                "rollout of %s %s resumes at wave %d/%d (%s)",
                name,
                rollout.revision[:12],
                rollout.current,
                len(rollout.waves),
                rollout.state,
            )
        self._refresh()

    def compose(
        self, node: str, apps: Mapping[str, DesiredApp], revision: str
    ) -> Mapping[str, DesiredApp]:
        """`node`'s apps as its document carries them now (see the module's docstring)."""
        if not self.rollouts:
            return apps
        with self.lock:
            return self._compose(node, apps, revision)

    def _compose(
        self, node: str, apps: Mapping[str, DesiredApp], revision: str
    ) -> Mapping[str, DesiredApp]:
        out = dict(apps)
        for name, rollout in self.rollouts.items():
            previous = self.previous.get(name, {})
            if node in previous and node not in self._new.get(name, ()):
                old = previous[node]
                if old is None:
                    out.pop(name, None)
                else:
                    out[name] = self._label(old, self.previous_revision[name][node])
            elif name in out:
                out[name] = self._label(
                    out[name], rollout.revision if node in previous else revision
                )
        return out

    def _label(self, app: DesiredApp, revision: str) -> DesiredApp:
        """`app.at_revision(revision)`, one object per (app, revision): shared renders stay
        shared, so the publisher encodes each once."""
        key = (id(app), revision)
        found = self._labels.get(key)
        if found is not None and found[0] is app:
            return found[1]
        labelled = app.at_revision(revision)
        self._labels[key] = (app, labelled)
        return labelled

    def expect(self, node: str, digest: str) -> None:
        if node in self.watched or self.rollouts:
            self.expected[node] = digest

    # --- the broker's side ---------------------------------------------------------------

    def wants(self, node: str) -> bool:
        return node in self.watched

    def report_key(self, node: str) -> tuple[bool, ReportKey | None]:
        """(whether `node`'s reports may count, the key they must be signed with): the
        policy of the status intake (docs/security.md, signed reports)."""
        text = self.report_keys.get(node, "")
        if not text:
            return not self.require_signature, None
        key = self._keys.get(text)
        if key is None:
            try:
                key = ReportKey.from_text(text)
            except ShoalError:
                return False, None
            self._keys[text] = key
        return True, key

    def observe(self, node: str, seen: Seen) -> None:
        self.reports[node] = seen
        self.offline.discard(node)
        self.changed.set()

    def online(self, node: str, flag: bool) -> None:
        if flag:
            self.offline.discard(node)
        else:
            self.offline.add(node)
        if node in self.watched:
            self.changed.set()

    def evaluate(self, now: float | None = None) -> set[str]:
        """Judge every open wave; returns the nodes whose documents change."""
        with self.lock:
            now = self.clock() if now is None else now
            touched: set[str] = set()
            moved = False
            for rollout in self.rollouts.values():
                before = (rollout.state, rollout.opened, rollout.decision)
                judged = rollout.wave_nodes()
                baked = rollout.baking_since is not None
                result = machine.step(rollout, self.count(rollout), now)
                if result.opened:
                    touched |= set(rollout.wave_nodes())
                    self._gate(rollout, judged, now, baked)
                if result.reverted:
                    touched |= rollout.opened_nodes()
                if (rollout.state, rollout.opened, rollout.decision) != before:
                    moved = True
                    log.info("rollout %s", rollout.decision)
            if moved:
                self._refresh()
                self.save()
            return touched

    def _gate(self, rollout: Rollout, judged: tuple[str, ...], now: float, baked: bool) -> None:
        """Log how long after the judged wave's last report the next wave opened."""
        arrivals = [s.at for n in judged if (s := self.reports.get(n)) is not None]
        if not arrivals:
            return
        delay = now - max(arrivals) - (rollout.policy.bake if baked else 0.0)
        self.gate_delays.append(max(delay, 0.0))
        log.info(
            "rollout of %s: %s %.3fs after the previous wave's last report%s",
            rollout.app,
            rollout.where(),
            max(delay, 0.0),
            " and its bake" if baked else "",
        )

    def count(self, rollout: Rollout) -> WaveCounts:
        """The open wave's counts from the nodes' last reports."""
        nodes = rollout.wave_nodes()
        counts = WaveCounts(wave=len(nodes))
        for node in nodes:
            seen = self.reports.get(node)
            expected = self.expected.get(node)
            if seen is not None and expected is not None and seen.digest == expected:
                counts.updated += 1
                state, message = seen.apps.get(rollout.app, ("Ready", ""))
                if state == "Ready":
                    counts.ready += 1
                elif state == "Failed":
                    counts.failed += 1
                    counts.failures.append((node, message or "Failed"))
            elif seen is not None and expected is not None and expected in seen.rejected:
                counts.failed += 1
                counts.failures.append((node, "refused the document"))
            elif node in self.offline or seen is None:
                counts.offline += 1
        counts.failures.sort()
        return counts

    def next_deadline(self) -> float | None:
        with self.lock:
            times = [t for r in self.rollouts.values() if (t := machine.deadline(r)) is not None]
            return min(times) if times else None

    # --- operator control ----------------------------------------------------------------

    def _apply_controls(self) -> set[str]:
        touched: set[str] = set()
        now = self.clock()
        for name, under_way in self.rollouts.items():
            under_way.paused = self.controls.get(name, Control(name)).paused
        for name, control in self.controls.items():
            rollout = self.rollouts.get(name)
            for kind, request in (("promote", control.promote), ("abort", control.abort)):
                if request is None or self.handled.get(f"{name}/{kind}") == request.id:
                    continue
                self.handled[f"{name}/{kind}"] = request.id  # honoured once, or never
                if rollout is None or not rollout.active:
                    log.warning(
                        "rollouts/%s.yaml: %s %s ignored: %s",
                        name,
                        kind,
                        request.describe(),
                        f"its rollout is {rollout.state}" if rollout else "no rollout under way",
                    )
                    continue
                if not request.applies(rollout.revision, rollout.current):
                    log.warning(
                        "rollouts/%s.yaml: %s %s does not apply to the rollout of %s at "
                        "wave %d: ignored",
                        name,
                        kind,
                        request.describe(),
                        rollout.revision[:12],
                        rollout.current,
                    )
                    continue
                if kind == "abort":
                    if machine.abort(rollout, now).reverted:
                        touched |= rollout.opened_nodes()
                else:
                    # The next wave opens as soon as this one is healthy: no bake, no gate.
                    rollout.promoted = True
                    log.info("rollout of %s: promoted at wave %d", name, rollout.current)
        return touched

    # --- bookkeeping ---------------------------------------------------------------------

    def _forget(self, app: str) -> None:
        for table in (self.previous, self.previous_revision, self.targets, self._new):
            table.pop(app, None)

    def _refresh(self) -> None:
        self._new = {
            name: set() if r.reverted else r.opened_nodes() for name, r in self.rollouts.items()
        }
        self.watched = frozenset(
            n for r in self.rollouts.values() if r.active for n in r.wave_nodes()
        )

    def save(self) -> None:
        self.store.save(
            self.rollouts, self.previous_revision, self.handled, self.last, self.revision
        )

    def status(self) -> dict[str, dict[str, Any]]:
        """Per app, its rollout under way or its last one (the `rollouts:` of controller.yaml)."""
        with self.lock:
            out = {name: dict(status) for name, status in self.last.items()}
            for name, rollout in self.rollouts.items():
                out[name] = rollout.status()
            return dict(sorted(out.items()))
