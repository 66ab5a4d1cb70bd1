"""The contract of `queued(per_tenant=K)`, the fair-share policy's snapshot, on every store."""

from __future__ import annotations

import pytest

from foleyserve.jobs.model import Priority
from foleyserve.store.base import JobStore

from .factories import T0, at, error, spec

LEASE_S = 30.0
HIGH, NORMAL, LOW = Priority.HIGH, Priority.NORMAL, Priority.LOW


def _submit(store: JobStore, tenant: str, priority: Priority = NORMAL) -> str:
    return store.submit(spec(tenant, priority=priority), now=T0)[0].id


def _ids(store: JobStore, *, limit: int = 1000, per_tenant: int | None) -> list[str]:
    return [job.id for job in store.queued(limit=limit, per_tenant=per_tenant)]


def test_oldest_k_of_each_priority_and_tenant_in_queue_order(store: JobStore) -> None:
    a1, b1, a2, a3, b2 = (_submit(store, t) for t in "abaab")
    c1, a4, a5 = _submit(store, "c", HIGH), _submit(store, "a", HIGH), _submit(store, "a", HIGH)
    b3, b4 = _submit(store, "b", LOW), _submit(store, "b", LOW)
    assert _ids(store, per_tenant=2) == [c1, a4, a5, a1, b1, a2, b2, b3, b4]
    assert _ids(store, per_tenant=1) == [c1, a4, a1, b1, b3]
    everything = _ids(store, per_tenant=None)
    assert everything == [c1, a4, a5, a1, b1, a2, a3, b2, b3, b4]
    assert _ids(store, per_tenant=100) == everything
    assert store.queued(limit=4, per_tenant=None) == store.queued(limit=4)


def test_a_deep_backlog_does_not_hide_another_tenant(store: JobStore) -> None:
    deep = [store.submit(spec("deep"), now=at(i))[0].id for i in range(1200)]
    single = store.submit(spec("single"), now=at(1200))[0].id
    assert single not in _ids(store, per_tenant=None)  # it is job 1,201
    assert _ids(store, per_tenant=16) == [*deep[:16], single]


def test_the_limit_keeps_higher_priorities_and_older_jobs(store: JobStore) -> None:
    low = _submit(store, "a", LOW)
    a1, b1, a2, b2 = (_submit(store, t) for t in "abab")
    high = _submit(store, "c", HIGH)
    assert _ids(store, per_tenant=2, limit=4) == [high, a1, b1, a2]
    assert _ids(store, per_tenant=1, limit=3) == [high, a1, b1]
    assert _ids(store, per_tenant=2, limit=6) == [high, a1, b1, a2, b2, low]
    assert _ids(store, per_tenant=2, limit=0) == []


def test_the_snapshot_follows_every_way_in_and_out_of_the_queue(store: JobStore) -> None:
    a1, a2, a3, b1 = (_submit(store, t) for t in "aaab")
    assert _ids(store, per_tenant=1) == [a1, b1]
    store.claim([a1], "w1", lease_s=LEASE_S, now=at(1))
    assert _ids(store, per_tenant=1) == [a2, b1]
    store.cancel(a2, "a", now=at(2))
    assert _ids(store, per_tenant=1) == [a3, b1]
    store.fail(a1, "w1", error(), retryable=True, now=at(3))  # back ahead of a3
    assert _ids(store, per_tenant=1) == [a1, b1]
    store.claim([b1, a1], "w2", lease_s=LEASE_S, now=at(4))
    assert _ids(store, per_tenant=1) == [a3]
    store.requeue_expired(now=at(100))  # both leases lost: back to the queue
    assert _ids(store, per_tenant=2) == [a1, a3, b1]
    store.delete(a2, "a")
    store.claim([a1, a3, b1], "w1", lease_s=LEASE_S, now=at(101))
    assert _ids(store, per_tenant=1) == []
    b2 = _submit(store, "b")
    assert _ids(store, per_tenant=1) == [b2]
    late = store.submit(spec("a", deadline=at(150)), now=at(101))[0].id
    assert _ids(store, per_tenant=1) == [b2, late]
    # `late` expires; leases lost again: a1 (its third attempt) is dead-lettered, a3 and b1
    # come back.
    store.requeue_expired(now=at(151))
    assert _ids(store, per_tenant=1) == [a3, b1]
    store.purge(finished_before=at(1000))
    assert _ids(store, per_tenant=3) == [a3, b1, b2]


@pytest.mark.parametrize("per_tenant", [0, -1])
def test_per_tenant_must_be_positive(store: JobStore, per_tenant: int) -> None:
    with pytest.raises(ValueError, match="per_tenant"):
        store.queued(limit=10, per_tenant=per_tenant)
