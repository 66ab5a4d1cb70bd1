"""`RedisJobStore`: the fleet's job store, shared by every API server and worker.

Keys are described in `redis_keys`, the atomic changes in `redis_scripts`, the per-tenant queue
snapshot in `redis_tenant_queues`. Every change to a job follows one pattern (`_apply`): read
the job and its revision, ask `rules` what it becomes, and let a script write it with every
index it touches, only if the revision is unchanged; a job that changed in between is read
again and decided afresh. Reads that need no atomicity (get, list, queued) read directly.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import redis

from foleyserve.errors import StorageError
from foleyserve.jobs.events import JobEvent, dump_event, new_event_id
from foleyserve.jobs.ids import new_job_id
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
from foleyserve.store import redis_scripts, rules
from foleyserve.store.base import CacheEntry, HeartbeatReply, Page
from foleyserve.store.codec import (
    decode_cursor,
    dump_job,
    encode_cursor,
    from_us,
    load_job,
    to_us,
)
from foleyserve.store.redis_errors import translating
from foleyserve.store.redis_keys import DEFAULT_PREFIX, RedisKeys, by_rank
from foleyserve.store.redis_outbox import RedisOutbox
from foleyserve.store.redis_tenant_queues import TenantQueues

_MAX_ROUNDS = 32
"""Re-reads of a job that keeps changing under us before giving up; each lost round means
another client made progress, so this is only reached under pathological contention."""

_CHUNK = 256
"""Jobs per script call: bounds how long one script blocks Redis."""

Change = Callable[[Job], Job | None]
"""What a job becomes, or None to leave it as it is."""

_Move = tuple[Job, str, JobEvent | None]
"""A job's new version, the revision it was computed from, and the event it announces."""


_translated = translating("the job store")


