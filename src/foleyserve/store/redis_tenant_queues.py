"""The Redis store's per-tenant queues (`redis_keys.TENANT_QUEUE`, `BACKLOGGED`): reading their
heads for `queued(per_tenant=K)`, and filling them in for data from before they existed.

The scripts of `redis_scripts` keep them in step with the priority queues; nothing here changes
a job.
"""

from __future__ import annotations

from typing import Any

import redis

from foleyserve.jobs.model import Priority
from foleyserve.store import redis_scripts
from foleyserve.store.redis_keys import KEY_SCHEMA_VERSION, RedisKeys, by_rank

_CHUNK = 256
"""Jobs per FILL_TENANT_QUEUES call: bounds how long one script blocks Redis."""


class TenantQueues:
    """The per-tenant queues of the namespace `keys`, read through `client` (which decodes
    responses)."""

    def __init__(self, client: redis.Redis, keys: RedisKeys) -> None:
        self._redis = client
        self._keys = keys
        self._fill_script = client.register_script(redis_scripts.FILL_TENANT_QUEUES)
        self._filled = False

    def head_ids(self, *, limit: int, per_tenant: int) -> list[str]:
        """The ids of the oldest `per_tenant` queued jobs of every (priority, tenant), the
        first `limit` of them in priority then submission order. Two round trips of O(tenants)
        commands: the backlogged tenants of every priority, then the head of each one's queue.
        """
        if limit <= 0:
            return []
        if not self._filled:
            self.fill()
        keys, priorities = self._keys, by_rank()
        pipe = self._redis.pipeline(transaction=False)
        for priority in priorities:
            pipe.smembers(keys.backlogged(priority))
        backlogged: list[Any] = pipe.execute()
        pipe = self._redis.pipeline(transaction=False)
        for priority, tenants in zip(priorities, backlogged, strict=True):
            for tenant in tenants:
                queue = keys.tenant_queue(priority, str(tenant))
                pipe.zrange(queue, 0, per_tenant - 1, withscores=True)
        heads: list[tuple[int, int, str]] = []
        replies = iter(pipe.execute())
        for rank, tenants in enumerate(backlogged):
            for _ in tenants:
                heads += [(rank, int(seq), str(job_id)) for job_id, seq in next(replies)]
        heads.sort()
        return [job_id for _, _, job_id in heads[:limit]]

    def depths(self) -> dict[tuple[Priority, str], int]:
        """Queued jobs per (priority, tenant) with any: two round trips of O(tenants)."""
        if not self._filled:
            self.fill()
        keys, priorities = self._keys, by_rank()
        pipe = self._redis.pipeline(transaction=False)
        for priority in priorities:
            pipe.smembers(keys.backlogged(priority))
        pairs = [
            (priority, str(tenant))
            for priority, tenants in zip(priorities, pipe.execute(), strict=True)
            for tenant in tenants
        ]
        pipe = self._redis.pipeline(transaction=False)
        for priority, tenant in pairs:
            pipe.zcard(keys.tenant_queue(priority, tenant))
        counts = zip(pairs, pipe.execute(), strict=True)
        return {pair: int(count) for pair, count in counts if int(count) > 0}

    def count(self, tenant: str) -> int:
        """The tenant's queued jobs, all priorities: one round trip."""
        if not self._filled:
            self.fill()
        pipe = self._redis.pipeline(transaction=False)
        for priority in by_rank():
            pipe.zcard(self._keys.tenant_queue(priority, tenant))
        return sum(int(n) for n in pipe.execute())

    def fill(self) -> None:
        """Put every queued job into its tenant's queue, unless the data says this was done
        (`key_schema`); then say so. Safe from many processes at once, and while jobs are
        submitted and claimed: the script adds only jobs still queued when it runs, and the
        other scripts keep the tenant queues of the jobs they touch. Runs once per instance."""
        keys = self._keys
        if self._redis.get(keys.key_schema) != KEY_SCHEMA_VERSION:
            for priority in by_rank():
                job_ids = [str(i) for i in self._redis.zrange(keys.queue(priority), 0, -1)]
                for start in range(0, len(job_ids), _CHUNK):
                    self._fill_chunk(priority, job_ids[start : start + _CHUNK])
            self._redis.set(keys.key_schema, KEY_SCHEMA_VERSION)
        self._filled = True

    def _fill_chunk(self, priority: Priority, job_ids: list[str]) -> None:
        keys = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "tenant")
        found = [
            (job_id, str(tenant))
            for job_id, tenant in zip(job_ids, pipe.execute(), strict=True)
            if tenant is not None  # deleted since: it was no longer queued
        ]
        self._fill_script(
            keys=[
                keys.queue(priority),
                keys.backlogged(priority),
                *(keys.tenant_queue(priority, tenant) for _, tenant in found),
            ],
            args=[value for pair in found for value in pair],
        )
