"""Random sequences of operations on both stores, checking after every step that the store's
indexes agree with its jobs: every job in exactly one state, the queue holds exactly the queued
jobs in priority-then-submission order (and the per-tenant snapshot exactly the oldest of each
tenant's), running jobs have a worker and a lease."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from foleyserve.errors import JobNotFound
from foleyserve.jobs.model import Job, JobState, Priority, Progress
from foleyserve.store.base import JobStore
from foleyserve.store.redis import RedisJobStore
from foleyserve.store.redis_keys import RedisKeys
from foleyserve.store.sqlite import SQLiteJobStore

from .conftest import flush_redis
from .factories import at, error, result, spec

TENANTS = ("a", "b", "c")
WORKERS = ("w1", "w2")
LEASE_S = 10.0
SETTINGS = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class StoreMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self, store: JobStore) -> None:
        super().__init__()
        self.store = store
        self.now_s = 0.0
        self.submitted: dict[str, int] = {}
        """Every job submitted and not forgotten, with its submission number."""
        self.submissions = 0

    def teardown(self) -> None:
        self.store.close()

    # -- operations --------------------------------------------------------------------------
    @rule(
        target=jobs,
        tenant=st.sampled_from(TENANTS),
        priority=st.sampled_from(Priority),
        deadline_s=st.none() | st.integers(1, 40),
        max_attempts=st.integers(1, 3),
    )
    def submit(
        self, tenant: str, priority: Priority, deadline_s: int | None, max_attempts: int
    ) -> str:
        deadline = None if deadline_s is None else at(self.now_s + deadline_s)
        job, created = self.store.submit(
            spec(tenant, priority=priority, deadline=deadline),
            now=at(self.now_s),
            max_attempts=max_attempts,
        )
        assert created and job.state is JobState.QUEUED
        self.submitted[job.id] = self.submissions
        self.submissions += 1
        return job.id

    @rule(picks=st.lists(jobs, max_size=4), worker=st.sampled_from(WORKERS))
    def claim(self, picks: list[str], worker: str) -> None:
        before = self._snapshot()
        claimed = self.store.claim(picks, worker, lease_s=LEASE_S, now=at(self.now_s))
        queued = {i for i in picks if i in before and before[i].state is JobState.QUEUED}
        assert {job.id for job in claimed} == queued
        assert all(job.worker_id == worker for job in claimed)

    @rule(picks=st.lists(jobs, max_size=3, unique=True), worker=st.sampled_from(WORKERS))
    def heartbeat(self, picks: list[str], worker: str) -> None:
        before = self._snapshot()
        reply = self.store.heartbeat(
            worker, dict.fromkeys(picks, Progress(stage="x")), lease_s=LEASE_S, now=at(self.now_s)
        )
        held = {i for i in picks if i in before and _holds(before[i], worker)}
        assert set(reply.lost) == set(picks) - held

    @rule(job_id=jobs, worker=st.sampled_from(WORKERS))
    def complete(self, job_id: str, worker: str) -> None:
        before = self._snapshot().get(job_id)
        done = self.store.complete(job_id, worker, result(), now=at(self.now_s))
        assert (done is not None) == (before is not None and _holds(before, worker))

    @rule(
        job_id=jobs,
        worker=st.sampled_from(WORKERS),
        retryable=st.booleans(),
        code=st.sampled_from(["engine_error", "canceled"]),
    )
    def fail(self, job_id: str, worker: str, retryable: bool, code: str) -> None:
        before = self._snapshot().get(job_id)
        after = self.store.fail(
            job_id, worker, error(code), retryable=retryable, now=at(self.now_s)
        )
        assert (after is not None) == (before is not None and _holds(before, worker))

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        if job_id not in self.submitted:
            with pytest.raises(JobNotFound):
                self.store.cancel(job_id, None, now=at(self.now_s))
            return
        job = self.store.cancel(job_id, None, now=at(self.now_s))
        assert job.state is not JobState.QUEUED
        assert job.state is not JobState.RUNNING or job.cancel_requested

    @rule(job_id=jobs)
    def delete(self, job_id: str) -> None:
        job = self._snapshot().get(job_id)
        if job is not None and job.state.finished:
            self.store.delete(job_id, job.spec.tenant)
            del self.submitted[job_id]

    @rule(seconds=st.integers(1, 15))
    def advance(self, seconds: int) -> None:
        self.now_s += seconds

    @rule()
    def requeue_expired(self) -> None:
        now = at(self.now_s)
        due = {
            job.id
            for job in self._snapshot().values()
            if (
                job.state is JobState.RUNNING
                and job.lease_expires_at
                and job.lease_expires_at < now
            )
            or (job.state is JobState.QUEUED and job.spec.deadline and job.spec.deadline < now)
        }
        assert {job.id for job in self.store.requeue_expired(now=now)} == due
        assert self.store.requeue_expired(now=now) == []

    @rule(age_s=st.integers(0, 30))
    def purge(self, age_s: int) -> None:
        for job in self.store.purge(finished_before=at(self.now_s - age_s)):
            assert job.state.finished
            del self.submitted[job.id]

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def indexes_agree_with_jobs(self) -> None:
        jobs = self._snapshot()
        assert jobs.keys() == self.submitted.keys()
        tally = Counter(job.state for job in jobs.values())
        assert self.store.counts() == {state: tally[state] for state in JobState}
        queued = [job for job in jobs.values() if job.state is JobState.QUEUED]
        queued.sort(key=lambda job: (job.spec.priority.rank, self.submitted[job.id]))
        assert [job.id for job in self.store.queued(limit=1000)] == [job.id for job in queued]
        depth = Counter(job.spec.priority for job in queued)
        assert self.store.depth() == {priority: depth[priority] for priority in Priority}
        for per_tenant, limit in [(1, 1000), (2, 1000), (2, 3)]:
            expected = _oldest_per_tenant(queued, per_tenant)[:limit]
            assert self.store.queued(limit=limit, per_tenant=per_tenant) == expected

    @invariant()
    def each_state_has_its_fields(self) -> None:
        for job in self._snapshot().values():
            running = job.state is JobState.RUNNING
            assert running == (job.lease_expires_at is not None)
            assert not running or job.worker_id is not None
            assert job.state is not JobState.QUEUED or job.worker_id is None
            assert job.state.finished == (job.finished_at is not None)
            assert 0 <= job.attempts <= job.max_attempts

    def _snapshot(self) -> dict[str, Job]:
        """Every job of every tenant, through the tenants' own view (`list`)."""
        return {
            job.id: job for tenant in TENANTS for job in self.store.list(tenant, limit=1000).jobs
        }


