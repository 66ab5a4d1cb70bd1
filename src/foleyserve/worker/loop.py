"""The worker's loop: a thin driver around the store and the pure batching policy.

Each turn: return expired leases to the queue (every worker does it; the store makes it safe,
so no leader is needed), forget jobs past their retention now and then, read a snapshot of
the queue, let `plan_batch` choose, claim what it chose, and run it with a heartbeat. An idle
worker sleeps until the plan's wait ends or `poll_interval_s`, whichever is sooner.

Shutdown: `stop` (set by SIGTERM) ends the loop after the running batch; if that batch is still
running `shutdown_grace_s` later, it stops between steps and its jobs go back to the queue.
A worker killed outright loses nothing either: its leases expire and other workers take over.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from foleyserve.engines.base import FoleyEngine, RequestShape
from foleyserve.errors import StorageError
from foleyserve.jobs.model import Job, JobError
from foleyserve.media.segments import plan_segments
from foleyserve.scheduling.policy import BatchPolicy, Candidate, PolicyName, plan_batch
from foleyserve.settings import Settings
from foleyserve.storage.base import ObjectStore
from foleyserve.store.base import JobStore
from foleyserve.worker.context import Caches, utc_now
from foleyserve.worker.heartbeat import Heartbeat
from foleyserve.worker.metrics import WorkerMetrics
from foleyserve.worker.runner import BatchRunner

log = logging.getLogger(__name__)

SNAPSHOT_TENANTS = 32
"""The policy sees the oldest `max_batch_size` queued jobs of each tenant (per priority), up to
this many tenants' worth: enough to fill a batch from anyone who waits, without reading the
whole queue every turn."""
PURGE_EVERY_S = 60.0
REPORT_EVERY_S = 5.0
"""How often a worker notes in the store that it is alive (`record_worker`)."""
OUTAGE_WAIT_S = 2.0


def policy_from(settings: Settings, engine: FoleyEngine) -> BatchPolicy:
    max_batch = min(settings.max_batch_size, engine.profile.max_batch_size)
    return BatchPolicy(
        name=PolicyName(settings.batch_policy),
        fixed_size=min(settings.fixed_batch_size, max_batch),
        max_wait_ms=settings.max_batch_wait_ms,
        max_batch_size=max_batch,
        memory_budget_bytes=settings.memory_budget_bytes,
        aging_s=settings.aging_s,
    )


@dataclass
class Worker:
    engine: FoleyEngine
    store: JobStore
    objects: ObjectStore
    settings: Settings
    worker_id: str
    clock: Callable[[], datetime] = utc_now
    stop: threading.Event = field(default_factory=threading.Event)
    batches_run: int = 0
    _stop_at: float | None = None
    _last_purge: float = -math.inf
    _last_report: float = -math.inf

    def __post_init__(self) -> None:
        self.policy = policy_from(self.settings, self.engine)
        self.caches = Caches.create(self.store, self.objects, self.settings, self.clock)
        self.metrics = WorkerMetrics([self.caches.results, self.caches.video, self.caches.text])

    def run(self) -> None:
        """Until `stop` is set (SIGTERM); then finish (or, after the grace period, release).
        A store or storage outage is waited out, not fatal: the leases say who owns what."""
        while not self.stop.is_set():
            try:
                wait_s = self.run_once()
            except StorageError as e:
                log.warning("store unavailable (%s); retrying in %.0f s", e.message, OUTAGE_WAIT_S)
                wait_s = OUTAGE_WAIT_S
            if wait_s > 0:
                self.stop.wait(wait_s)

    def request_stop(self) -> None:
        self._stop_at = time.monotonic()
        self.stop.set()

    def run_once(self) -> float:
        """One turn of the loop. Returns how long to wait before the next (0: go again now)."""
        now = self.clock()
        self._report(now)
        self.store.requeue_expired(now=now)
        self._purge(now)
        per_tenant = self.policy.max_batch_size
        queued = self.store.queued(limit=SNAPSHOT_TENANTS * per_tenant, per_tenant=per_tenant)
        plan = plan_batch(
            [self._candidate(job) for job in queued],
            now_s=now.timestamp(),
            policy=self.policy,
            fairness=self.store.fairness(),
            memory_model=self.engine.profile.memory if self.policy.memory_budget_bytes else None,
        )
        for job_id in plan.unfit:
            self._refuse_unfit(job_id, now)
        if not plan.job_ids:
            until = plan.wait_until_s if plan.wait_until_s is not None else math.inf
            return max(0.0, min(self.settings.poll_interval_s, until - now.timestamp()))
        jobs = self.store.claim(
            plan.job_ids,
            self.worker_id,
            lease_s=self.settings.lease_s,
            now=now,
            charge=plan.charge,
        )
        if jobs:
            self.metrics.batch_size.observe(len(jobs))
            waited = self.metrics.stage_seconds.labels("queued")
            for job in jobs:
                waited.observe(max(0.0, (now - job.created_at).total_seconds()))
            started_s = time.monotonic()
            self._run_batch(jobs)
            self.metrics.stage_seconds.labels("batch").observe(time.monotonic() - started_s)
        return 0.0

    def _run_batch(self, jobs: list[Job]) -> None:
        self.batches_run += 1
        with Heartbeat(
            self.store, self.worker_id, lease_s=self.settings.lease_s, clock=self.clock
        ) as heartbeat:
            heartbeat.hold(job.id for job in jobs)
            BatchRunner(
                engine=self.engine,
                store=self.store,
                objects=self.objects,
                caches=self.caches,
                settings=self.settings,
                worker_id=self.worker_id,
                heartbeat=heartbeat,
                clock=self.clock,
                stopping=self._past_grace,
                observe_stage=self.metrics.observe_stage,
            ).run(jobs)

    def _past_grace(self) -> bool:
        return (
            self._stop_at is not None
            and time.monotonic() - self._stop_at > self.settings.shutdown_grace_s
        )

    def _candidate(self, job: Job) -> Candidate:
        spec = self.engine.profile
        first = plan_segments(
            job.spec.duration_s,
            max_segment_s=spec.max_segment_s,
            segment_s=spec.segment_s,
            overlap_s=spec.segment_overlap_s,
        )[0]
        shape = RequestShape(first.duration_s, job.spec.steps, job.spec.guidance)
        return Candidate(
            job_id=job.id,
            tenant=job.spec.tenant,
            priority=job.spec.priority,
            queued_at_s=job.created_at.timestamp(),
            batch_key=self.engine.batch_key(shape),
            duration_s=job.spec.duration_s,
            # GPU time grows with the audio's length: a fair share counts seconds, not jobs.
            cost_s=job.spec.duration_s,
            deadline_s=None if job.spec.deadline is None else job.spec.deadline.timestamp(),
        )

    def _refuse_unfit(self, job_id: str, now: datetime) -> None:
        claimed = self.store.claim([job_id], self.worker_id, lease_s=self.settings.lease_s, now=now)
        for job in claimed:
            error = JobError(
                code="too_large",
                message=(
                    f"a {job.spec.duration_s:.0f} s job needs more device memory than this "
                    "worker's budget; send a shorter video"
                ),
            )
            self.store.fail(job.id, self.worker_id, error, retryable=False, now=now)

    def _report(self, now: datetime) -> None:
        if time.monotonic() - self._last_report < REPORT_EVERY_S:
            return
        self._last_report = time.monotonic()
        self.store.record_worker(self.worker_id, now=now)

    def _purge(self, now: datetime) -> None:
        if time.monotonic() - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = time.monotonic()
        cutoff = now - timedelta(seconds=self.settings.job_retention_s)
        for job in self.store.purge(finished_before=cutoff):
            for key in (job.spec.video_key, job.result.audio_key if job.result else None):
                if key is not None:
                    self.objects.delete(key)
