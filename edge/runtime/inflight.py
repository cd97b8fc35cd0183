"""Requests to the API server in flight at once, for one app's apply.

`KubernetesRuntime.apply` (edge/runtime/kubernetes.py) sends an app's objects after
its Namespaces and CRDs through an `InFlight`: up to `limit` server-side applies at
a time on worker threads, so the agent is not idle while the API server answers (as
Argo CD runs a sync wave's objects at once, bounded by `--kubectl-parallelism-limit`).
A limit of 1 sends each request in the caller's thread, one after the other.

Failures keep the one-by-one meaning: a request that raises (the cluster became
unreachable, a bug) stops the requests not yet started, and `raise_first` raises
that exception in the caller's thread once the ones already started are done.
A problem with one object is not an exception (the runtime returns it as that
object's `Applied`), so it never stops the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class _NotStarted(Exception):
    """A request skipped because an earlier one raised (never seen by callers)."""


class InFlight:
    """Run calls with at most `limit` at once; use as a context manager."""

    def __init__(self, limit: int, name: str = "shoal-apply") -> None:
        self.limit = max(1, limit)
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._first_error: BaseException | None = None

    def submit(self, call: Callable[..., T], *args: object) -> Future[T]:
        """Start `call(*args)` (now, or when a worker is free); its future."""
        if self.limit == 1:
            done: Future[T] = Future()
            done.set_result(call(*args))  # an exception propagates at once, as before
            return done
        self.raise_first()  # an earlier request failed: start no more
        if self._pool is None:  # threads only for an app with something to send
            self._pool = ThreadPoolExecutor(self.limit, thread_name_prefix=self._name)
        return self._pool.submit(self._run, call, *args)

    def _run(self, call: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._first_error is not None:
                raise _NotStarted
        try:
            return call(*args)
        except BaseException as exc:
            with self._lock:
                if self._first_error is None:
                    self._first_error = exc
            raise

    def raise_first(self) -> None:
        """Raise the first exception a request raised, if one did."""
        with self._lock:
            error = self._first_error
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait for the requests started; then `raise_first`."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.raise_first()

    def __enter__(self) -> InFlight:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:  # the caller failed: wait for the workers, keep its error
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            return
        self.close()
