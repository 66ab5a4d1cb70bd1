"""The operators' reads and the retry of failed jobs (the admin dashboard's store calls), on
every `JobStore` implementation."""

from __future__ import annotations

import pytest

from foleyserve.errors import InvalidInput, JobNotFound
from foleyserve.jobs.model import JobState, Priority
from foleyserve.store.base import JobStore
from tests.store.factories import T0, at, error, result, spec

LEASE_S = 30.0


def _failed(store: JobStore, tenant: str = "acme", *, when_s: float = 5.0) -> str:
    """Submit one job, claim it and fail it for good; returns its id."""
    job, _ = store.submit(spec(tenant), now=T0)
    store.claim([job.id], "w1", lease_s=LEASE_S, now=at(1))
    failed = store.fail(job.id, "w1", error(), retryable=False, now=at(when_s))
    assert failed is not None and failed.state is JobState.FAILED
    return job.id


def test_depth_by_tenant_counts_queued_jobs_per_priority_and_tenant(store: JobStore) -> None:
    assert store.depth_by_tenant() == {}
    for tenant, priority in [("a", Priority.HIGH), ("a", Priority.HIGH), ("b", Priority.LOW)]:
        store.submit(spec(tenant, priority=priority), now=T0)
    running, _ = store.submit(spec("c"), now=T0)
    store.claim([running.id], "w1", lease_s=LEASE_S, now=at(1))
    assert store.depth_by_tenant() == {(Priority.HIGH, "a"): 2, (Priority.LOW, "b"): 1}


def test_running_lists_held_jobs_with_their_worker(store: JobStore) -> None:
    first, _ = store.submit(spec("a"), now=T0)
    second, _ = store.submit(spec("b"), now=T0)
    store.submit(spec("c"), now=T0)  # stays queued
    store.claim([second.id], "w2", lease_s=LEASE_S, now=at(1))
    store.claim([first.id], "w1", lease_s=LEASE_S, now=at(2))
    running = store.running()
    assert [(job.id, job.worker_id) for job in running] == [(second.id, "w2"), (first.id, "w1")]
    assert [job.id for job in store.running(limit=1)] == [second.id]
    assert store.running(limit=0) == []


def test_finished_lists_recent_finishes_of_every_tenant(store: JobStore) -> None:
    old = _failed(store, "a", when_s=5)
    done, _ = store.submit(spec("b"), now=T0)
    store.claim([done.id], "w1", lease_s=LEASE_S, now=at(1))
    store.complete(done.id, "w1", result(), now=at(20))
    late = _failed(store, "c", when_s=30)
    store.submit(spec("d"), now=T0)  # queued: never listed
    assert [job.id for job in store.finished(since=at(10))] == [late, done.id]
    assert [job.id for job in store.finished(since=at(0))] == [late, done.id, old]
    failed = store.finished(since=at(0), state=JobState.FAILED)
    assert [job.id for job in failed] == [late, old]
    assert [job.id for job in store.finished(since=at(0), limit=1)] == [late]
    with pytest.raises(InvalidInput) as caught:
        store.finished(since=at(0), limit=0)
    assert caught.value.code == "invalid_limit"


def test_retry_queues_a_failed_job_afresh_at_its_place(store: JobStore) -> None:
    failed_id = _failed(store)
    newer, _ = store.submit(spec(), now=at(6))
    retried = store.retry(failed_id)
    assert retried.state is JobState.QUEUED
    assert (retried.attempts, retried.error, retried.finished_at) == (0, None, None)
    assert store.get(failed_id) == retried
    assert [job.id for job in store.queued(limit=10)] == [failed_id, newer.id]
    assert store.finished(since=at(0)) == []
    assert store.counts()[JobState.FAILED] == 0
    assert store.counts()[JobState.QUEUED] == 2
    (again,) = store.claim([failed_id], "w2", lease_s=LEASE_S, now=at(7))
    assert again.attempts == 1


def test_retry_refuses_jobs_that_did_not_fail(store: JobStore) -> None:
    queued, _ = store.submit(spec(), now=T0)
    with pytest.raises(InvalidInput) as caught:
        store.retry(queued.id)
    assert caught.value.code == "job_not_failed"
    assert store.get(queued.id) == queued  # nothing changed
    with pytest.raises(JobNotFound):
        store.retry("job_000000000000000000000000")
