"""The `JobStore` contract, run against every implementation (see conftest's `store`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from foleyserve.errors import InvalidInput, JobNotFound, QueueFull, RateLimited
from foleyserve.jobs.model import PAYLOAD_VERSION, Charge, JobError, JobState, Priority, Progress
from foleyserve.store.base import CacheEntry, JobStore

from .conftest import StoreFactory
from .factories import T0, at, error, result, spec

LEASE_S = 30.0


def _submit(store: JobStore, n: int, tenant: str = "acme") -> list[str]:
    return [store.submit(spec(tenant), now=at(i))[0].id for i in range(n)]


def _queued_ids(store: JobStore) -> list[str]:
    return [job.id for job in store.queued(limit=1000)]


def _running(store: JobStore, worker: str = "w1") -> str:
    """Submit one job and claim it for `worker`; returns its id."""
    job, _ = store.submit(spec(), now=T0)
    (claimed,) = store.claim([job.id], worker, lease_s=LEASE_S, now=at(1))
    return claimed.id


def _assert_not_found(job_id: str, call: Callable[[], object]) -> None:
    """`call` raises JobNotFound with the one message for missing and foreign jobs alike."""
    with pytest.raises(JobNotFound) as caught:
        call()
    assert caught.value.message == f"job {job_id} not found"


# -- submit ------------------------------------------------------------------------------------
def test_submit_queues_a_new_job(store: JobStore) -> None:
    job, created = store.submit(spec(), now=T0, max_attempts=5)
    assert created
    assert job.state is JobState.QUEUED
    assert (job.v, job.attempts, job.max_attempts, job.created_at) == (PAYLOAD_VERSION, 0, 5, T0)
    assert job.worker_id is None and job.lease_expires_at is None
    assert store.get(job.id) == job
    assert store.counts()[JobState.QUEUED] == 1


def test_queue_order_is_priority_then_submission(store: JobStore) -> None:
    # Equal `now` on purpose: submission order, not the timestamp, decides.
    order = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.NORMAL, Priority.HIGH]
    ids = [store.submit(spec(priority=p), now=T0)[0].id for p in order]
    assert _queued_ids(store) == [ids[2], ids[4], ids[1], ids[3], ids[0]]
    assert [job.id for job in store.queued(limit=2)] == [ids[2], ids[4]]
    assert store.depth() == {Priority.HIGH: 2, Priority.NORMAL: 2, Priority.LOW: 1}


def test_max_queued_counts_every_tenant_and_priority(store: JobStore) -> None:
    store.submit(spec("a", priority=Priority.HIGH), now=T0, max_queued=2)
    second, _ = store.submit(spec("b", priority=Priority.LOW), now=T0, max_queued=2)
    with pytest.raises(QueueFull) as caught:
        store.submit(spec("c"), now=T0, max_queued=2)
    assert caught.value.retry_after_s > 0
    assert caught.value.code == "queue_full"
    assert store.counts()[JobState.QUEUED] == 2
    store.claim([second.id], "w1", lease_s=LEASE_S, now=T0)
    store.submit(spec("c"), now=T0, max_queued=2)  # running jobs do not count


def test_tenant_max_queued_counts_that_tenants_queued_jobs_only(store: JobStore) -> None:
    store.submit(spec("a", priority=Priority.HIGH), now=T0, tenant_max_queued=2)
    second, _ = store.submit(spec("a", priority=Priority.LOW), now=T0, tenant_max_queued=2)
    with pytest.raises(RateLimited) as caught:
        store.submit(spec("a"), now=T0, tenant_max_queued=2)
    assert caught.value.code == "quota_queued_jobs" and caught.value.retry_after_s > 0
    assert "may have 2 jobs queued at once and has 2" in caught.value.message
    store.submit(spec("b"), now=T0, tenant_max_queued=2)  # another tenant's cap is its own
    assert (store.queued_of("a"), store.queued_of("b"), store.queued_of("c")) == (2, 1, 0)
    store.claim([second.id], "w1", lease_s=LEASE_S, now=T0)
    store.submit(spec("a"), now=T0, tenant_max_queued=2)  # running jobs do not count
    assert store.counts()[JobState.QUEUED] == 3


def test_idempotency_key_returns_the_first_job(store: JobStore) -> None:
    first, created = store.submit(spec(), now=T0, idempotency_key="k1")
    again, created_again = store.submit(spec(prompt="other"), now=at(5), idempotency_key="k1")
    assert created and not created_again
    assert again == first
    other_tenant, created_other = store.submit(spec("zeta"), now=T0, idempotency_key="k1")
    assert created_other and other_tenant.id != first.id
    assert store.counts()[JobState.QUEUED] == 2


def test_idempotency_outlives_the_run_and_beats_a_full_queue(store: JobStore) -> None:
    first, _ = store.submit(spec(), now=T0, idempotency_key="k1")
    store.claim([first.id], "w1", lease_s=LEASE_S, now=at(1))
    done = store.complete(first.id, "w1", result(), now=at(2))
    store.submit(spec(), now=at(3), max_queued=1)
    again, created = store.submit(spec(), now=at(4), idempotency_key="k1", max_queued=1)
    assert not created and again == done


def test_idempotency_key_is_free_again_after_delete(store: JobStore) -> None:
    first, _ = store.submit(spec(), now=T0, idempotency_key="k1")
    store.cancel(first.id, "acme", now=at(1))
    store.delete(first.id, "acme")
    second, created = store.submit(spec(), now=at(2), idempotency_key="k1")
    assert created and second.id != first.id


def test_submit_finished_records_a_cached_job(store: JobStore) -> None:
    job = store.submit_finished(spec(), result("cached"), now=at(7))
    assert job.state is JobState.SUCCEEDED
    assert job.cached and job.result == result("cached") and job.finished_at == at(7)
    assert store.get(job.id, "acme") == job
    assert _queued_ids(store) == []
    assert store.counts()[JobState.SUCCEEDED] == 1
    assert store.list("acme").jobs == [job]


# -- get, list ---------------------------------------------------------------------------------
def test_other_tenants_job_is_not_found_like_a_missing_one(store: JobStore) -> None:
    job, _ = store.submit(spec("acme"), now=T0)
    _assert_not_found(job.id, lambda: store.get(job.id, "zeta"))
    _assert_not_found("job_missing", lambda: store.get("job_missing", "acme"))
    _assert_not_found("job_missing", lambda: store.get("job_missing"))
    assert store.get(job.id) == store.get(job.id, "acme") == job


def test_list_is_newest_first_and_pages_are_stable(store: JobStore) -> None:
    ids = _submit(store, 7)
    _submit(store, 2, tenant="zeta")
    page = store.list("acme", limit=3)
    assert [job.id for job in page.jobs] == ids[6:3:-1]
    _submit(store, 3)  # newer jobs must not shift the pages already handed out
    seen = [job.id for job in page.jobs]
    while page.cursor is not None:
        page = store.list("acme", limit=3, cursor=page.cursor)
        seen += [job.id for job in page.jobs]
    assert seen == ids[::-1]


def test_list_exact_multiple_of_limit_ends_without_cursor(store: JobStore) -> None:
    _submit(store, 4)
    first = store.list("acme", limit=2)
    second = store.list("acme", limit=2, cursor=first.cursor)
    assert first.cursor is not None and len(second.jobs) == 2 and second.cursor is None
    assert store.list("nobody").jobs == []


def test_list_filters_by_state_across_pages(store: JobStore) -> None:
    ids = _submit(store, 150)
    canceled = ids[::3]
    for job_id in canceled:
        store.cancel(job_id, "acme", now=at(200))
    found: list[str] = []
    cursor = None
    while True:
        page = store.list("acme", state=JobState.CANCELED, limit=20, cursor=cursor)
        assert all(job.state is JobState.CANCELED for job in page.jobs)
        found += [job.id for job in page.jobs]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert found == canceled[::-1]
    assert len(store.list("acme", state=JobState.QUEUED, limit=200).jobs) == 100


def test_list_refuses_bad_cursors_and_limits(store: JobStore) -> None:
    with pytest.raises(InvalidInput) as caught:
        store.list("acme", cursor="not-a-cursor")
    assert caught.value.code == "invalid_cursor"
    with pytest.raises(InvalidInput):
        store.list("acme", limit=0)


# -- claim -------------------------------------------------------------------------------------
def test_claim_moves_queued_jobs_to_running(store: JobStore) -> None:
    job, _ = store.submit(spec(), now=T0)
    (claimed,) = store.claim([job.id], "w1", lease_s=LEASE_S, now=at(10))
    assert claimed.state is JobState.RUNNING
    assert (claimed.attempts, claimed.worker_id, claimed.started_at) == (1, "w1", at(10))
    assert claimed.lease_expires_at == at(10 + LEASE_S)
    assert claimed.progress == Progress(stage="starting")
    assert store.get(job.id) == claimed
    assert _queued_ids(store) == []
    assert store.depth()[Priority.NORMAL] == 0
    assert store.counts()[JobState.RUNNING] == 1


def test_claim_skips_jobs_no_longer_queued(store: JobStore) -> None:
    a, b, c, d = _submit(store, 4)
    store.cancel(b, "acme", now=at(5))
    store.claim([c], "w2", lease_s=LEASE_S, now=at(5))
    claimed = store.claim([d, a, b, c, "job_missing", d], "w1", lease_s=LEASE_S, now=at(6))
    assert [job.id for job in claimed] == [d, a]
    assert store.get(c).worker_id == "w2"
    assert store.claim([], "w1", lease_s=LEASE_S, now=at(6)) == []


def test_two_store_instances_never_claim_one_job_twice(make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    ids = _submit(first, 3)
    assert len(first.claim(ids, "w1", lease_s=LEASE_S, now=at(5))) == 3
    assert second.claim(ids, "w2", lease_s=LEASE_S, now=at(5)) == []


def test_claim_charges_only_tenants_that_got_a_job(store: JobStore) -> None:
    a, _ = store.submit(spec("a"), now=T0)
    b, _ = store.submit(spec("b"), now=T0)
    store.cancel(b.id, "b", now=T0)
    charge = {"a": Charge(0.0, 8.5), "b": Charge(0.0, 8.0)}
    store.claim([a.id, b.id], "w1", lease_s=LEASE_S, now=at(1), charge=charge)
    assert store.fairness() == {"a": 8.5}
    c, _ = store.submit(spec("a"), now=T0)
    store.claim([c.id], "w1", lease_s=LEASE_S, now=at(2), charge={"a": Charge(8.5, 8.5)})
    assert store.fairness() == {"a": 17.0}


def test_charges_planned_from_one_snapshot_add_up(store: JobStore) -> None:
    """Two workers plan from the same counters (a at 10) and claim different jobs: both costs
    count, where writing each worker's computed value would keep only the last."""
    first, _ = store.submit(spec("a"), now=T0)
    store.claim([first.id], "w0", lease_s=LEASE_S, now=at(1), charge={"a": Charge(0.0, 10.0)})
    x, _ = store.submit(spec("a"), now=T0)
    y, _ = store.submit(spec("a"), now=T0)
    store.claim([x.id], "w1", lease_s=LEASE_S, now=at(2), charge={"a": Charge(10.0, 5.0)})
    store.claim([y.id], "w2", lease_s=LEASE_S, now=at(2), charge={"a": Charge(10.0, 3.0)})
    assert store.fairness() == {"a": 18.0}


