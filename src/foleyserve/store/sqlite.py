"""`SQLiteJobStore`: the embedded job store, one database file, no service to run.

Safe for several processes on one host (API and workers of `foleyserve serve`): each process
opens its own connection, the file is in WAL mode so readers never wait for the writer, and
every read-modify-write runs inside `BEGIN IMMEDIATE`, which takes the database's write lock
before reading, so two processes can never both see a job queued and both claim it. One
instance may be shared by threads (a worker's heartbeat thread): a lock serialises its use of
the one connection.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from foleyserve.jobs.events import JobEvent, new_event_id
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
from foleyserve.store import rules
from foleyserve.store import sqlite_outbox as outbox
from foleyserve.store.base import CacheEntry, HeartbeatReply, Page
from foleyserve.store.codec import (
    decode_cursor,
    dump_job,
    encode_cursor,
    from_us,
    load_job,
    to_us,
)
from foleyserve.store.sqlite_db import SQLiteDatabase
from foleyserve.store.sqlite_schema import ensure_schema

_PRIORITY_BY_RANK = {priority.rank: priority for priority in Priority}

# The queue reads name their index: we never ANALYZE, and without statistics SQLite prefers
# `jobs_state` for `state = 'queued'`, then reads and sorts every queued row, payload and all.
_QUEUED = (
    "SELECT payload FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
    "ORDER BY priority_rank, seq LIMIT ?"
)
_QUEUED_PER_TENANT = """
SELECT payload FROM jobs WHERE seq IN (
    SELECT seq FROM (
        SELECT seq, priority_rank,
               ROW_NUMBER() OVER (PARTITION BY priority_rank, tenant ORDER BY seq) AS place
        FROM jobs INDEXED BY jobs_tenant_queue WHERE state = 'queued'
    )
    WHERE place <= ? ORDER BY priority_rank, seq LIMIT ?
)
ORDER BY priority_rank, seq
"""
"""The oldest `per_tenant` queued jobs of each (priority, tenant), the first `limit` of them.
The window runs over the covering index `jobs_tenant_queue`, already in partition order: it
steps through every queued job's index entry (about half a microsecond each), but sorts
nothing and reads no table row; only the chosen jobs' rows and payloads are read."""


