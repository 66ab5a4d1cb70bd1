"""The contract's rules as pure functions: how each operation changes a job, and who may see it.

Both stores read a job, ask these functions what it becomes, and write the answer atomically
(SQLite inside `BEGIN IMMEDIATE`, Redis through a Lua compare-and-set on the job's revision), so
the two can never disagree about what, say, a lost lease does to a job. No I/O, no clock: every
time comes in as `now`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from foleyserve.errors import InvalidInput, JobNotFound, QueueFull, RateLimited
from foleyserve.jobs.events import JobEvent
from foleyserve.jobs.model import Job, JobError, JobResult, JobSpec, JobState, Progress

QUEUE_FULL_RETRY_AFTER_S = 5.0
"""What `QueueFull` tells clients: long enough for a worker to finish a batch or two."""

CANCELED_CODE = "canceled"
"""`fail(..., JobError(code=CANCELED_CODE))` finishes a job as canceled, not failed."""

LEASE_LOST_CODE = "lease_lost"


def not_found(job_id: str) -> JobNotFound:
    """The one message for a missing job and for another tenant's job, so ids leak nothing."""
    return JobNotFound(f"job {job_id} not found")


def visible(job: Job | None, job_id: str, tenant: str | None) -> Job:
    """`job` if it exists and `tenant` may see it (None sees everything); else `JobNotFound`."""
    if job is None or (tenant is not None and job.spec.tenant != tenant):
        raise not_found(job_id)
    return job


def queue_full(queued: int) -> QueueFull:
    return QueueFull(
        f"the queue is full ({queued} jobs waiting); try again in {QUEUE_FULL_RETRY_AFTER_S:g} s",
        retry_after_s=QUEUE_FULL_RETRY_AFTER_S,
    )


def tenant_queue_full(queued: int, limit: int) -> RateLimited:
    return RateLimited(
        f"quota: your tenant may have {limit} jobs queued at once and has {queued}; try again "
        f"in {QUEUE_FULL_RETRY_AFTER_S:g} s, once some have started, or cancel some",
        retry_after_s=QUEUE_FULL_RETRY_AFTER_S,
        code="quota_queued_jobs",
    )


def check_deletable(job: Job) -> None:
    if not job.state.finished:
        raise InvalidInput(
            f"job {job.id} is {job.state.value}; cancel it, then delete it once it has stopped",
            code="job_not_finished",
        )


def check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, not {limit}", code="invalid_limit")


def check_per_tenant(per_tenant: int | None) -> None:
    """`queued(per_tenant=...)` takes None (no cap) or at least one job per tenant."""
    if per_tenant is not None and per_tenant < 1:
        raise ValueError(f"per_tenant must be at least 1 (or None), not {per_tenant}")


def new_job(
    spec: JobSpec,
    *,
    job_id: str,
    now: datetime,
    idempotency_key: str | None,
    max_attempts: int,
) -> Job:
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    return Job(
        id=job_id,
        spec=spec,
        state=JobState.QUEUED,
        created_at=now,
        max_attempts=max_attempts,
        idempotency_key=idempotency_key,
    )


def cached_job(spec: JobSpec, result: JobResult, *, job_id: str, now: datetime) -> Job:
    return Job(
        id=job_id,
        spec=spec,
        state=JobState.SUCCEEDED,
        progress=Progress(stage="done"),
        created_at=now,
        finished_at=now,
        result=result,
        cached=True,
    )


def holds(job: Job, worker_id: str) -> bool:
    """Whether `worker_id` may heartbeat, complete or fail `job`. A lease past its expiry still
    counts until `requeue_expired` takes the job away: nobody else has it yet."""
    return job.state is JobState.RUNNING and job.worker_id == worker_id


def claimed(job: Job, worker_id: str, *, lease_s: float, now: datetime) -> Job | None:
    """queued -> running under `worker_id`; None when `job` is no longer queued."""
    if job.state is not JobState.QUEUED:
        return None
    return job.model_copy(
        update={
            "state": JobState.RUNNING,
            "attempts": job.attempts + 1,
            "started_at": now,
            "worker_id": worker_id,
            "lease_expires_at": _lease_end(now, lease_s),
            "progress": Progress(stage="starting"),
        }
    )


def renewed(job: Job, progress: Progress, *, lease_s: float, now: datetime) -> Job:
    return job.model_copy(
        update={"lease_expires_at": _lease_end(now, lease_s), "progress": progress}
    )


def completed(job: Job, result: JobResult, *, now: datetime) -> Job:
    return _finished(job, JobState.SUCCEEDED, now=now, result=result)


