"""The SQLite job store's schema: tables, indexes, and the version that guards them.

Every query of `SQLiteJobStore` has an index made for it; the partial indexes keep the hot ones
(the queue, the leases, the deadlines) as small as the work waiting, not the history kept.
"""

from __future__ import annotations

import sqlite3

from foleyserve.store.sqlite_db import Schema

SCHEMA_VERSION = 4
"""Bump on every change to `_TABLES`, and add to `_MIGRATIONS` what takes a file of the
previous version to this one."""

_JOBS_TENANT_QUEUE = (
    # The queue per (priority, tenant), for `queued(per_tenant=...)`. `state` is constant in it,
    # but without that column SQLite reads every queued row from the table, not the index.
    "CREATE INDEX IF NOT EXISTS jobs_tenant_queue ON jobs (priority_rank, tenant, seq, state) "
    "WHERE state = 'queued'"
)

_OUTBOX = (
    # Webhook events not yet delivered (`foleyserve.jobs.events`), written in the transaction
    # of the change they announce. `due_us`: when it may be tried next, or while `owner` holds
    # its lease, when that ends. `payload` is the JobEvent's versioned JSON.
    """
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        due_us INTEGER NOT NULL,
        owner TEXT,
        payload TEXT NOT NULL
    )
    """,
    "CREATE INDEX outbox_due ON outbox (due_us, id)",
)

_WORKERS = (
    # When each worker last reported in (`record_worker`): what the API's metrics can see of
    # a fleet whose workers it cannot reach.
    "CREATE TABLE workers (id TEXT PRIMARY KEY, last_seen_us INTEGER NOT NULL)",
)

_TABLES = (
    # One row per job. `payload` is the Job's versioned JSON and the truth; the other columns
    # copy what queries filter and sort on. `seq` is the submission order: it orders the queue
    # (FIFO within a priority) and the tenant's list, and is never reused (AUTOINCREMENT), so
    # list cursors stay valid after purges.
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        state TEXT NOT NULL,
        priority_rank INTEGER NOT NULL,
        created_us INTEGER NOT NULL,
        lease_expires_us INTEGER,
        deadline_us INTEGER,
        finished_us INTEGER,
        idempotency_key TEXT,
        payload TEXT NOT NULL,
        UNIQUE (tenant, idempotency_key)
    )
    """,
    "CREATE INDEX jobs_queue ON jobs (priority_rank, seq) WHERE state = 'queued'",
    _JOBS_TENANT_QUEUE,
    "CREATE INDEX jobs_leases ON jobs (lease_expires_us) WHERE state = 'running'",
    "CREATE INDEX jobs_deadlines ON jobs (deadline_us) "
    "WHERE state = 'queued' AND deadline_us IS NOT NULL",
    "CREATE INDEX jobs_finished ON jobs (finished_us) WHERE finished_us IS NOT NULL",
    "CREATE INDEX jobs_tenant ON jobs (tenant, seq)",
    "CREATE INDEX jobs_tenant_state ON jobs (tenant, state, seq)",
    "CREATE INDEX jobs_state ON jobs (state)",
    # Each tenant's fairness counter: estimated GPU-seconds charged so far.
    "CREATE TABLE tenants (tenant TEXT PRIMARY KEY, service_s REAL NOT NULL)",
    # The cache index; the objects themselves live in the ObjectStore.
    """
    CREATE TABLE cache (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        object_key TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        last_used_us INTEGER NOT NULL,
        PRIMARY KEY (namespace, key)
    )
    """,
    "CREATE INDEX cache_lru ON cache (namespace, last_used_us, key)",
    *_OUTBOX,
    *_WORKERS,
)


_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 1 -> 2: the per-tenant queue snapshot, `queued(per_tenant=...)`.
    1: (_JOBS_TENANT_QUEUE,),
    # 2 -> 3: the webhook outbox.
    2: _OUTBOX,
    # 3 -> 4: workers' last reports.
    3: _WORKERS,
}
"""Version -> the statements that take a file of that version to the next."""


SCHEMA = Schema(
    what="job database",
    version_table="schema_version",
    version=SCHEMA_VERSION,
    tables=_TABLES,
    migrations=_MIGRATIONS,
)


def ensure_schema(conn: sqlite3.Connection, *, where: str) -> None:
    SCHEMA.ensure(conn, where=where)
