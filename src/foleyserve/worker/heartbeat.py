"""Keep a worker's leases alive from a background thread, and learn what changed meanwhile.

While a batch runs on the main thread (minutes, on a GPU), this thread renews the leases every
`interval_s` and records progress. The store answers with the jobs the worker lost (its lease
expired and another worker took them) and the jobs whose tenant asked to cancel; the batch
polls `should_stop(job_id)` between steps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType

from foleyserve.errors import FoleyError
from foleyserve.jobs.model import Progress
from foleyserve.store.base import JobStore

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        store: JobStore,
        worker_id: str,
        *,
        lease_s: float,
        clock: Callable[[], datetime],
        interval_s: float | None = None,
    ) -> None:
        self._store = store
        self._worker_id = worker_id
        self._lease_s = lease_s
        self._interval_s = interval_s if interval_s is not None else lease_s / 3
        self._clock = clock
        self._lock = threading.Lock()
        self._progress: dict[str, Progress] = {}
        self._canceled: set[str] = set()
        self._lost: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def hold(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._progress.setdefault(job_id, Progress(stage="starting"))

    def release(self, job_id: str) -> None:
        with self._lock:
            self._progress.pop(job_id, None)

    def report(self, job_id: str, progress: Progress) -> None:
        with self._lock:
            if job_id in self._progress:
                self._progress[job_id] = progress

    def canceled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._canceled

    def lost(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._lost

    def should_stop(self, job_id: str) -> bool:
        """True when the job's result is no longer wanted from this worker."""
        with self._lock:
            return job_id in self._canceled or job_id in self._lost

    def beat(self) -> None:
        """One renewal now (the thread calls this every interval; tests may call it directly)."""
        with self._lock:
            progress = dict(self._progress)
        if not progress:
            return
        try:
            reply = self._store.heartbeat(
                self._worker_id, progress, lease_s=self._lease_s, now=self._clock()
            )
        except FoleyError as e:
            # The store is unreachable: keep trying. If it stays away longer than the lease,
            # the jobs run elsewhere and `complete` will say we lost them.
            log.warning("heartbeat failed: %s", e.message)
            return
        with self._lock:
            self._canceled.update(reply.cancel)
            self._lost.update(reply.lost)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.beat()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
