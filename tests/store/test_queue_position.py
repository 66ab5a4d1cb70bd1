"""Queue position, recent throughput and workers' reports, on every `JobStore` implementation."""

from __future__ import annotations

import pytest

from foleyserve.errors import JobNotFound
from foleyserve.jobs.model import Priority
from foleyserve.store.base import JobStore

from .factories import T0, at, result, spec


def test_jobs_ahead_count_higher_priorities_and_older_jobs(store: JobStore) -> None:
    order = [Priority.NORMAL, Priority.LOW, Priority.HIGH, Priority.NORMAL, Priority.HIGH]
    jobs = [store.submit(spec(priority=p), now=T0)[0] for p in order]
    assert [store.queue_ahead(job) for job in jobs] == [2, 4, 0, 3, 1]
    store.claim([jobs[2].id], "w1", lease_s=30, now=at(1))
    store.cancel(jobs[0].id, None, now=at(1))
    assert [store.queue_ahead(job) for job in jobs[1:]] == [2, 0, 1, 0]


def test_position_of_a_forgotten_job_is_not_found(store: JobStore) -> None:
    job, _ = store.submit(spec(), now=T0)
    store.cancel(job.id, None, now=at(1))
    store.delete(job.id, None)
    with pytest.raises(JobNotFound):
        store.queue_ahead(job)


def test_finished_since_counts_recent_finishes(store: JobStore) -> None:
    for i in range(3):
        store.submit_finished(spec(), result(), now=at(10 * i))
    store.submit(spec(), now=T0)  # queued, not finished
    assert store.finished_since(at(0)) == 3
    assert store.finished_since(at(10)) == 2
    assert store.finished_since(at(21)) == 0


def test_workers_last_reports_move_forward_only(store: JobStore) -> None:
    assert store.workers() == {}
    store.record_worker("gpu0", now=at(5))
    store.record_worker("gpu1", now=at(3))
    store.record_worker("gpu0", now=at(4))  # a late, older report changes nothing
    assert store.workers() == {"gpu0": at(5), "gpu1": at(3)}