class RedisStoreMachine(StoreMachine):
    """Also checks the Redis store's per-tenant queues key by key: each holds exactly its
    tenant's queued jobs of its priority, and the backlogged sets exactly the tenants whose
    queue is not empty."""

    def __init__(self, redis_url: str) -> None:
        prefix = f"prop:{uuid4().hex}:"
        super().__init__(RedisJobStore.from_url(redis_url, prefix=prefix))
        self.keys = RedisKeys(prefix)
        self.client = redis.Redis.from_url(redis_url, decode_responses=True)

    def teardown(self) -> None:
        super().teardown()
        self.client.close()

    @invariant()
    def tenant_queues_agree_with_jobs(self) -> None:
        queued = [job for job in self._snapshot().values() if job.state is JobState.QUEUED]
        for priority in Priority:
            expected: dict[str, list[str]] = {}
            for job in sorted(queued, key=lambda job: self.submitted[job.id]):
                if job.spec.priority is priority:
                    expected.setdefault(job.spec.tenant, []).append(job.id)
            assert self.client.smembers(self.keys.backlogged(priority)) == expected.keys()
            for tenant in TENANTS:
                stored = self.client.zrange(self.keys.tenant_queue(priority, tenant), 0, -1)
                assert stored == expected.get(tenant, [])


def _oldest_per_tenant(queued: list[Job], per_tenant: int) -> list[Job]:
    """The first `per_tenant` of each (priority, tenant) in `queued`, keeping its order."""
    taken: Counter[tuple[Priority, str]] = Counter()
    kept: list[Job] = []
    for job in queued:
        group = (job.spec.priority, job.spec.tenant)
        if taken[group] < per_tenant:
            taken[group] += 1
            kept.append(job)
    return kept


def _due(job: Job, now: datetime) -> bool:
    if job.state is JobState.RUNNING:
        return job.lease_expires_at is not None and job.lease_expires_at < now
    return (
        job.state is JobState.QUEUED and job.spec.deadline is not None and job.spec.deadline < now
    )


def _holds(job: Job, worker: str) -> bool:
    return job.state is JobState.RUNNING and job.worker_id == worker


def test_random_operations_keep_sqlite_consistent(tmp_path: Path) -> None:
    def machine() -> StoreMachine:
        folder = Path(tempfile.mkdtemp(dir=tmp_path))
        return StoreMachine(SQLiteJobStore(folder / "jobs.db", durable=False))

    run_state_machine_as_test(machine, settings=SETTINGS)  # type: ignore[no-untyped-call]


def test_random_operations_keep_redis_consistent(redis_url: str) -> None:
    def machine() -> StoreMachine:
        return RedisStoreMachine(redis_url)

    try:
        run_state_machine_as_test(machine, settings=SETTINGS)  # type: ignore[no-untyped-call]
    finally:
        flush_redis(redis_url)
