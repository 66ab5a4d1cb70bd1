"""What only the Redis store has: its key schema, its scripts and its compare-and-set."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from foleyserve.errors import StorageError
from foleyserve.jobs.model import PAYLOAD_VERSION, Job, JobState
from foleyserve.store import redis_keys, rules
from foleyserve.store.base import CacheEntry
from foleyserve.store.redis import RedisJobStore

from .conftest import flush_redis
from .factories import T0, at, result, spec


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
    store.claim([job.id], "w1", lease_s=30, now=at(1), charge={"acme": 8.0})
    store.complete(job.id, "w1", result(), now=at(2))
    store.cache_put("results", "k", CacheEntry("obj", 10), now=T0)
    keys = {str(key) for key in client.keys("*")}
    assert all(key.startswith("iso:") for key in keys)
    families = {
        redis_keys.JOB,
        redis_keys.QUEUE,
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
