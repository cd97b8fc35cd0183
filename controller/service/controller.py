"""The running controller: the git source, triggers, reconciler, publisher and HTTP
endpoint wired together, with `start()` / `stop()` and `run_once()`.

`controller.commands.run` builds a `Controller` from the command line. Parts that
run beside the pipeline (the status writer) join with `controller.add(component)`
before `start()`: a component is anything with `start()` and `stop()`; it can read
`controller.broker` (the resolved broker options) and `controller.topics` (known
after the first good revision).

Triggers (poll timer, webhook, local ref watcher) only set an event; one worker
thread fetches and reconciles, so bursts of triggers coalesce into one fetch and
revisions are reconciled one at a time, in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from controller.gitcli import GitFailed, local_path
from controller.render.budget import RenderCancelled
from controller.rollout import RolloutEngine, RolloutRunner, render_at
from controller.service.http import Endpoints, HttpServer, PageHandler
from controller.service.metrics import LiveValues, Metrics
from controller.service.publisher import Publisher
from controller.service.readback import read_retained
from controller.service.reconciler import Outcome, Reconciler
from controller.service.source import GitSource, RefWatcher
from shadow import Topics
from shadow.errors import ExitCode, Unavailable
from shadow.signing import SigningKey
from transport import BrokerOptions, BrokerUnavailable, EmbeddedBroker

if TYPE_CHECKING:
    from controller.fleet.model import Fleet

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # after a git or broker failure, sooner than the poll interval
STOP_GRACE_SECONDS = 5.0  # on stop, wait this long for unacknowledged documents


class Component(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class ControllerSettings:
    """Everything `shoal controller` is told on its command line."""

    repo: str  # URL or local path of the fleet repository
    work_dir: Path  # bare clone, checkouts and ledgers
    branch: str = "main"
    broker: BrokerOptions | None = None  # None: start the embedded broker
    embedded_port: int = 1883
    interval: float = 30.0  # seconds between polls
    http: tuple[str, int] | None = None  # serve /healthz, /metrics, /webhook here
    webhook_secret: str | None = None
    http_token: str | None = None  # needed by everything on --http but /healthz, /webhook
    watch_local: bool = True  # watch a local repository's refs (commit → publish in < 1 s)
    connect_timeout: float = 10.0
    signing_key: SigningKey | None = None  # sign every Desired document (--signing-key)


class Controller:
    def __init__(self, settings: ControllerSettings) -> None:
        self.settings = settings
        # Per app, what the rollout engine is doing (its state, wave, counts, decision);
        # set first, so the engine, built below, replaces it. controller.yaml records it.
        self.rollout_status: Callable[[], dict[str, dict[str, Any]]] = lambda: {}
        self.metrics = Metrics()
        self.source = GitSource(settings.repo, settings.branch, settings.work_dir)
        self.components: list[Component] = []
        self.embedded: EmbeddedBroker | None = None
        self.broker: BrokerOptions = settings.broker or BrokerOptions(port=settings.embedded_port)
        self.publisher = Publisher(self.broker, signer=settings.signing_key)
        self.reconciler = Reconciler(
            self.publisher,
            lambda topics: read_retained(self.broker, topics, settings.connect_timeout),
            self.metrics,
            work_dir=settings.work_dir,
        )
        # Progressive rollouts (docs/rollouts.md): the engine, and the thread that moves
        # its waves on reports and timers; `rollout_status()` is what controller.yaml shows.
        self.rollouts = RolloutEngine(settings.work_dir / "rollouts.json")
        self.rollouts.render_revision = self._render_revision
        self.reconciler.rollouts = self.rollouts
        self.rollout_status = self.rollouts.status
        self.rollout_runner = RolloutRunner(
            self.rollouts, self.broker, lambda: self.topics, self.reconciler.publish_nodes
        )
        self.publisher.on_reconnect = self._broker_reconnected
        self.publisher.on_lost = lambda: self.metrics.failed("broker")
        self.metrics.add_collector(
            LiveValues(
                lambda: self.publisher.connected,
                lambda: self.publisher.confirmed_total,
                lambda: self.source.fetches,
            )
        )
        self.http: HttpServer | None = None
        # Every other GET on --http (the dashboard, handed in by `shoal controller`).
        self.pages: PageHandler | None = None
        self.last_revision: str | None = None  # last revision fetched and reconciled
        self.last_source_error: str | None = None
        self.last_internal_error: str | None = None  # a bug in the last reconcile, until one works
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._retry = False  # a failure: wake again in RETRY_SECONDS, not the poll interval
        self._reconcile_again = False  # the broker failed mid-reconcile: redo even if unmoved
        self._repair = threading.Event()  # reconnected: check what the broker still holds
        self._internal: list[Component] = []
        # Called with (revision, fleet) after each good revision, on the reconcile thread;
        # e.g. the broker's client list following the fleet (controller.identity.revocation).
        self.revision_listeners: list[Callable[[str, Fleet], None]] = []
        # A newer commit arrived while a revision rendered: drop that render, take the new.
        self._superseded = threading.Event()
        self._peeking = threading.Lock()
        self.reconciler.cancel_render = lambda: self._stopping.is_set() or self._superseded.is_set()

    @property
    def topics(self) -> Topics | None:
        return self.reconciler.topics

    def add(self, component: Component) -> None:
        """Run `component` beside the pipeline (started last, stopped first)."""
        self.components.append(component)

    # --- lifecycle ----------------------------------------------------------------------

    def _start_broker(self) -> None:
        try:
            self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(f"cannot use the work dir {self.settings.work_dir}: {exc}") from exc
        if self.settings.broker is None:
            self.embedded = EmbeddedBroker("127.0.0.1", self.settings.embedded_port)
            self.embedded.start()
            log.warning(
                "no --broker given: started an embedded MQTT broker on %s (for trying shoal "
                "out; it keeps retained documents in memory only)",
                self.embedded.url,
            )
        self.publisher.start()

    def start(self) -> None:
        """Start every part in the background; the first reconcile runs at once."""
        self._start_broker()
        if self.settings.http is not None:
            self.http = HttpServer(
                self.settings.http,
                Endpoints(
                    health=self.health,
                    metrics=self.metrics.render,
                    on_push=lambda reason: self.trigger(f"webhook: {reason}"),
                    branch=self.settings.branch,
                    webhook_secret=self.settings.webhook_secret,
                    pages=self.pages,
                    token=self.settings.http_token,
                ),
            )
            self.http.start()
        local = local_path(self.settings.repo)
        if self.settings.watch_local and local is not None and local.is_dir():
            watcher = RefWatcher(local, self.settings.branch, lambda: self.trigger("local commit"))
            watcher.start()
            self._internal.append(watcher)
        self._worker = threading.Thread(target=self._work, name="controller-reconcile", daemon=True)
        self._worker.start()
        self.rollout_runner.start()
        self._internal.append(self.rollout_runner)
        for component in self.components:
            component.start()
        log.info(
            "following %s branch %s (poll every %gs)",
            self.source.display_url,
            self.settings.branch,
            self.settings.interval,
        )

    def stop(self) -> None:
        self._stopping.set()  # first: a render under way stops at its next step
        for component in reversed(self.components):
            try:
                component.stop()
            except Exception as exc:  # stopping: report and go on with the rest
                log.error("stopping %s: %s", type(component).__name__, exc)
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(30)
        for part in self._internal:
            part.stop()
        self._internal.clear()
        if self.http is not None:
            self.http.stop()
        if self.publisher.connected and self.publisher.unconfirmed:
            # Give in-flight documents a moment; the ledger resends the rest on the next start.
            self.publisher.wait_confirmed(STOP_GRACE_SECONDS)
        self.publisher.stop()
        if self.embedded is not None:
            self.embedded.stop()

    def _render_revision(self, revision: str) -> Any:
        """Every node's apps as `revision` renders them (a rollout's previous render,
        after a restart); None when it does not render."""
        return render_at(self.source.repo_dir, revision, self.reconciler.cancel_render)

    def _broker_reconnected(self) -> None:
        self._repair.set()
        self.trigger("reconnected to the broker")

    def trigger(self, reason: str) -> None:
        """Ask for a fetch + reconcile soon (coalesced with others pending)."""
        log.debug("trigger: %s", reason)
        self._wake.set()
        rendering = self.reconciler.rendering
        if rendering is not None and self._peeking.acquire(blocking=False):
            threading.Thread(
                target=self._check_superseded, args=(rendering[0],), daemon=True
            ).start()

    def _check_superseded(self, revision: str) -> None:
        """While `revision` renders: cancel it when the branch has moved on."""
        try:
            head = self.source.peek()
            if head is not None and head != revision and self.reconciler.rendering:
                log.warning(
                    "revision %s is superseded by %s while it renders: rendering that instead",
                    revision[:12],
                    head[:12],
                )
                self._superseded.set()
        finally:
            self._peeking.release()

    # --- the work ------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            self._superseded.clear()
            try:
                self.sync()
                if self._repair.is_set():
                    self.repair_broker()
            except RenderCancelled:
                if self._stopping.is_set():
                    return
                self._superseded.clear()
                self._reconcile_again = True
                continue  # the newer commit, at once
            except Exception as exc:  # never let the worker die: log and try again later
                log.exception("unexpected error while reconciling")
                self.metrics.failed("internal")
                self.last_internal_error = f"{type(exc).__name__}: {exc}"
                self._retry = True
            else:
                self.last_internal_error = None
            timeout = RETRY_SECONDS if self._retry else self.settings.interval
            self._wake.wait(timeout)

    def sync(self) -> Outcome | None:
        """Fetch; reconcile when the branch moved (or a retry is due). None: nothing new."""
        started = time.monotonic()
        try:
            revision = self.source.fetch()
            if self.last_source_error:
                log.info("git source reachable again")
            self.last_source_error = None
            if revision == self.last_revision and not self._reconcile_again:
                self._retry = False
                return None
            fetched = time.monotonic()
            root = self.source.checkout(revision)
        except GitFailed as exc:
            self._source_failed(str(exc))
            return None
        log.debug(
            "revision %s: fetched in %.2fs, checked out in %.2fs",
            revision[:12],
            fetched - started,
            time.monotonic() - fetched,
        )
        try:
            outcome = self.reconciler.reconcile(
                revision, root, lambda old: self.source.changed_files(old, revision)
            )
        except BrokerUnavailable as exc:
            self.metrics.failed("broker")
            log.error("cannot read the broker's retained documents: %s; retrying", exc)
            self._retry = self._reconcile_again = True
            return None
        self._retry = self._reconcile_again = False
        self.last_revision = revision
        fleet = self.reconciler.fleet
        if outcome.ok and fleet is not None:
            for listener in self.revision_listeners:
                listener(revision, fleet)
        return outcome

    def repair_broker(self) -> int:
        """Resend what the broker lost or holds wrong (after a reconnect); 0 on failure,
        retried shortly."""
        self._repair.clear()
        try:
            return self.reconciler.repair()
        except BrokerUnavailable as exc:
            self.metrics.failed("broker")
            log.error("cannot read the broker's retained documents: %s; retrying", exc)
            self._repair.set()
            self._retry = True
            return 0

    def _source_failed(self, message: str) -> None:
        self.metrics.failed("git")
        if message != self.last_source_error:
            log.error("%s; retrying", message)
        self.last_source_error = message
        self._retry = True

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, body) for /healthz: unhealthy while the broker or git is unreachable."""
        error = self.reconciler.last_error
        connected = self.publisher.connected
        body: dict[str, Any] = {
            "status": "ok",
            "repo": self.source.display_url,
            "branch": self.settings.branch,
            "lastGoodRevision": self.reconciler.last_good,
            "lastRevision": self.last_revision,
            "lastError": error.to_dict() if error is not None else None,
            "gitError": self.last_source_error,
            "brokerConnected": connected,
            "broker": self.broker.url,
            "unconfirmedDocuments": self.publisher.unconfirmed,
            "rendering": self.reconciler.rendering_status(),
        }
        problems = [f"reconcile: {self.last_internal_error}"] if self.last_internal_error else []
        # e.g. the status writer's push failures, the rollouts halted or rolled back
        for component in (*self.components, *self._internal):
            fields = getattr(component, "health_fields", None)
            if callable(fields):
                body.update(fields())
            found = getattr(component, "problems", None)
            if callable(found):
                problems += found()
        body["problems"] = problems
        if (error is not None and error.revision == self.last_revision) or problems:
            body["status"] = "degraded"  # serving the last good revision; needs a fix in git
        healthy = connected and self.last_source_error is None
        if not healthy:
            body["status"] = "unavailable"
        return healthy, body

    # --- --once ----------------------------------------------------------------------------

    def run_once(self, ack_timeout: float = 60.0) -> ExitCode:
        """Fetch, reconcile, publish, wait for acknowledgements. Returns the exit code."""
        try:
            revision = self.source.fetch()
            root = self.source.checkout(revision)
        except GitFailed as exc:
            log.error("%s", exc)
            return ExitCode.UNAVAILABLE
        try:
            self._start_broker()  # connects in the background while the fleet renders
            outcome = self.reconciler.reconcile(revision, root)  # a bad commit needs no broker
            if not outcome.ok:
                return ExitCode.BAD_INPUT
            self.publisher.wait_connected(self.settings.connect_timeout, fail_fast=True)
            if not self.publisher.wait_confirmed(ack_timeout):
                log.error(
                    "the broker did not confirm %d documents within %gs",
                    self.publisher.unconfirmed,
                    ack_timeout,
                )
                return ExitCode.UNAVAILABLE
        except BrokerUnavailable as exc:
            log.error("%s", exc)
            return ExitCode.UNAVAILABLE
        finally:
            self.publisher.stop()
            if self.embedded is not None:
                self.embedded.stop()
        print(
            f"revision {revision[:12]}: {outcome.nodes} nodes, "
            f"{outcome.published} documents published and confirmed"
        )
        return ExitCode.OK