def failed(job: Job, error: JobError, *, retryable: bool, now: datetime) -> Job:
    """Back to queued when the error is retryable and attempts are left; otherwise failed with
    `error`. A job whose tenant asked to cancel (or `error.code == CANCELED_CODE`) ends canceled
    instead, whatever the error: it is never run again."""
    if error.code == CANCELED_CODE or job.cancel_requested:
        return _finished(job, JobState.CANCELED, now=now, error=error)
    if retryable and job.attempts < job.max_attempts:
        return _requeued(job, error)
    return _finished(job, JobState.FAILED, now=now, error=error)


def canceled(job: Job, *, now: datetime) -> Job | None:
    """What `cancel` does; None when it changes nothing (finished, or already asked)."""
    if job.state is JobState.QUEUED:
        return _finished(job, JobState.CANCELED, now=now)
    if job.state is JobState.RUNNING and not job.cancel_requested:
        return job.model_copy(update={"cancel_requested": True})
    return None


def operator_retried(job: Job) -> Job:
    """What an operator's `retry` does: failed -> queued, as if new (no attempts, no error),
    at its original place in its priority's queue. Raises `InvalidInput` (`job_not_failed`)
    for a job in any other state: only failures are worth running again."""
    if job.state is not JobState.FAILED:
        raise InvalidInput(
            f"job {job.id} is {job.state.value}; only failed jobs can be retried",
            code="job_not_failed",
        )
    return job.model_copy(
        update={
            "state": JobState.QUEUED,
            "attempts": 0,
            "started_at": None,
            "finished_at": None,
            "worker_id": None,
            "lease_expires_at": None,
            "cancel_requested": False,
            "progress": Progress(),
            "error": None,
        }
    )


def lease_expired(job: Job, now: datetime) -> bool:
    return (
        job.state is JobState.RUNNING
        and job.lease_expires_at is not None
        and job.lease_expires_at < now
    )


def deadline_passed(job: Job, now: datetime) -> bool:
    return (
        job.state is JobState.QUEUED and job.spec.deadline is not None and job.spec.deadline < now
    )


def expired_or_lost(job: Job, *, now: datetime) -> Job | None:
    """What `requeue_expired` does to one job; None when it is neither overdue nor late. A
    job whose lease is lost after its deadline expires at once, so one sweep settles it."""
    if lease_expired(job, now):
        error = JobError(
            code=LEASE_LOST_CODE, message=f"worker {job.worker_id} stopped heartbeating"
        )
        job = failed(job, error, retryable=True, now=now)
        return _finished(job, JobState.EXPIRED, now=now) if deadline_passed(job, now) else job
    if deadline_passed(job, now):
        return _finished(job, JobState.EXPIRED, now=now)
    return None


def job_event(before: Job | None, after: Job, *, event_id: str) -> JobEvent | None:
    """The webhook event that the change `before` -> `after` (None: a new job) announces, due
    when it happened (`started_at` for `running`, else `finished_at`); None when the job has no
    `webhook_url`, its state did not change, or its tenant did not ask for that state's event.
    Stores write it with the change, in one transaction."""
    url = after.spec.webhook_url
    if url is None or (before is not None and before.state is after.state):
        return None
    event = next((e for e in after.spec.webhook_events if e == after.state.value), None)
    if event is None:
        return None
    happened = after.started_at if after.state is JobState.RUNNING else after.finished_at
    return JobEvent(
        id=event_id, event=event, url=url, job=after, due_at=happened or after.created_at
    )


def retried(event: JobEvent, *, due_at: datetime, error: str) -> JobEvent:
    """What `event_retry` makes of a leased event: one more attempt counted, due again later."""
    return event.model_copy(
        update={"attempts": event.attempts + 1, "due_at": due_at, "last_error": error}
    )


def check_lease(lease_s: float) -> None:
    if lease_s <= 0:
        raise ValueError(f"lease_s must be positive, not {lease_s}")


def lease_end(now: datetime, lease_s: float) -> datetime:
    check_lease(lease_s)
    return now + timedelta(seconds=lease_s)


def _requeued(job: Job, error: JobError) -> Job:
    # `started_at` and `attempts` stay: they describe the attempt that just ended. The queue
    # position is the store's (submission order), so the job goes back ahead of newer ones.
    return job.model_copy(
        update={
            "state": JobState.QUEUED,
            "worker_id": None,
            "lease_expires_at": None,
            "progress": Progress(),
            "error": error,
        }
    )


def _finished(
    job: Job,
    state: JobState,
    *,
    now: datetime,
    error: JobError | None = None,
    result: JobResult | None = None,
) -> Job:
    update: dict[str, object] = {"state": state, "finished_at": now, "lease_expires_at": None}
    if error is not None:
        update["error"] = error
    if result is not None:
        update["result"] = result
        update["progress"] = Progress(
            stage="done", step=job.progress.total, total=job.progress.total
        )
    return job.model_copy(update=update)


def _lease_end(now: datetime, lease_s: float) -> datetime:
    if lease_s <= 0:
        raise ValueError(f"lease_s must be positive, not {lease_s}")
    return now + timedelta(seconds=lease_s)