class SQLiteJobStore:
    """A `JobStore` in the SQLite file at `path` (created, with its folder, if missing).

    `busy_timeout_s`: how long a write waits for another process's write before failing with
    `StorageError`.
    `durable`: True syncs every commit to disk before it returns (`synchronous=FULL`). False
    (`synchronous=NORMAL`) still survives a crash of any process, but a power cut may undo the
    last commits; writes are about ten times faster. For tests and scratch databases.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0, durable: bool = True) -> None:
        self.path = path
        self._db = SQLiteDatabase(
            path,
            what="job database",
            ensure_schema=lambda conn: ensure_schema(conn, where=str(path)),
            busy_timeout_s=busy_timeout_s,
            durable=durable,
        )

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
        job = rules.new_job(
            spec,
            job_id=new_job_id(),
            now=now,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
        )
        with self._write() as conn:
            if idempotency_key is not None:
                row = conn.execute(
                    "SELECT payload FROM jobs WHERE tenant = ? AND idempotency_key = ?",
                    (spec.tenant, idempotency_key),
                ).fetchone()
                if row is not None:
                    return load_job(row[0]), False
            if max_queued is not None:
                (queued,) = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state = 'queued'"
                ).fetchone()
                if queued >= max_queued:
                    raise rules.queue_full(queued)
            if tenant_max_queued is not None:
                mine = _queued_of(conn, spec.tenant)
                if mine >= tenant_max_queued:
                    raise rules.tenant_queue_full(mine, tenant_max_queued)
            _insert(conn, job)
        return job, True

    def submit_finished(self, spec: JobSpec, result: JobResult, *, now: datetime) -> Job:
        job = rules.cached_job(spec, result, job_id=new_job_id(), now=now)
        with self._write() as conn:
            _insert(conn, job)
        return job

    def get(self, job_id: str, tenant: str | None = None) -> Job:
        with self._read() as conn:
            return rules.visible(_load(conn, job_id), job_id, tenant)

    def list(
        self,
        tenant: str,
        *,
        state: JobState | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        rules.check_limit(limit)
        sql = "SELECT seq, payload FROM jobs WHERE tenant = ?"
        args: builtins.list[object] = [tenant]
        if state is not None:
            sql += " AND state = ?"
            args.append(state.value)
        if cursor is not None:
            sql += " AND seq < ?"
            args.append(decode_cursor(cursor))
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit + 1)
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        jobs = [load_job(payload) for _, payload in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
        return Page(jobs=jobs, cursor=next_cursor)

    def cancel(self, job_id: str, tenant: str | None, *, now: datetime) -> Job:
        with self._write() as conn:
            job = rules.visible(_load(conn, job_id), job_id, tenant)
            changed = rules.canceled(job, now=now)
            if changed is None:
                return job
            _update(conn, changed, before=job)
            return changed

    def queue_ahead(self, job: Job) -> int:
        with self._read() as conn:
            if _load(conn, job.id) is None:
                raise rules.not_found(job.id)
            (ahead,) = conn.execute(
                "SELECT COUNT(*) FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' AND "
                "(priority_rank < :rank OR (priority_rank = :rank AND seq < "
                "(SELECT seq FROM jobs WHERE id = :id)))",
                {"rank": job.spec.priority.rank, "id": job.id},
            ).fetchone()
        return int(ahead)

    def finished_since(self, since: datetime) -> int:
        with self._read() as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE finished_us >= ?", (to_us(since),)
            ).fetchone()
        return int(count)

    def delete(self, job_id: str, tenant: str | None) -> Job:
        with self._write() as conn:
            job = rules.visible(_load(conn, job_id), job_id, tenant)
            rules.check_deletable(job)
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            return job

    # -- workers' side ------------------------------------------------------------------------
    def queued(self, *, limit: int, per_tenant: int | None = None) -> builtins.list[Job]:
        rules.check_per_tenant(per_tenant)
        limit = max(limit, 0)  # SQLite reads a negative LIMIT as "no limit"
        with self._read() as conn:
            if per_tenant is None:
                rows = conn.execute(_QUEUED, (limit,)).fetchall()
            else:
                rows = conn.execute(_QUEUED_PER_TENANT, (per_tenant, limit)).fetchall()
        return [load_job(payload) for (payload,) in rows]

    def fairness(self) -> dict[str, float]:
        with self._read() as conn:
            rows = conn.execute("SELECT tenant, service_s FROM tenants").fetchall()
        return {tenant: float(service_s) for tenant, service_s in rows}

    def claim(
        self,
        job_ids: Sequence[str],
        worker_id: str,
        *,
        lease_s: float,
        now: datetime,
        charge: Mapping[str, Charge] | None = None,
    ) -> builtins.list[Job]:
        claimed: builtins.list[Job] = []
        with self._write() as conn:
            for job_id in dict.fromkeys(job_ids):
                job = _load(conn, job_id)
                if job is None:
                    continue
                running = rules.claimed(job, worker_id, lease_s=lease_s, now=now)
                if running is not None:
                    _update(conn, running, before=job)
                    claimed.append(running)
            served = {job.spec.tenant for job in claimed}
            conn.executemany(
                "INSERT INTO tenants (tenant, service_s) VALUES (:tenant, MAX(0, :floor) + :add) "
                "ON CONFLICT (tenant) DO UPDATE SET service_s = MAX(service_s, :floor) + :add",
                [
                    {"tenant": t, "floor": c.floor_s, "add": c.add_s}
                    for t, c in (charge or {}).items()
                    if t in served
                ],
            )
        return claimed

    def heartbeat(
        self,
        worker_id: str,
        progress: Mapping[str, Progress],
        *,
        lease_s: float,
        now: datetime,
    ) -> HeartbeatReply:
        reply = HeartbeatReply()
        with self._write() as conn:
            for job_id, job_progress in progress.items():
                job = _load(conn, job_id)
                if job is None or not rules.holds(job, worker_id):
                    reply.lost.append(job_id)
                    continue
                renewed = rules.renewed(job, job_progress, lease_s=lease_s, now=now)
                _update(conn, renewed, before=job)
                if renewed.cancel_requested:
                    reply.cancel.append(job_id)
        return reply

    def complete(
        self, job_id: str, worker_id: str, result: JobResult, *, now: datetime
    ) -> Job | None:
        return self._change_held(
            job_id, worker_id, lambda job: rules.completed(job, result, now=now)
        )

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

    def requeue_expired(self, *, now: datetime) -> builtins.list[Job]:
        now_us = to_us(now)
        changed: builtins.list[Job] = []
        with self._write() as conn:
            rows = conn.execute(
                "SELECT payload FROM jobs WHERE state = 'running' AND lease_expires_us < ? "
                "UNION ALL "
                "SELECT payload FROM jobs WHERE state = 'queued' AND deadline_us < ?",
                (now_us, now_us),
            ).fetchall()
            for (payload,) in rows:
                before = load_job(payload)
                job = rules.expired_or_lost(before, now=now)
                if job is not None:
                    _update(conn, job, before=before)
                    changed.append(job)
        return changed

    # -- operators' side ----------------------------------------------------------------------
    def depth(self) -> dict[Priority, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT priority_rank, COUNT(*) FROM jobs WHERE state = 'queued' "
                "GROUP BY priority_rank"
            ).fetchall()
        depth = dict.fromkeys(Priority, 0)
        depth.update({_PRIORITY_BY_RANK[rank]: count for rank, count in rows})
        return depth

    def counts(self) -> dict[JobState, int]:
        with self._read() as conn:
            rows = conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        counts = dict.fromkeys(JobState, 0)
        counts.update({JobState(state): count for state, count in rows})
        return counts

    def depth_by_tenant(self) -> dict[tuple[Priority, str], int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT priority_rank, tenant, COUNT(*) FROM jobs INDEXED BY jobs_tenant_queue "
                "WHERE state = 'queued' GROUP BY priority_rank, tenant"
            ).fetchall()
        return {(_PRIORITY_BY_RANK[rank], tenant): count for rank, tenant, count in rows}

    def queued_of(self, tenant: str) -> int:
        with self._read() as conn:
            return _queued_of(conn, tenant)

    def running(self, *, limit: int = 1000) -> builtins.list[Job]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT payload FROM jobs INDEXED BY jobs_leases WHERE state = 'running' "
                "ORDER BY lease_expires_us, seq LIMIT ?",
                (max(limit, 0),),
            ).fetchall()
        return [load_job(payload) for (payload,) in rows]

    def finished(
        self, *, since: datetime, state: JobState | None = None, limit: int = 500
    ) -> builtins.list[Job]:
        rules.check_limit(limit)
        sql = "SELECT payload FROM jobs INDEXED BY jobs_finished WHERE finished_us >= ?"
        args: builtins.list[object] = [to_us(since)]
        if state is not None:
            sql += " AND state = ?"
            args.append(state.value)
        sql += " ORDER BY finished_us DESC, seq DESC LIMIT ?"
        args.append(limit)
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [load_job(payload) for (payload,) in rows]

    def retry(self, job_id: str) -> Job:
        with self._write() as conn:
            before = rules.visible(_load(conn, job_id), job_id, None)
            job = rules.operator_retried(before)
            _update(conn, job, before=before)
            return job

    def purge(self, *, finished_before: datetime) -> builtins.list[Job]:
        before_us = to_us(finished_before)
        with self._write() as conn:
            rows = conn.execute(
                "SELECT payload FROM jobs WHERE finished_us < ? ORDER BY finished_us",
                (before_us,),
            ).fetchall()
            conn.execute("DELETE FROM jobs WHERE finished_us < ?", (before_us,))
        return [load_job(payload) for (payload,) in rows]

    def record_worker(self, worker_id: str, *, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO workers (id, last_seen_us) VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                "SET last_seen_us = MAX(last_seen_us, excluded.last_seen_us)",
                (worker_id, to_us(now)),
            )

    def workers(self) -> dict[str, datetime]:
        with self._read() as conn:
            rows = conn.execute("SELECT id, last_seen_us FROM workers").fetchall()
        return {worker_id: from_us(seen_us) for worker_id, seen_us in rows}

    # -- webhook outbox (its queries are in sqlite_outbox) -----------------------------------
    def events_due(
        self, owner: str, *, limit: int, lease_s: float, now: datetime
    ) -> builtins.list[JobEvent]:
        rules.check_lease(lease_s)
        with self._read() as conn:
            # Idle dispatchers poll: asking first keeps them off the write lock.
            if not outbox.any_due(conn, now=now):
                return []
        with self._write() as conn:
            return outbox.lease(conn, owner, limit=limit, lease_s=lease_s, now=now)

    def event_done(self, event_id: str, owner: str) -> bool:
        with self._write() as conn:
            return outbox.done(conn, event_id, owner)

    def event_retry(self, event_id: str, owner: str, *, due_at: datetime, error: str) -> bool:
        with self._write() as conn:
            return outbox.retry(conn, event_id, owner, due_at=due_at, error=error)

    def events_pending(self) -> int:
        with self._read() as conn:
            return outbox.pending(conn)

    # -- cache index --------------------------------------------------------------------------
    def cache_get(self, namespace: str, key: str, *, now: datetime) -> CacheEntry | None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT object_key, size_bytes FROM cache WHERE namespace = ? AND key = ?",
                (namespace, key),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE cache SET last_used_us = ? WHERE namespace = ? AND key = ?",
                (to_us(now), namespace, key),
            )
        return CacheEntry(object_key=row[0], size_bytes=row[1])

    def cache_put(self, namespace: str, key: str, entry: CacheEntry, *, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO cache (namespace, key, object_key, size_bytes, last_used_us) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
                "object_key = excluded.object_key, size_bytes = excluded.size_bytes, "
                "last_used_us = excluded.last_used_us",
                (namespace, key, entry.object_key, entry.size_bytes, to_us(now)),
            )

    def cache_evict(self, namespace: str, *, max_bytes: int) -> builtins.list[CacheEntry]:
        dropped: builtins.list[tuple[str, CacheEntry]] = []
        with self._write() as conn:
            (total_bytes,) = conn.execute(
                "SELECT COALESCE(SUM(size_bytes), 0) FROM cache WHERE namespace = ?",
                (namespace,),
            ).fetchone()
            if total_bytes <= max_bytes:
                return []
            rows = conn.execute(
                "SELECT key, object_key, size_bytes FROM cache WHERE namespace = ? "
                "ORDER BY last_used_us, key",
                (namespace,),
            ).fetchall()
            for key, object_key, size_bytes in rows:
                if total_bytes <= max_bytes:
                    break
                dropped.append((key, CacheEntry(object_key=object_key, size_bytes=size_bytes)))
                total_bytes -= size_bytes
            conn.executemany(
                "DELETE FROM cache WHERE namespace = ? AND key = ?",
                [(namespace, key) for key, _ in dropped],
            )
        return [entry for _, entry in dropped]

    def cache_stats(self, namespace: str) -> tuple[int, int]:
        with self._read() as conn:
            entries, total_bytes = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM cache WHERE namespace = ?",
                (namespace,),
            ).fetchone()
        return int(entries), int(total_bytes)

    def close(self) -> None:
        self._db.close()

    # -- plumbing -----------------------------------------------------------------------------
    def _change_held(self, job_id: str, worker_id: str, change: Callable[[Job], Job]) -> Job | None:
        with self._write() as conn:
            job = _load(conn, job_id)
            if job is None or not rules.holds(job, worker_id):
                return None
            changed = change(job)
            _update(conn, changed, before=job)
            return changed

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.read()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.write()


def _load(conn: sqlite3.Connection, job_id: str) -> Job | None:
    row = conn.execute("SELECT payload FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else load_job(row[0])


def _insert(conn: sqlite3.Connection, job: Job) -> None:
    conn.execute(
        "INSERT INTO jobs (id, tenant, state, priority_rank, created_us, lease_expires_us, "
        "deadline_us, finished_us, idempotency_key, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job.id,
            job.spec.tenant,
            job.state.value,
            job.spec.priority.rank,
            to_us(job.created_at),
            _us_or_none(job.lease_expires_at),
            _us_or_none(job.spec.deadline),
            _us_or_none(job.finished_at),
            job.idempotency_key,
            dump_job(job),
        ),
    )
    _record_event(conn, None, job)


def _update(conn: sqlite3.Connection, job: Job, *, before: Job) -> None:
    """Write `job`'s changeable columns (tenant, priority, times of creation and deadline and
    the idempotency key never change), and the webhook event that changing `before` into it
    announces, if any."""
    conn.execute(
        "UPDATE jobs SET state = ?, lease_expires_us = ?, finished_us = ?, payload = ? "
        "WHERE id = ?",
        (
            job.state.value,
            _us_or_none(job.lease_expires_at),
            _us_or_none(job.finished_at),
            dump_job(job),
            job.id,
        ),
    )
    _record_event(conn, before, job)


def _record_event(conn: sqlite3.Connection, before: Job | None, after: Job) -> None:
    event = rules.job_event(before, after, event_id=new_event_id())
    if event is not None:
        outbox.add(conn, event)


def _us_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def _queued_of(conn: sqlite3.Connection, tenant: str) -> int:
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM jobs WHERE tenant = ? AND state = 'queued'", (tenant,)
    ).fetchone()
    return int(count)