def test_a_charge_lifts_an_idle_tenant_to_its_floor(store: JobStore) -> None:
    job, _ = store.submit(spec("a"), now=T0)
    store.claim([job.id], "w1", lease_s=LEASE_S, now=at(1), charge={"a": Charge(300.0, 2.0)})
    assert store.fairness() == {"a": 302.0}


# -- heartbeat ---------------------------------------------------------------------------------
def test_heartbeat_renews_held_leases_and_reports_the_rest(store: JobStore) -> None:
    mine = _running(store, "w1")
    theirs = _running(store, "w2")
    finished = _running(store, "w1")
    store.complete(finished, "w1", result(), now=at(2))
    progress = Progress(stage="sampling", step=3, total=50)
    reply = store.heartbeat(
        "w1",
        {mine: progress, theirs: progress, finished: progress, "job_missing": progress},
        lease_s=60,
        now=at(20),
    )
    assert reply.lost == [theirs, finished, "job_missing"]
    assert reply.cancel == []
    renewed = store.get(mine)
    assert renewed.lease_expires_at == at(80) and renewed.progress == progress
    assert store.get(theirs).lease_expires_at == at(1 + LEASE_S)


def test_heartbeat_reports_cancel_requests(store: JobStore) -> None:
    job_id = _running(store)
    store.cancel(job_id, "acme", now=at(2))
    reply = store.heartbeat("w1", {job_id: Progress(stage="sampling")}, lease_s=60, now=at(3))
    assert (reply.lost, reply.cancel) == ([], [job_id])