class RedisJobStore:
    """A `JobStore` in Redis (5.0 or newer, with Lua), under the key prefix `prefix`.

    `client` must decode responses to str (`decode_responses=True`); the store owns it and
    closes it in `close()`.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisJobStore needs a client made with decode_responses=True")
        self._redis = client
        self._keys = RedisKeys(prefix)
        self._submit = client.register_script(redis_scripts.SUBMIT)
        self._transition = client.register_script(redis_scripts.TRANSITION)
        self._delete = client.register_script(redis_scripts.DELETE)
        self._tenant_queues = TenantQueues(client, self._keys)
        self._cache_get = client.register_script(redis_scripts.CACHE_GET)
        self._cache_put = client.register_script(redis_scripts.CACHE_PUT)
        self._cache_evict = client.register_script(redis_scripts.CACHE_EVICT)
        self._outbox = RedisOutbox(client, self._keys)
        self._record_worker = client.register_script(redis_scripts.RECORD_WORKER)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisJobStore:
        """`redis://[:password@]host:port/db` (or `rediss://` for TLS). Connects lazily."""
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix=prefix)

    # -- tenants' side ------------------------------------------------------------------------
    @_translated
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
        job = rules.new_job(
            spec,
            job_id=new_job_id(),
            now=now,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
        )
        # The first job of this idempotency key may be purged between the script and the read;
        # then the key is free again and the next round submits anew.
        for _ in range(_MAX_ROUNDS):
            status, value = self._insert(
                job, max_queued=max_queued, tenant_max_queued=tenant_max_queued
            )
            if status == "created":
                return job, True
            if status == "full":
                raise rules.queue_full(int(value))
            if status == "tenant_full":
                assert tenant_max_queued is not None
                raise rules.tenant_queue_full(int(value), tenant_max_queued)
            first = self._read(str(value))
            if first is not None:
                return first[0], False
        raise _contention(job.id)

    @_translated
    def submit_finished(self, spec: JobSpec, result: JobResult, *, now: datetime) -> Job:
        job = rules.cached_job(spec, result, job_id=new_job_id(), now=now)
        self._insert(job, max_queued=None, tenant_max_queued=None)
        return job

    @_translated
    def get(self, job_id: str, tenant: str | None = None) -> Job:
        found = self._read(job_id)
        return rules.visible(None if found is None else found[0], job_id, tenant)

    @_translated
    def list(
        self,
        tenant: str,
        *,
        state: JobState | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        rules.check_limit(limit)
        below = "+inf" if cursor is None else f"({decode_cursor(cursor)}"
        batch = limit + 1 if state is None else max(limit + 1, 100)
        found: builtins.list[tuple[int, Job]] = []
        # Filtering by state happens here, so a page may take several batches.
        while len(found) <= limit:
            rows = _scored(
                self._redis.zrevrangebyscore(
                    self._keys.tenant_jobs(tenant),
                    below,
                    "-inf",
                    start=0,
                    num=batch,
                    withscores=True,
                )
            )
            jobs = self._read_payloads([job_id for job_id, _ in rows])
            for (_, seq), job in zip(rows, jobs, strict=True):
                if job is not None and state in (None, job.state):
                    found.append((seq, job))
            if len(rows) < batch:
                break
            below = f"({rows[-1][1]}"
        page = found[:limit]
        next_cursor = encode_cursor(page[-1][0]) if len(found) > limit else None
        return Page(jobs=[job for _, job in page], cursor=next_cursor)

    @_translated
    def cancel(self, job_id: str, tenant: str | None, *, now: datetime) -> Job:
        def change(job: Job) -> Job | None:
            return rules.canceled(rules.visible(job, job_id, tenant), now=now)

        changed, untouched = self._apply([job_id], change)
        if job_id in changed:
            return changed[job_id]
        return rules.visible(untouched[job_id], job_id, tenant)

    @_translated
    def queue_ahead(self, job: Job) -> int:
        seq = self._redis.hget(self._keys.job(job.id), "seq")
        if seq is None:
            raise rules.not_found(job.id)
        pipe = self._redis.pipeline(transaction=False)
        for queue in self._keys.queues()[: job.spec.priority.rank]:
            pipe.zcard(queue)
        pipe.zcount(self._keys.queue(job.spec.priority), "-inf", f"({int(seq)}")
        return sum(int(count) for count in pipe.execute())

    @_translated
    def finished_since(self, since: datetime) -> int:
        return int(self._redis.zcount(self._keys.finished, to_us(since), "+inf"))

    @_translated
    def delete(self, job_id: str, tenant: str | None) -> Job:
        for _ in range(_MAX_ROUNDS):
            job, rev = self._read(job_id) or (None, "")
            job = rules.visible(job, job_id, tenant)
            rules.check_deletable(job)
            if self._forget([(job, rev)]):
                return job
        raise _contention(job_id)

    # -- workers' side ------------------------------------------------------------------------
    @_translated
    def queued(self, *, limit: int, per_tenant: int | None = None) -> builtins.list[Job]:
        rules.check_per_tenant(per_tenant)
        if per_tenant is not None:
            job_ids = self._tenant_queues.head_ids(limit=limit, per_tenant=per_tenant)
        else:
            job_ids = []
            for queue in self._keys.queues():
                if len(job_ids) >= limit:
                    break
                job_ids += _members(self._redis.zrange(queue, 0, limit - len(job_ids) - 1))
        jobs = self._read_payloads(job_ids)
        # A job claimed between the two reads is left out rather than shown as queued.
        return [job for job in jobs if job is not None and job.state is JobState.QUEUED]

    @_translated
    def fairness(self) -> dict[str, float]:
        counters = self._redis.hgetall(self._keys.fairness)
        return {str(tenant): float(value) for tenant, value in counters.items()}

    @_translated
    def claim(
        self,
        job_ids: Sequence[str],
        worker_id: str,
        *,
        lease_s: float,
        now: datetime,
        charge: Mapping[str, Charge] | None = None,
    ) -> builtins.list[Job]:
        def change(job: Job) -> Job | None:
            return rules.claimed(job, worker_id, lease_s=lease_s, now=now)

        changed, _ = self._apply(job_ids, change, charge=charge)
        return [changed[job_id] for job_id in dict.fromkeys(job_ids) if job_id in changed]

    @_translated
    def heartbeat(
        self,
        worker_id: str,
        progress: Mapping[str, Progress],
        *,
        lease_s: float,
        now: datetime,
    ) -> HeartbeatReply:
        def change(job: Job) -> Job | None:
            if not rules.holds(job, worker_id):
                return None
            return rules.renewed(job, progress[job.id], lease_s=lease_s, now=now)

        changed, _ = self._apply(builtins.list(progress), change)
        return HeartbeatReply(
            lost=[job_id for job_id in progress if job_id not in changed],
            cancel=[i for i in progress if i in changed and changed[i].cancel_requested],
        )

    @_translated
    def complete(
        self, job_id: str, worker_id: str, result: JobResult, *, now: datetime
    ) -> Job | None:
        return self._change_held(
            job_id, worker_id, lambda job: rules.completed(job, result, now=now)
        )

    @_translated
    def fail(
        self,
        job_id: str,
        worker_id: str,
        error: JobError,
        *,
        retryable: bool,
        now: datetime,
    ) -> Job | None:
        return self._change_held(
            job_id, worker_id, lambda job: rules.failed(job, error, retryable=retryable, now=now)
        )

    @_translated
    def requeue_expired(self, *, now: datetime) -> builtins.list[Job]:
        before = f"({to_us(now)}"
        job_ids = _members(self._redis.zrangebyscore(self._keys.leases, "-inf", before))
        job_ids += _members(self._redis.zrangebyscore(self._keys.deadlines, "-inf", before))
        changed, _ = self._apply(job_ids, lambda job: rules.expired_or_lost(job, now=now))
        return builtins.list(changed.values())

    # -- operators' side ----------------------------------------------------------------------
    @_translated
    def depth(self) -> dict[Priority, int]:
        pipe = self._redis.pipeline(transaction=False)
        for priority in Priority:
            pipe.zcard(self._keys.queue(priority))
        return dict(zip(Priority, map(int, pipe.execute()), strict=True))

    @_translated
    def counts(self) -> dict[JobState, int]:
        stored = self._redis.hgetall(self._keys.counts)
        return {state: int(stored.get(state.value, 0)) for state in JobState}

    @_translated
    def depth_by_tenant(self) -> dict[tuple[Priority, str], int]:
        return self._tenant_queues.depths()

    @_translated
    def queued_of(self, tenant: str) -> int:
        return self._tenant_queues.count(tenant)

    @_translated
    def running(self, *, limit: int = 1000) -> builtins.list[Job]:
        if limit <= 0:
            return []
        job_ids = _members(self._redis.zrange(self._keys.leases, 0, limit - 1))
        jobs = self._read_payloads(job_ids)
        return [job for job in jobs if job is not None and job.state is JobState.RUNNING]

    @_translated
    def finished(
        self, *, since: datetime, state: JobState | None = None, limit: int = 500
    ) -> builtins.list[Job]:
        rules.check_limit(limit)
        found: builtins.list[Job] = []
        offset, since_us = 0, to_us(since)
        # Filtering by state happens here, so the answer may take several batches.
        while len(found) < limit:
            job_ids = _members(
                self._redis.zrevrangebyscore(
                    self._keys.finished, "+inf", since_us, start=offset, num=_CHUNK
                )
            )
            for job in self._read_payloads(job_ids):
                if job is not None and job.state.finished and state in (None, job.state):
                    found.append(job)
            if len(job_ids) < _CHUNK:
                break
            offset += _CHUNK
        return found[:limit]

    @_translated
    def retry(self, job_id: str) -> Job:
        def change(job: Job) -> Job | None:
            return rules.operator_retried(rules.visible(job, job_id, None))

        changed, _ = self._apply([job_id], change)
        if job_id not in changed:
            raise rules.not_found(job_id)
        return changed[job_id]

    @_translated
    def purge(self, *, finished_before: datetime) -> builtins.list[Job]:
        job_ids = _members(
            self._redis.zrangebyscore(self._keys.finished, "-inf", f"({to_us(finished_before)}")
        )
        purged: builtins.list[Job] = []
        for start in range(0, len(job_ids), _CHUNK):
            found = self._read_many(job_ids[start : start + _CHUNK])
            # Finished jobs never change, so a refused one was deleted by someone else.
            purged += self._forget(builtins.list(found.values()))
        return purged

    @_translated
    def record_worker(self, worker_id: str, *, now: datetime) -> None:
        self._record_worker(keys=[self._keys.workers], args=[worker_id, to_us(now)])

    @_translated
    def workers(self) -> dict[str, datetime]:
        seen = self._redis.hgetall(self._keys.workers)
        return {str(worker_id): from_us(int(us)) for worker_id, us in seen.items()}

    # -- webhook outbox (the scripts and reads are in redis_outbox) -------------------------
    @_translated
    def events_due(
        self, owner: str, *, limit: int, lease_s: float, now: datetime
    ) -> builtins.list[JobEvent]:
        return self._outbox.lease(owner, limit=limit, lease_s=lease_s, now=now)

    @_translated
    def event_done(self, event_id: str, owner: str) -> bool:
        return self._outbox.done(event_id, owner)

    @_translated
    def event_retry(self, event_id: str, owner: str, *, due_at: datetime, error: str) -> bool:
        return self._outbox.retry(event_id, owner, due_at=due_at, error=error)

    @_translated
    def events_pending(self) -> int:
        return self._outbox.pending()

    # -- cache index --------------------------------------------------------------------------
    @_translated
    def cache_get(self, namespace: str, key: str, *, now: datetime) -> CacheEntry | None:
        entry = self._cache_get(
            keys=[self._keys.cache_entries(namespace), self._keys.cache_used(namespace)],
            args=[key, to_us(now)],
        )
        return None if entry is None else _load_entry(entry)

    @_translated
    def cache_put(self, namespace: str, key: str, entry: CacheEntry, *, now: datetime) -> None:
        self._cache_put(
            keys=self._cache_keys(namespace),
            args=[
                namespace,
                key,
                json.dumps({"object_key": entry.object_key, "size_bytes": entry.size_bytes}),
                entry.size_bytes,
                to_us(now),
            ],
        )

    @_translated
    def cache_evict(self, namespace: str, *, max_bytes: int) -> builtins.list[CacheEntry]:
        dropped = self._cache_evict(keys=self._cache_keys(namespace), args=[namespace, max_bytes])
        return [_load_entry(entry) for entry in dropped]

    @_translated
    def cache_stats(self, namespace: str) -> tuple[int, int]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hlen(self._keys.cache_entries(namespace))
        pipe.hget(self._keys.cache_bytes, namespace)
        entries, total_bytes = pipe.execute()
        return int(entries), int(total_bytes or 0)

    def close(self) -> None:
        self._redis.close()

    # -- plumbing -----------------------------------------------------------------------------
    def _insert(
        self, job: Job, *, max_queued: int | None, tenant_max_queued: int | None
    ) -> tuple[str, str | int]:
        """Run SUBMIT for a new `job`: ('created', seq), ('existing', first job's id),
        ('full', jobs queued) or ('tenant_full', the tenant's jobs queued)."""
        keys = self._keys
        tenant = job.spec.tenant
        event = rules.job_event(None, job, event_id=new_event_id())
        status, value = self._submit(
            keys=[
                keys.job(job.id),
                keys.tenant_jobs(tenant),
                keys.idempotency(tenant),
                keys.seq,
                keys.counts,
                keys.deadlines,
                keys.finished,
                *keys.queues(),
                keys.tenant_queue(job.spec.priority, tenant),
                keys.backlogged(job.spec.priority),
                keys.outbox,
                keys.outbox_due,
                *(keys.tenant_queue(p, tenant) for p in by_rank()),
            ],
            args=[
                job.id,
                dump_job(job),
                job.state.value,
                tenant,
                job.spec.priority.rank,
                job.idempotency_key or "",
                "" if max_queued is None else max_queued,
                _us_arg(job.spec.deadline),
                _us_arg(job.finished_at),
                *_event_args(event),
                "" if tenant_max_queued is None else tenant_max_queued,
            ],
        )
        return str(status), value

    def _apply(
        self,
        job_ids: Sequence[str],
        change: Change,
        *,
        charge: Mapping[str, Charge] | None = None,
    ) -> tuple[dict[str, Job], dict[str, Job | None]]:
        """Change each of `job_ids` atomically: read it, `change` it, write it if nobody else
        did meanwhile (else read it again). Returns (changed jobs as written, jobs left alone as
        last read, None for missing ones), both by id."""
        changed: dict[str, Job] = {}
        untouched: dict[str, Job | None] = {}
        pending = builtins.list(dict.fromkeys(job_ids))
        for _ in range(_MAX_ROUNDS):
            if not pending:
                return changed, untouched
            current = self._read_many(pending)
            moves: builtins.list[_Move] = []
            for job_id in pending:
                job, rev = current.get(job_id, (None, ""))
                new = None if job is None else change(job)
                if job is None or new is None:
                    untouched[job_id] = job
                else:
                    moves.append((new, rev, rules.job_event(job, new, event_id=new_event_id())))
            pending = []
            for start in range(0, len(moves), _CHUNK):
                chunk = moves[start : start + _CHUNK]
                for (new, _, _), applied in zip(chunk, self._move(chunk, charge), strict=True):
                    if applied:
                        changed[new.id] = new
                    else:
                        pending.append(new.id)
        raise _contention(pending[0])

    def _move(
        self, moves: Sequence[_Move], charge: Mapping[str, Charge] | None
    ) -> builtins.list[bool]:
        """Run TRANSITION: write each (new job, revision it was computed from, the webhook
        event the change announces)."""
        keys = self._keys
        args: builtins.list[str | int | float] = [len(moves)]
        for job, rev, event in moves:
            args += [
                job.id,
                rev,
                job.state.value,
                dump_job(job),
                _us_arg(job.lease_expires_at),
                _us_arg(job.spec.deadline),
                _us_arg(job.finished_at),
                *_event_args(event),
            ]
        for tenant, tenant_charge in (charge or {}).items():
            args += [tenant, float(tenant_charge.floor_s), float(tenant_charge.add_s)]
        job_keys: builtins.list[str] = []
        for job, _, _ in moves:
            job_keys += [keys.job(job.id), keys.tenant_queue(job.spec.priority, job.spec.tenant)]
        fixed = [*self._indexes(), keys.fairness, keys.outbox, keys.outbox_due]
        applied = self._transition(keys=[*fixed, *job_keys], args=args)
        return [bool(flag) for flag in applied]

    def _forget(self, jobs: Sequence[tuple[Job, str]]) -> builtins.list[Job]:
        """Run DELETE for finished (job, revision) pairs; returns those deleted."""
        if not jobs:
            return []
        keys = self._keys
        job_keys: builtins.list[str] = []
        args: builtins.list[str | int] = [len(jobs)]
        for job, rev in jobs:
            job_keys += [
                keys.job(job.id),
                keys.tenant_jobs(job.spec.tenant),
                keys.idempotency(job.spec.tenant),
                keys.tenant_queue(job.spec.priority, job.spec.tenant),
            ]
            args += [job.id, rev]
        deleted = self._delete(keys=[*self._indexes(), *job_keys], args=args)
        return [job for (job, _), flag in zip(jobs, deleted, strict=True) if flag]

    def _change_held(self, job_id: str, worker_id: str, change: Callable[[Job], Job]) -> Job | None:
        def if_held(job: Job) -> Job | None:
            return change(job) if rules.holds(job, worker_id) else None

        changed, _ = self._apply([job_id], if_held)
        return changed.get(job_id)

    def _read(self, job_id: str) -> tuple[Job, str] | None:
        return self._read_many([job_id]).get(job_id)

    def _read_many(self, job_ids: Sequence[str]) -> dict[str, tuple[Job, str]]:
        """The jobs that exist among `job_ids`, each with the revision it was read at."""
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self._keys.job(job_id), ["payload", "rev"])
        found: dict[str, tuple[Job, str]] = {}
        for job_id, (payload, rev) in zip(job_ids, pipe.execute(), strict=True):
            if payload is not None and rev is not None:
                found[job_id] = (load_job(payload), rev)
        return found

    def _read_payloads(self, job_ids: Sequence[str]) -> builtins.list[Job | None]:
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(self._keys.job(job_id), "payload")
        return [None if payload is None else load_job(payload) for payload in pipe.execute()]

    def _indexes(self) -> builtins.list[str]:
        """The keys TRANSITION and DELETE start with, in their order."""
        keys = self._keys
        fixed = [keys.counts, keys.leases, keys.deadlines, keys.finished]
        return [*fixed, *keys.queues(), *keys.backlogs()]

    def _cache_keys(self, namespace: str) -> builtins.list[str]:
        keys = self._keys
        return [keys.cache_entries(namespace), keys.cache_used(namespace), keys.cache_bytes]


def _contention(job_id: str) -> StorageError:
    return StorageError(
        f"job {job_id} kept changing while being updated ({_MAX_ROUNDS} tries); "
        "the store is overloaded, try again"
    )


def _members(reply: Any) -> builtins.list[str]:
    """The members of a ZRANGE-like reply (the client decodes them to str)."""
    return [str(member) for member in reply]


def _scored(rows: Any) -> builtins.list[tuple[str, int]]:
    """(member, score) pairs of a WITHSCORES reply; our scores are integers."""
    return [(str(member), int(score)) for member, score in rows]


def _load_entry(text: str) -> CacheEntry:
    fields = json.loads(text)
    return CacheEntry(object_key=str(fields["object_key"]), size_bytes=int(fields["size_bytes"]))


def _event_args(event: JobEvent | None) -> builtins.list[str | int]:
    """The three script arguments of an event (id, due_us, payload); empty strings for none."""
    if event is None:
        return ["", "", ""]
    return [event.id, to_us(event.due_at), dump_event(event)]


def _us_arg(moment: datetime | None) -> str | int:
    return "" if moment is None else to_us(moment)
