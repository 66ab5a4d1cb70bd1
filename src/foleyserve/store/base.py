"""The `JobStore` contract: durable queue and job state. SQLite (embedded) and Redis (fleet)
implement it; one contract test suite (tests/store/test_contract.py) runs against both.

Execution is at-least-once. Every state change that touches a running job names the worker
that holds it, so a worker whose lease was lost (and whose job now runs elsewhere) cannot
complete or fail it: those calls return None and change nothing.

Choosing *which* jobs to run is not the store's business: `queued()` gives a snapshot, the pure
batching policy (foleyserve.scheduling.policy) picks, and `claim()` takes the picked jobs
atomically: a job is claimed by at most one worker, and `claim` returns only those it got.

Stores never read the clock: every time decision uses the `now` passed in (an aware UTC
datetime), so tests control time. Queue order is submission order as the store saw it (a
store-assigned sequence number), which also orders jobs submitted with equal `now`.

Foreign errors (sqlite3, redis) leave a store as `StorageError`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from foleyserve.jobs.events import JobEvent
from foleyserve.jobs.model import (
    Charge,
    Job,
    JobError,
    JobResult,
    JobSpec,
    JobState,
    Priority,
    Progress,
)


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    cursor: str | None
    """Pass back to get the next page; None on the last page."""


@dataclass(frozen=True)
class HeartbeatReply:
    lost: list[str] = field(default_factory=list)
    """Jobs this worker no longer holds (lease expired and requeued, or finished elsewhere)."""
    cancel: list[str] = field(default_factory=list)
    """Jobs whose tenant asked to cancel: stop between steps, then `fail(..., canceled)`."""


@dataclass(frozen=True)
class CacheEntry:
    object_key: str
    size_bytes: int


class JobStore(Protocol):
    # -- tenants' side ------------------------------------------------------------------------
    def submit(
        self,
        spec: JobSpec,
        *,
        now: datetime,
        idempotency_key: str | None = None,
        max_queued: int | None = None,
        tenant_max_queued: int | None = None,
        max_attempts: int = 3,
    ) -> tuple[Job, bool]:
        """Queue a new job at the back of its priority. Returns (job, created). The same
        (tenant, idempotency_key) returns the first job and created=False, whatever its state
        and even when the queue is full, until that job is deleted or purged. Raises `QueueFull`
        (with `retry_after_s`) when `max_queued` jobs, of all tenants and priorities, are
        queued, and `RateLimited` (code `quota_queued_jobs`) when `tenant_max_queued` of this
        tenant's are. Both are checked in the submission's own transaction, so concurrent
        submissions never pass them."""
        ...

    def submit_finished(self, spec: JobSpec, result: JobResult, *, now: datetime) -> Job:
        """Record a job answered from the result cache: succeeded at once, `cached=True`,
        `finished_at=now`. Not subject to `max_queued`."""
        ...

    def get(self, job_id: str, tenant: str | None = None) -> Job:
        """`tenant=None` for workers and admins. Another tenant's job raises `JobNotFound`,
        exactly like a missing one ("job <id> not found")."""
        ...

    def list(
        self,
        tenant: str,
        *,
        state: JobState | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """The tenant's jobs, newest (last submitted) first, `limit` >= 1 per page, only those
        in `state` if given. Pages are stable while jobs arrive: a cursor continues after the
        last job of its page, and newer jobs never push older ones onto the next page. A cursor
        that no page of this store returned raises `InvalidInput` (code `invalid_cursor`)."""
        ...

    def cancel(self, job_id: str, tenant: str | None, *, now: datetime) -> Job:
        """Queued: canceled at once (`finished_at=now`, gone from the queue). Running:
        `cancel_requested` set; the worker stops between steps and fails it with code
        `canceled` (any later failure or lost lease ends it canceled too). Finished: unchanged
        (idempotent). Returns the job as it now is."""
        ...

    def queue_ahead(self, job: Job) -> int:
        """How many queued jobs run before `job` by priority and submission order (0: it is
        next): those of higher priorities, and those of its own submitted before it. Aging and
        fair share may reorder them; this is what a polling client is told. O(log n) on Redis,
        a range of one index on SQLite. `JobNotFound` for a job the store no longer has."""
        ...

    def finished_since(self, since: datetime) -> int:
        """How many jobs finished at or after `since` (cache hits too): recent throughput."""
        ...

    def delete(self, job_id: str, tenant: str | None) -> Job:
        """Forget a finished job and its idempotency key. Returns it so the caller can delete
        its files. A queued or running job raises `InvalidInput` (code `job_not_finished`): the
        caller cancels it first."""
        ...

    # -- workers' side ------------------------------------------------------------------------
    def queued(self, *, limit: int, per_tenant: int | None = None) -> builtins.list[Job]:
        """Up to `limit` queued jobs, in priority then submission order. A job requeued after a
        failure or lost lease keeps its place (ahead of jobs submitted after it).

        `per_tenant=K` (K >= 1, else `ValueError`) first keeps only the oldest K queued jobs
        of each (priority, tenant), so that every tenant with queued jobs is in the snapshot
        however many jobs another has queued (as long as `limit` allows: the first `limit` of
        those, in the same order, so higher priorities and older jobs win). The snapshot for
        a fair-share policy; it costs O(tenants x K) jobs read, not O(queue). `None`: no
        per-tenant cap."""
        ...

    def fairness(self) -> dict[str, float]:
        """Each tenant's service counter (estimated GPU-seconds charged so far)."""
        ...

    def claim(
        self,
        job_ids: Sequence[str],
        worker_id: str,
        *,
        lease_s: float,
        now: datetime,
        charge: Mapping[str, Charge] | None = None,
    ) -> builtins.list[Job]:
        """Atomically move those of `job_ids` still queued to running under `worker_id` with a
        lease until now + lease_s, attempt + 1, `started_at=now`, progress stage "starting".
        Jobs canceled, expired, missing or claimed by another worker meanwhile are skipped.
        `charge` maps tenant -> a `Charge` (the policy computes it), applied to the tenant's
        service counter in the same transaction as its claimed jobs, and only if it got at
        least one: counter = max(counter, floor_s) + add_s.
        Returns the claimed jobs, in `job_ids` order."""
        ...

    def heartbeat(
        self,
        worker_id: str,
        progress: Mapping[str, Progress],
        *,
        lease_s: float,
        now: datetime,
    ) -> HeartbeatReply:
        """Renew the leases (to now + lease_s) of the jobs in `progress` that this worker still
        holds, and record their progress. A lease past its expiry that `requeue_expired` has
        not yet taken is still held, and renewed. Reports the others as `lost` (requeued,
        finished, missing, or held by another worker) and the held ones with
        `cancel_requested` as `cancel`."""
        ...

    def complete(
        self, job_id: str, worker_id: str, result: JobResult, *, now: datetime
    ) -> Job | None:
        """running -> succeeded, if `worker_id` still holds it; else None."""
        ...

    def fail(
        self,
        job_id: str,
        worker_id: str,
        error: JobError,
        *,
        retryable: bool,
        now: datetime,
    ) -> Job | None:
        """Retryable and attempts left: back to queued with `error` recorded, at its original
        place (ahead of newer jobs of its priority). Otherwise failed with `error`, or canceled
        when `error.code == "canceled"` or its tenant asked to cancel. None if `worker_id` no
        longer holds it."""
        ...

    def requeue_expired(self, *, now: datetime) -> builtins.list[Job]:
        """Leases that ended before `now`: back to queued (attempt kept, it was counted at
        claim) with error `lease_lost`, or failed with that error when no attempts are left
        (dead letter), or canceled when its tenant asked to. Queued jobs (new or requeued)
        whose deadline is before `now`: expired. Safe to call from every worker at once: each
        change happens once, and only the caller that made it gets the job back."""
        ...

    # -- operators' side ----------------------------------------------------------------------
    def depth(self) -> dict[Priority, int]:
        """Queued jobs per priority (every priority present, 0 when empty)."""
        ...

    def counts(self) -> dict[JobState, int]:
        """Jobs per state (every state present, 0 when none)."""
        ...

    def depth_by_tenant(self) -> dict[tuple[Priority, str], int]:
        """Queued jobs per (priority, tenant), only pairs with at least one."""
        ...

    def queued_of(self, tenant: str) -> int:
        """The tenant's queued jobs, all priorities: cheap enough for every submission."""
        ...

    def running(self, *, limit: int = 1000) -> builtins.list[Job]:
        """Up to `limit` running jobs (each names its `worker_id`), soonest lease end first."""
        ...

    def finished(
        self, *, since: datetime, state: JobState | None = None, limit: int = 500
    ) -> builtins.list[Job]:
        """Up to `limit` jobs finished at or after `since`, last finished first, only those
        in `state` if given (`limit` >= 1, else `InvalidInput`). Of every tenant."""
        ...

    def retry(self, job_id: str) -> Job:
        """An operator's retry: a failed job back to queued (see `rules.operator_retried`). Raises
        `JobNotFound`, or `InvalidInput` (`job_not_failed`) for a job not failed."""
        ...

    def purge(self, *, finished_before: datetime) -> builtins.list[Job]:
        """Forget finished jobs with `finished_at` before `finished_before` (from every index,
        idempotency keys included); returns them (to delete files)."""
        ...

    def record_worker(self, worker_id: str, *, now: datetime) -> None:
        """Note that `worker_id` is alive at `now` (workers call it every turn or so)."""
        ...

    def workers(self) -> dict[str, datetime]:
        """Every worker that ever reported in, and when it last did."""
        ...

    # -- webhook outbox (events written with the changes they announce) ----------------------
    def events_due(
        self, owner: str, *, limit: int, lease_s: float, now: datetime
    ) -> builtins.list[JobEvent]:
        """Lease up to `limit` events due by `now`, earliest due first, to `owner` until
        now + lease_s (their `due_at` moves there), so that two dispatchers never send one
        event at once. An event neither `event_done` nor `event_retry`d by then is due again
        (at-least-once). Every change of a job with a `webhook_url` into a state its
        `webhook_events` names adds one event, in the change's own transaction."""
        ...

    def event_done(self, event_id: str, owner: str) -> bool:
        """Forget a leased event (delivered, or given up). False, changing nothing, when
        `owner` no longer holds its lease."""
        ...

    def event_retry(self, event_id: str, owner: str, *, due_at: datetime, error: str) -> bool:
        """Release a leased event to be tried again at `due_at`, with `attempts + 1` and
        `last_error=error`. False, changing nothing, when `owner` no longer holds it."""
        ...

    def events_pending(self) -> int:
        """Events not yet delivered or given up (leased ones included)."""
        ...

    # -- cache index (objects live in the ObjectStore) ----------------------------------------
    def cache_get(self, namespace: str, key: str, *, now: datetime) -> CacheEntry | None:
        """Look up and mark as used at `now`."""
        ...

    def cache_put(self, namespace: str, key: str, entry: CacheEntry, *, now: datetime) -> None:
        """Insert or replace, marked as used at `now`."""
        ...

    def cache_evict(self, namespace: str, *, max_bytes: int) -> builtins.list[CacheEntry]:
        """Drop least recently used entries (ties: smallest key first) until the namespace
        holds at most `max_bytes`; returns the dropped entries, oldest first, so the caller
        deletes their objects."""
        ...

    def cache_stats(self, namespace: str) -> tuple[int, int]:
        """(entries, bytes)."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...