def test_heartbeat_keeps_an_overdue_lease_nobody_took(store: JobStore) -> None:
    job_id = _running(store)
    reply = store.heartbeat("w1", {job_id: Progress()}, lease_s=60, now=at(100))
    assert reply.lost == []
    assert store.get(job_id).lease_expires_at == at(160)
    assert store.requeue_expired(now=at(101)) == []


# -- complete, fail ----------------------------------------------------------------------------
def test_complete_only_by_the_holder(store: JobStore) -> None:
    job_id = _running(store, "w1")
    before = store.get(job_id)
    assert store.complete(job_id, "w2", result(), now=at(5)) is None
    assert store.get(job_id) == before
    done = store.complete(job_id, "w1", result(), now=at(5))
    assert done is not None and done.state is JobState.SUCCEEDED
    assert (done.result, done.finished_at, done.lease_expires_at) == (result(), at(5), None)
    assert store.get(job_id) == done
    assert store.complete(job_id, "w1", result(), now=at(6)) is None
    assert store.counts()[JobState.SUCCEEDED] == 1 and store.counts()[JobState.RUNNING] == 0


def test_retryable_failure_requeues_at_the_front_of_its_priority(store: JobStore) -> None:
    high, _ = store.submit(spec(priority=Priority.HIGH), now=T0)
    older, newer = _submit(store, 2)
    store.claim([high.id, older], "w1", lease_s=LEASE_S, now=at(5))
    store.submit(spec(), now=at(6))
    failed = store.fail(older, "w1", error(), retryable=True, now=at(7))
    assert failed is not None and failed.state is JobState.QUEUED
    assert (failed.error, failed.worker_id, failed.lease_expires_at) == (error(), None, None)
    assert failed.attempts == 1
    store.fail(high.id, "w1", error(), retryable=True, now=at(8))
    assert _queued_ids(store)[:3] == [high.id, older, newer]


