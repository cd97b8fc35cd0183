"""The edge agent: one node's loop from desired document to Reported document.

`shoal edge` (edge/cli.py) builds an `Agent` from its flags; tests build one
in-process. Two threads matter:
- paho's network thread (edge/link.py) only queues payloads from the desired topic
  and flushes the waiting report on connect: it never waits for Kubernetes;
- the worker thread owns the store, the reconciler and the runtime. For each
  payload: judge it (edge/acceptance.py) → store it → apply it → observe → report.
  Between payloads it wakes for the reconcile interval (drift, retries), the report
  heartbeat, and — while an app is progressing — to poll health.

On start the worker re-applies the last accepted document from the store before
hearing from the broker, so a node that reboots offline runs what it was told.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from edge import nodeinfo
from edge.acceptance import judge
from edge.link import BrokerLink
from edge.reconciler import Reconciler
from edge.reporter import Reporter, build_report
from edge.runtime import Runtime
from edge.selfupdate.incluster import ClusterUpdater
from edge.selfupdate.updater import Updater
from edge.store import Store
from shadow import DesiredDocument, Rejection, ReportedDocument, Topics
from shadow.limits import DESIRED_LIMITS, DecodeLimits
from shadow.policy import UNRESTRICTED, Policy
from shadow.reportsigning import ReportSigner
from shadow.signing import TrustedKeys
from transport import BrokerOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSettings:
    """How one agent runs; the `shoal edge` flag for each field is in brackets."""

    node: str  # [--node] the identity in topics and documents
    state_dir: Path  # [--state-dir] the durable store (edge/store.py)
    topics: Topics = field(default_factory=Topics)  # [--topic-prefix]
    report_interval: float = 30.0  # [--report-interval] heartbeat reports
    reconcile_interval: float = 60.0  # [--reconcile-interval] drift checks and retries
    progress_interval: float = 2.0  # health polling while an app is progressing
    reconnect_max_delay: int = 30  # longest wait between broker reconnect attempts
    max_rejections: int = 10  # rejections kept for the next report
    certificate_not_after: str = ""  # [--cert-file] its expiry, reported in nodeInfo
    # Connected this long with no Desired document and none stored: say what to check.
    silence_warning: float = 120.0
    limits: DecodeLimits = DESIRED_LIMITS  # [--max-document-bytes] of a Desired document
    # [--trust-key] accept only documents signed by one of these keys (None: unsigned too)
    trusted_keys: TrustedKeys | None = None
    # [--report-key, else --key-file] signs every report (None: reports go unsigned)
    report_signer: ReportSigner | None = None
    # [--allow-namespace, --allow-kind, --allow-cluster-kind, --deny-privileged-rbac]
    # the node owner's policy: objects must pass it and their app's (shadow/policy.py).
    local_policy: Policy = UNRESTRICTED


_STOP = object()
_CONNECTED = object()
_WAKE = object()  # something to report: take a fresh observation


@dataclass(frozen=True)
class _Published:
    mid: int


class Agent:
    def __init__(
        self,
        settings: AgentSettings,
        runtime: Runtime,
        broker: BrokerOptions,
        updater: Updater | ClusterUpdater | None = None,
    ) -> None:
        self.settings = settings
        self.updater = updater  # set when a supervisor runs this agent (--self-update)
        if updater is not None:
            updater.on_change = lambda: self._inbox.put(_WAKE)  # report how it went
        if isinstance(updater, ClusterUpdater):
            updater.on_standby = self._standby
        self.runtime = runtime
        self.store = Store(settings.state_dir)
        self.link = BrokerLink(
            broker,
            settings.node,
            settings.topics,
            on_desired=self._inbox_put,
            on_connected=lambda: self._inbox.put(_CONNECTED),
            on_published=lambda mid: self._inbox.put(_Published(mid)),
            reconnect_max_delay=settings.reconnect_max_delay,
        )
        signer = settings.report_signer
        self.reporter = Reporter(
            self.link.publish_report,
            settings.report_interval,
            encode=signer.signed_json if signer is not None else ReportedDocument.to_json,
        )
        self.reconciler: Reconciler | None = None
        self.rejected: list[Rejection] = []
        self.documents_rejected = 0  # since start, by acceptance (for /metrics)
        self._inbox: queue.Queue[object] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._node_info = nodeinfo.collect(certificate_not_after=settings.certificate_not_after)
        self._something_progressing = False
        self._connected_at: float | None = None  # connected, no Desired document heard yet
        self._heard = False
        self.failures: dict[str, int] = {}  # unexpected errors by step, counted
        self.ready = threading.Event()  # set once the stored document was re-applied

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Agent:
        """Open the store (StoreError if another agent holds it), then run in the background."""
        self.store.open()
        self.reconciler = Reconciler(self.runtime, self.store, self.settings.local_policy)
        self._worker = threading.Thread(
            target=self._work, name=f"shoal-edge-{self.settings.node}", daemon=True
        )
        self._worker.start()
        self.link.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._inbox.put(_STOP)
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None
        self.link.stop()
        self.store.close()

    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def __enter__(self) -> Agent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- network thread ------------------------------------------------------------------

    def _inbox_put(self, payload: bytes) -> None:
        self._inbox.put(payload)

    # --- worker thread -------------------------------------------------------------------

    def _work(self) -> None:
        reconciler = self.reconciler
        assert reconciler is not None
        stored = self.store.load_desired()
        if stored is not None and stored.node != self.settings.node:
            log.error(
                "ignoring the stored document in %s: it is for node %s, not %s",
                self.store.state_dir,
                stored.node,
                self.settings.node,
            )
            stored = None
        if stored is not None:
            log.info(
                "re-applying stored generation %s (revision %s) for node %s",
                stored.generation,
                stored.revision[:12],
                stored.node,
            )
            self._guarded(lambda: reconciler.apply(stored, force=True))
        self._guarded(self._report)
        self.ready.set()
        if stored is not None:
            self._guarded(functools.partial(self._update_to, stored))
        next_reconcile = time.monotonic() + self.settings.reconcile_interval
        next_poll = time.monotonic() + self.settings.progress_interval
        while True:
            now = time.monotonic()
            wake = min(next_reconcile, now + self.reporter.seconds_to_heartbeat())
            if self._progressing():
                wake = min(wake, next_poll)
            if self._connected_at is not None:
                wake = min(wake, self._connected_at + self.settings.silence_warning)
            try:
                item = self._inbox.get(timeout=max(0.0, wake - now))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            self._guarded(self._check_silence)
            if item is _CONNECTED:
                if not self._heard and self._connected_at is None:
                    self._connected_at = time.monotonic()
                self._guarded(self.reporter.reconnected)
                continue  # link events need no new observation: the timers still apply
            if isinstance(item, _Published):
                self._guarded(functools.partial(self.reporter.acknowledged, item.mid))
                if self.updater is not None:
                    self._guarded(self.updater.healthy)  # connected, re-applied, reported
                continue
            if isinstance(item, bytes):
                self._heard, self._connected_at = True, None
                self._guarded(functools.partial(self._receive, item))
            now = time.monotonic()
            # An unreachable cluster is retried at the polling pace, not the reconcile's.
            retry = reconciler.needs_apply and now >= next_poll
            if now >= next_reconcile or retry:
                self._guarded(reconciler.reconcile)
                next_reconcile = now + self.settings.reconcile_interval
            if now >= next_poll:
                next_poll = now + self.settings.progress_interval
            self._guarded(self._report)

    def _guarded(self, step: Callable[[], object]) -> None:
        """Run one step; a bug in it is logged and the loop goes on (the node keeps running)."""
        try:
            step()
        except Exception:
            name = getattr(getattr(step, "func", step), "__name__", "step").lstrip("_")
            self.failures[name] = self.failures.get(name, 0) + 1
            log.exception("unexpected error in the edge agent loop (%s); continuing", name)

    def _check_silence(self) -> None:
        """Connected for a while and never told anything: say what usually causes it."""
        since = self._connected_at
        if since is None or time.monotonic() - since < self.settings.silence_warning:
            return
        self._connected_at = None  # said once
        if self.reconciler is not None and self.reconciler.document is not None:
            return  # working from its stored document: the controller may just be quiet
        log.warning(
            "no Desired document for node %s after %.0f s connected to the broker: check "
            "that the node is in the fleet (nodes/%s.yaml in the fleet repository, rendered "
            "by a running controller) and that this node's broker user may read %s (a "
            "broker denies a subscription it does not allow without telling the client)",
            self.settings.node,
            self.settings.silence_warning,
            self.settings.node,
            self.settings.topics.desired(self.settings.node),
        )

    def _progressing(self) -> bool:
        """Something is on its way (a rollout, a retry): poll faster than the reconcile."""
        return self._something_progressing or bool(self.reconciler and self.reconciler.failure)

    def _receive(self, payload: bytes) -> None:
        reconciler = self.reconciler
        assert reconciler is not None
        verdict = judge(
            payload,
            self.settings.node,
            reconciler.document,
            reconciler.applied_digest,
            limits=self.settings.limits,
            trusted=self.settings.trusted_keys,
        )
        if verdict.outcome == "duplicate":
            log.debug("desired generation already accepted; nothing to do")
            # The broker holds what the node runs again (the controller repaired a topic a
            # broker restored from an old save, or overwrote a bad document): the refusals
            # are over, and a report keeping them would flag a node that is fine.
            self.rejected = []
            return
        if verdict.outcome == "reject":
            assert verdict.rejection is not None
            log.warning("rejected a desired document: %s", verdict.rejection.reason)
            self.documents_rejected += 1
            if verdict.rejection not in self.rejected:
                self.rejected = [*self.rejected, verdict.rejection][-self.settings.max_rejections :]
            return
        document = verdict.document
        assert document is not None
        self.rejected = []
        try:
            self.store.save_desired(document)
        except OSError as exc:  # keep going: applying matters more than remembering
            log.error("cannot save the desired document in %s: %s", self.store.state_dir, exc)
        if verdict.outcome == "unchanged":
            log.info("generation %s: content already applied", document.generation)
            reconciler.adopt(document)
        else:
            log.info(
                "applying generation %s (revision %s, %d apps)",
                document.generation,
                document.revision[:12],
                len(document.apps),
            )
            reconciler.apply(document)
        self._update_to(document)

    def _update_to(self, document: DesiredDocument) -> None:
        """Start an agent update when the document names another release (supervised only)."""
        if self.updater is not None:
            self.updater.consider(document.agent)
        elif document.agent is not None and document.agent.version != self._node_info.agent:
            log.debug("agent %s is declared; self-update is off", document.agent.version)

    def _standby(self, on: bool) -> None:
        """While a new agent pod rolls out it takes the node's MQTT session; this one waits."""
        if on:
            log.info("handing the broker connection to the new agent pod")
            self.link.stop()
        else:
            log.info("the new agent pod was rolled back; taking the broker connection again")
            self.link.start()

    @property
    def restart_requested(self) -> bool:
        """A new agent version is selected: stop, so the supervisor starts it."""
        return self.updater is not None and self.updater.restart.is_set()

    def _report(self) -> None:
        reconciler = self.reconciler
        assert reconciler is not None
        apps = reconciler.observe()
        if not self._node_info.kubernetes:
            version = self.runtime.server_version()
            if version:
                self._node_info = replace(self._node_info, kubernetes=version)
        report = build_report(
            self.settings.node,
            reconciler.document,
            apps,
            failure=reconciler.failure,
            leftovers=reconciler.removal_errors(),
            node_info=self._node_info,
            rejected=self.rejected,
            agent_update=self.updater.status() if self.updater is not None else None,
        )
        self._something_progressing = any(app.state == "Progressing" for app in apps.values())
        self.reporter.submit(report)
