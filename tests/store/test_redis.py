"""What only the Redis store has: its key schema, its scripts and its compare-and-set."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from foleyserve.errors import StorageError
from foleyserve.jobs.model import PAYLOAD_VERSION, Charge, Job, JobState, Priority
from foleyserve.store import redis_keys, rules
from foleyserve.store.base import CacheEntry
from foleyserve.store.redis import RedisJobStore

from .conftest import flush_redis
from .factories import T0, at, error, result, spec


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    yield raw
    raw.close()
    flush_redis(redis_url)


@pytest.fixture
def store(redis_url: str, client: redis.Redis) -> Iterator[RedisJobStore]:
    opened = RedisJobStore.from_url(redis_url, prefix="iso:")
    yield opened
    opened.close()


def test_every_key_lives_under_the_prefix(store: RedisJobStore, client: redis.Redis) -> None:
    job, _ = store.submit(spec(deadline=at(60)), now=T0, idempotency_key="k")
    store.submit(spec(), now=T0)
    store.claim([job.id], "w1", lease_s=30, now=at(1), charge={"acme": Charge(0.0, 8.0)})
    store.complete(job.id, "w1", result(), now=at(2))
    store.cache_put("results", "k", CacheEntry("obj", 10), now=T0)
    store.queued(limit=10, per_tenant=1)
    keys = {str(key) for key in client.keys("*")}
    assert all(key.startswith("iso:") for key in keys)
    families = {
        redis_keys.JOB,
        redis_keys.QUEUE,
        redis_keys.TENANT_QUEUE,
        redis_keys.BACKLOGGED,
        redis_keys.KEY_SCHEMA,
        redis_keys.FINISHED,
        redis_keys.TENANT_JOBS,
        redis_keys.IDEMPOTENCY,
        redis_keys.SEQ,
        redis_keys.COUNTS,
        redis_keys.FAIRNESS,
        redis_keys.CACHE_ENTRIES,
        redis_keys.CACHE_USED,
        redis_keys.CACHE_BYTES,
    }
    assert {f for f in families if any(k.startswith("iso:" + f) for k in keys)} == families
    stored = json.loads(client.hget(f"iso:job:{job.id}", "payload") or "{}")
    assert (stored["v"], stored["state"]) == (PAYLOAD_VERSION, JobState.SUCCEEDED.value)


def test_a_tenant_leaves_the_backlog_with_its_last_queued_job(
    store: RedisJobStore, client: redis.Redis
) -> None:
    a1, a2 = (store.submit(spec("a"), now=T0)[0].id for _ in range(2))
    b1 = store.submit(spec("b"), now=T0)[0].id
    high = store.submit(spec("a", priority=Priority.HIGH), now=T0)[0].id
    assert client.smembers("iso:backlogged:normal") == {"a", "b"}
    assert client.smembers("iso:backlogged:high") == {"a"}
    assert client.zrange("iso:tenant_queue:normal:a", 0, -1) == [a1, a2]
    store.claim([a1, b1, high], "w1", lease_s=30, now=at(1))
    store.cancel(a2, "a", now=at(1))
    assert client.smembers("iso:backlogged:normal") == set()
    assert client.smembers("iso:backlogged:high") == set()
    assert not client.exists("iso:tenant_queue:normal:a", "iso:tenant_queue:normal:b")
    store.fail(b1, "w1", error(), retryable=True, now=at(2))
    assert client.smembers("iso:backlogged:normal") == {"b"}
    assert client.zrange("iso:tenant_queue:normal:b", 0, -1) == [b1]


def test_jobs_queued_before_the_tenant_queues_are_filled_in(
    store: RedisJobStore, client: redis.Redis, redis_url: str
) -> None:
    ids = [store.submit(spec(t), now=at(i))[0].id for i, t in enumerate("aabbc")]
    high = store.submit(spec("c", priority=Priority.HIGH), now=at(9))[0].id
    store.claim([ids[4]], "w1", lease_s=30, now=at(10))
    # What a foleyserve from before the tenant queues leaves behind: none of their keys.
    client.delete(*client.keys("iso:tenant_queue:*"), *client.keys("iso:backlogged:*"))
    client.delete("iso:key_schema")
    upgraded = RedisJobStore.from_url(redis_url, prefix="iso:")
    try:
        assert [job.id for job in upgraded.queued(limit=10, per_tenant=1)] == [
            high,
            ids[0],
            ids[2],
        ]
        assert client.get("iso:key_schema") == redis_keys.KEY_SCHEMA_VERSION
        assert client.smembers("iso:backlogged:normal") == {"a", "b"}
        upgraded.claim([ids[0], ids[2], ids[3]], "w1", lease_s=30, now=at(11))
        assert [job.id for job in upgraded.queued(limit=10, per_tenant=2)] == [high, ids[1]]
        assert client.smembers("iso:backlogged:normal") == {"a"}
    finally:
        upgraded.close()


def test_prefixes_isolate_deployments(store: RedisJobStore, redis_url: str) -> None:
    other = RedisJobStore.from_url(redis_url, prefix="other:")
    try:
        job, _ = store.submit(spec(), now=T0)
        assert other.queued(limit=10) == []
        assert other.claim([job.id], "w1", lease_s=30, now=T0) == []
        assert other.counts()[JobState.QUEUED] == 0
    finally:
        other.close()


def test_scripts_are_reloaded_after_a_script_flush(
    store: RedisJobStore, client: redis.Redis
) -> None:
    store.submit(spec(), now=T0)
    client.script_flush()
    job, _ = store.submit(spec(), now=T0)
    assert store.get(job.id) == job


def test_a_job_changed_between_read_and_write_is_decided_again(
    store: RedisJobStore, redis_url: str
) -> None:
    job, _ = store.submit(spec(), now=T0)
    rival = RedisJobStore.from_url(redis_url, prefix="iso:")
    decisions: list[JobState] = []

    def claim_after_a_rival(current: Job) -> Job | None:
        decisions.append(current.state)
        if len(decisions) == 1:  # the rival claims it after we read it as queued
            rival.claim([job.id], "rival", lease_s=30, now=at(1))
        return rules.claimed(current, "us", lease_s=30, now=at(1))

    try:
        changed, untouched = store._apply([job.id], claim_after_a_rival)
    finally:
        rival.close()
    assert decisions == [JobState.QUEUED, JobState.RUNNING]
    assert changed == {}
    assert store.get(job.id).worker_id == "rival"
    assert untouched[job.id] == store.get(job.id)


def test_client_must_decode_responses(redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisJobStore(raw)
    finally:
        raw.close()


def test_unreachable_redis_raises_storage_error() -> None:
    store = RedisJobStore.from_url("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(StorageError, match="Redis"):
            store.get("job_x")
    finally:
        store.close()