def test_failure_without_attempts_left_is_final(store: JobStore) -> None:
    job, _ = store.submit(spec(), now=T0, max_attempts=2)
    outcomes = []
    for attempt in (1, 2):
        (claimed,) = store.claim([job.id], "w1", lease_s=LEASE_S, now=at(attempt))
        assert claimed.attempts == attempt
        outcomes.append(store.fail(job.id, "w1", error(), retryable=True, now=at(attempt)))
    assert [job and job.state for job in outcomes] == [JobState.QUEUED, JobState.FAILED]
    assert store.get(job.id) == outcomes[-1]
    assert outcomes[-1] is not None
    assert (outcomes[-1].error, outcomes[-1].finished_at) == (error(), at(2))
    assert store.counts()[JobState.FAILED] == 1 and _queued_ids(store) == []


def test_permanent_failure_and_cancel_code(store: JobStore) -> None:
    broken, stopped = _running(store), _running(store)
    failed = store.fail(broken, "w1", error("bad_video"), retryable=False, now=at(3))
    canceled = store.fail(stopped, "w1", error("canceled", "by tenant"), retryable=True, now=at(3))
    assert failed is not None and failed.state is JobState.FAILED
    assert canceled is not None and canceled.state is JobState.CANCELED
    assert store.fail(broken, "w1", error(), retryable=False, now=at(4)) is None
    assert store.fail(_running(store, "w1"), "w2", error(), retryable=False, now=at(4)) is None


# -- cancel, delete ----------------------------------------------------------------------------
def test_cancel_queued_job_at_once(store: JobStore) -> None:
    job, _ = store.submit(spec(), now=T0)
    canceled = store.cancel(job.id, "acme", now=at(4))
    assert canceled.state is JobState.CANCELED and canceled.finished_at == at(4)
    assert store.get(job.id) == canceled
    assert _queued_ids(store) == [] and store.depth()[Priority.NORMAL] == 0
    assert store.cancel(job.id, "acme", now=at(9)) == canceled


