"""The operator's dashboard as pure functions: queue, workers, throughput, latency, caches and
tenants' usage, summarised from what the job store returns. No I/O and no clock: the admin
routes (foleyserve.api.admin) read the store and pass `now`, so a test can feed any history.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel

from foleyserve.jobs.model import Job, JobState, Priority

BUCKETS = 12
"""Throughput is counted in this many equal buckets over the window (a sparkline's worth)."""


class TenantDepth(BaseModel):
    tenant: str
    priority: Priority
    queued: int


class QueueOut(BaseModel):
    by_priority: dict[Priority, int]
    by_tenant: list[TenantDepth]
    """Largest first."""


class RunningJob(BaseModel):
    id: str
    tenant: str
    stage: str
    fraction: float
    started_at: datetime | None
    lease_expires_at: datetime | None


class WorkerOut(BaseModel):
    worker_id: str
    running: list[RunningJob]


class WorkerBatches(BaseModel):
    """The batches a worker finished in the window (jobs answered from the cache ran none)."""

    worker_id: str
    batches: int
    jobs: int
    mean_batch_size: float
    max_batch_size: int


class Bucket(BaseModel):
    start: datetime
    succeeded: int
    failed: int
    """Failed, canceled and expired: every finish that brought no result."""


class Latency(BaseModel):
    """Seconds, over the jobs that finished in the window; None when there were none."""

    p50_s: float | None
    p95_s: float | None
    max_s: float | None


class ThroughputOut(BaseModel):
    finished: int
    succeeded: int
    per_minute: float
    """Finished jobs per minute, averaged over the window."""
    buckets: list[Bucket]
    total_latency: Latency
    """Submission to finish: what a user waits."""
    run_latency: Latency
    """Start to finish of the last attempt: what a worker spends."""


class CacheOut(BaseModel):
    namespace: str
    entries: int
    bytes: int
    hits: int | None
    """Seen by this API server since it started; None where only workers look (features)."""
    misses: int | None


class TenantUsage(BaseModel):
    tenant: str
    queued: int
    running: int
    finished: int
    failed: int
    run_s: float
    """Worker seconds of its jobs that finished in the window."""
    service_s: float
    """Its fair-share counter: GPU-seconds charged so far."""


class Overview(BaseModel):
    now: datetime
    window_s: float
    counts: dict[JobState, int]
    queue: QueueOut
    workers: list[WorkerOut]
    batches: list[WorkerBatches]
    throughput: ThroughputOut
    result_cache_hit_rate: float | None
    """Finished video jobs in the window answered from the result cache, fleet-wide."""
    caches: list[CacheOut]
    tenants: list[TenantUsage]
    finished_truncated: bool
    """True when the window held more finished jobs than were read: figures cover the latest."""


def queue_out(
    depth: Mapping[Priority, int], by_tenant: Mapping[tuple[Priority, str], int]
) -> QueueOut:
    rows = [TenantDepth(tenant=t, priority=p, queued=n) for (p, t), n in by_tenant.items()]
    rows.sort(key=lambda row: (-row.queued, row.priority.rank, row.tenant))
    return QueueOut(by_priority=dict(depth), by_tenant=rows)


def workers_out(running: Iterable[Job]) -> list[WorkerOut]:
    """Running jobs grouped by the worker that holds them (a batch shares one worker)."""
    by_worker: dict[str, list[RunningJob]] = defaultdict(list)
    for job in running:
        by_worker[job.worker_id or "?"].append(
            RunningJob(
                id=job.id,
                tenant=job.spec.tenant,
                stage=job.progress.stage,
                fraction=job.progress.fraction,
                started_at=job.started_at,
                lease_expires_at=job.lease_expires_at,
            )
        )
    return [WorkerOut(worker_id=w, running=jobs) for w, jobs in sorted(by_worker.items())]


def batches_out(finished: Iterable[Job]) -> list[WorkerBatches]:
    """Per worker, the distinct batches (`result.batch_id`) of its jobs that finished in the
    window, and their sizes as recorded (`result.batch_size`: the whole batch, even jobs of it
    that finished outside the window)."""
    sizes: dict[str, dict[str, int]] = defaultdict(dict)
    jobs: Counter[str] = Counter()
    for job in finished:
        made = job.result
        if made is None or job.cached or made.batch_id is None or job.worker_id is None:
            continue
        jobs[job.worker_id] += 1
        sizes[job.worker_id][made.batch_id] = made.batch_size or 1
    return [
        WorkerBatches(
            worker_id=worker_id,
            batches=len(by_batch),
            jobs=jobs[worker_id],
            mean_batch_size=sum(by_batch.values()) / len(by_batch),
            max_batch_size=max(by_batch.values()),
        )
        for worker_id, by_batch in sorted(sizes.items())
    ]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency(values: Sequence[float]) -> Latency:
    return Latency(
        p50_s=percentile(values, 0.5),
        p95_s=percentile(values, 0.95),
        max_s=max(values) if values else None,
    )


def throughput_out(finished: Sequence[Job], *, now: datetime, window_s: float) -> ThroughputOut:
    """Counts, buckets and latencies of `finished` (jobs that finished within the window)."""
    start = now - timedelta(seconds=window_s)
    width_s = window_s / BUCKETS
    buckets = [
        Bucket(start=start + timedelta(seconds=i * width_s), succeeded=0, failed=0)
        for i in range(BUCKETS)
    ]
    total, run = [], []
    for job in finished:
        assert job.finished_at is not None
        index = int((job.finished_at - start).total_seconds() // width_s)
        bucket = buckets[min(max(index, 0), BUCKETS - 1)]
        if job.state is JobState.SUCCEEDED:
            bucket.succeeded += 1
        else:
            bucket.failed += 1
        total.append((job.finished_at - job.created_at).total_seconds())
        if job.started_at is not None:
            run.append((job.finished_at - job.started_at).total_seconds())
    succeeded = sum(bucket.succeeded for bucket in buckets)
    return ThroughputOut(
        finished=len(finished),
        succeeded=succeeded,
        per_minute=len(finished) * 60.0 / window_s,
        buckets=buckets,
        total_latency=latency(total),
        run_latency=latency(run),
    )


def result_cache_hit_rate(finished: Iterable[Job]) -> float | None:
    """Of the succeeded video jobs, the share answered from the result cache."""
    done = [j for j in finished if j.state is JobState.SUCCEEDED and j.spec.video_key]
    return sum(job.cached for job in done) / len(done) if done else None


def tenants_out(
    *,
    queued: Mapping[tuple[Priority, str], int],
    running: Iterable[Job],
    finished: Iterable[Job],
    service_s: Mapping[str, float],
) -> list[TenantUsage]:
    """One row per tenant seen anywhere, busiest (most worker seconds) first."""
    waiting: Counter[str] = Counter()
    for (_, tenant), count in queued.items():
        waiting[tenant] += count
    busy = Counter(job.spec.tenant for job in running)
    done: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    run_s: defaultdict[str, float] = defaultdict(float)
    for job in finished:
        tenant = job.spec.tenant
        done[tenant] += 1
        failed[tenant] += job.state is JobState.FAILED
        if job.started_at is not None and job.finished_at is not None and not job.cached:
            run_s[tenant] += (job.finished_at - job.started_at).total_seconds()
    names = set(waiting) | set(busy) | set(done) | set(service_s)
    rows = [
        TenantUsage(
            tenant=name,
            queued=waiting[name],
            running=busy[name],
            finished=done[name],
            failed=failed[name],
            run_s=run_s[name],
            service_s=service_s.get(name, 0.0),
        )
        for name in names
    ]
    rows.sort(key=lambda row: (-row.run_s, -row.queued, row.tenant))
    return rows