def test_cancel_running_job_asks_its_worker(store: JobStore) -> None:
    job_id = _running(store)
    asked = store.cancel(job_id, None, now=at(4))
    assert asked.state is JobState.RUNNING and asked.cancel_requested
    assert store.cancel(job_id, "acme", now=at(5)) == asked
    stopped = store.fail(job_id, "w1", error("canceled", "stopped"), retryable=False, now=at(6))
    assert stopped is not None and stopped.state is JobState.CANCELED
    assert stopped.finished_at == at(6)


def test_a_job_asked_to_cancel_is_not_retried(store: JobStore) -> None:
    job_id = _running(store)
    store.cancel(job_id, "acme", now=at(4))
    failed = store.fail(job_id, "w1", error("out_of_memory"), retryable=True, now=at(5))
    assert failed is not None and failed.state is JobState.CANCELED


def test_cancel_finished_job_changes_nothing(store: JobStore) -> None:
    job_id = _running(store)
    done = store.complete(job_id, "w1", result(), now=at(3))
    assert store.cancel(job_id, "acme", now=at(4)) == done


def test_cancel_and_delete_check_the_tenant(store: JobStore) -> None:
    job, _ = store.submit(spec("acme"), now=T0)
    _assert_not_found(job.id, lambda: store.cancel(job.id, "zeta", now=at(1)))
    store.cancel(job.id, "acme", now=at(1))
    _assert_not_found(job.id, lambda: store.delete(job.id, "zeta"))
    _assert_not_found("job_missing", lambda: store.cancel("job_missing", None, now=at(1)))
    assert store.get(job.id).state is JobState.CANCELED


def test_delete_forgets_finished_jobs_only(store: JobStore) -> None:
    queued, _ = store.submit(spec(), now=T0)
    with pytest.raises(InvalidInput) as caught:
        store.delete(queued.id, "acme")
    assert caught.value.code == "job_not_finished"
    canceled = store.cancel(queued.id, "acme", now=at(1))
    assert store.delete(queued.id, "acme") == canceled
    with pytest.raises(JobNotFound):
        store.get(queued.id)
    with pytest.raises(JobNotFound):
        store.delete(queued.id, None)
    assert store.list("acme").jobs == []
    assert sum(store.counts().values()) == 0


# -- requeue_expired ---------------------------------------------------------------------------
def test_lost_lease_requeues_the_job(store: JobStore) -> None:
    job_id = _running(store, "w1")  # lease until at(31)
    newer, _ = store.submit(spec(), now=at(2))
    assert store.requeue_expired(now=at(31)) == []  # ends at 31: not yet lost
    (requeued,) = store.requeue_expired(now=at(32))
    assert requeued.id == job_id and requeued.state is JobState.QUEUED
    assert requeued.error == JobError(code="lease_lost", message="worker w1 stopped heartbeating")
    assert (requeued.attempts, requeued.worker_id, requeued.lease_expires_at) == (1, None, None)
    assert store.get(job_id) == requeued
    assert _queued_ids(store) == [job_id, newer.id]
    assert store.complete(job_id, "w1", result(), now=at(33)) is None
    lost = store.heartbeat("w1", {job_id: Progress()}, lease_s=LEASE_S, now=at(33))
    assert lost.lost == [job_id]
    assert store.requeue_expired(now=at(40)) == []


def test_lost_lease_without_attempts_left_is_dead_lettered(store: JobStore) -> None:
    job, _ = store.submit(spec(), now=T0, max_attempts=1)
    store.claim([job.id], "w1", lease_s=LEASE_S, now=at(1))
    (failed,) = store.requeue_expired(now=at(100))
    assert failed.state is JobState.FAILED and failed.finished_at == at(100)
    assert failed.error is not None and failed.error.code == "lease_lost"
    assert store.counts()[JobState.FAILED] == 1 and store.counts()[JobState.RUNNING] == 0


def test_lost_lease_of_a_job_asked_to_cancel_cancels_it(store: JobStore) -> None:
    job_id = _running(store)
    store.cancel(job_id, "acme", now=at(2))
    (canceled,) = store.requeue_expired(now=at(100))
    assert canceled.state is JobState.CANCELED


def test_queued_jobs_past_their_deadline_expire(store: JobStore) -> None:
    late, _ = store.submit(spec(deadline=at(10)), now=T0)
    on_time, _ = store.submit(spec(deadline=at(100)), now=T0)
    started, _ = store.submit(spec(deadline=at(10)), now=T0)
    store.claim([started.id], "w1", lease_s=1000, now=at(1))
    assert store.requeue_expired(now=at(10)) == []
    (expired,) = store.requeue_expired(now=at(11))
    assert expired.id == late.id and expired.state is JobState.EXPIRED
    assert expired.finished_at == at(11)
    assert _queued_ids(store) == [on_time.id]
    assert store.get(started.id).state is JobState.RUNNING
    assert store.requeue_expired(now=at(11)) == []


def test_a_requeued_job_past_its_deadline_expires(store: JobStore) -> None:
    job, _ = store.submit(spec(deadline=at(50)), now=T0)
    store.claim([job.id], "w1", lease_s=10, now=at(1))
    store.fail(job.id, "w1", error(), retryable=True, now=at(2))
    (expired,) = store.requeue_expired(now=at(60))
    assert expired.state is JobState.EXPIRED


# -- purge, depth, counts ----------------------------------------------------------------------
def test_purge_forgets_old_finished_jobs(store: JobStore) -> None:
    old, _ = store.submit(spec(), now=T0, idempotency_key="k")
    store.cancel(old.id, "acme", now=at(10))
    cached = store.submit_finished(spec(), result(), now=at(20))
    recent = store.submit_finished(spec(), result(), now=at(30))
    queued, _ = store.submit(spec(), now=at(1))
    running = _running(store)
    purged = store.purge(finished_before=at(30))
    assert sorted(job.id for job in purged) == sorted([old.id, cached.id])
    assert [job.id for job in store.list("acme").jobs] == [running, queued.id, recent.id]
    assert store.counts() == {
        JobState.QUEUED: 1,
        JobState.RUNNING: 1,
        JobState.SUCCEEDED: 1,
        JobState.FAILED: 0,
        JobState.CANCELED: 0,
        JobState.EXPIRED: 0,
    }
    assert store.submit(spec(), now=at(40), idempotency_key="k")[1]
    assert store.purge(finished_before=at(30)) == []


def test_empty_store_reports_zeros(store: JobStore) -> None:
    assert store.depth() == dict.fromkeys(Priority, 0)
    assert store.counts() == dict.fromkeys(JobState, 0)
    assert store.fairness() == {}
    assert store.queued(limit=10) == []
    assert store.requeue_expired(now=T0) == []


# -- cache index -------------------------------------------------------------------------------
def test_cache_put_get_and_stats(store: JobStore) -> None:
    assert store.cache_get("results", "k1", now=T0) is None
    store.cache_put("results", "k1", CacheEntry("obj/1", 100), now=T0)
    store.cache_put("results", "k2", CacheEntry("obj/2", 50), now=T0)
    store.cache_put("features", "k1", CacheEntry("feat/1", 7), now=T0)
    assert store.cache_get("results", "k1", now=at(1)) == CacheEntry("obj/1", 100)
    assert store.cache_stats("results") == (2, 150)
    store.cache_put("results", "k1", CacheEntry("obj/1b", 30), now=at(2))
    assert store.cache_get("results", "k1", now=at(3)) == CacheEntry("obj/1b", 30)
    assert store.cache_stats("results") == (2, 80)
    assert store.cache_stats("features") == (1, 7)
    assert store.cache_stats("empty") == (0, 0)


def test_cache_evicts_least_recently_used_first(store: JobStore) -> None:
    for i, key in enumerate(["a", "b", "c", "d"]):
        store.cache_put("results", key, CacheEntry(f"obj/{key}", 10), now=at(i))
    store.cache_get("results", "a", now=at(10))  # a is now the most recent
    assert store.cache_evict("results", max_bytes=40) == []
    dropped = store.cache_evict("results", max_bytes=15)
    assert dropped == [CacheEntry("obj/b", 10), CacheEntry("obj/c", 10), CacheEntry("obj/d", 10)]
    assert store.cache_stats("results") == (1, 10)
    assert store.cache_get("results", "b", now=at(11)) is None
    assert store.cache_get("results", "a", now=at(11)) == CacheEntry("obj/a", 10)
    assert store.cache_evict("results", max_bytes=0) == [CacheEntry("obj/a", 10)]
    assert store.cache_stats("results") == (0, 0)
