"""What only the SQLite store has: its file, schema and locking."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from foleyserve.errors import StorageError
from foleyserve.jobs.model import PAYLOAD_VERSION, JobState, Priority
from foleyserve.store.sqlite import _QUEUED, _QUEUED_PER_TENANT, SQLiteJobStore
from foleyserve.store.sqlite_schema import SCHEMA_VERSION

from .factories import T0, at, spec


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_new_file_gets_wal_schema_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "jobs.db"
    SQLiteJobStore(path).close()
    conn = _raw(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        indexes = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        assert {
            "jobs_queue",
            "jobs_tenant_queue",
            "jobs_leases",
            "jobs_deadlines",
            "cache_lru",
        } <= indexes
    finally:
        conn.close()


def test_jobs_survive_reopening_and_are_stored_as_versioned_json(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path)
    job, _ = store.submit(spec(), now=T0)
    store.close()
    store = SQLiteJobStore(path)
    try:
        assert store.get(job.id) == job
        assert store.queued(limit=5) == [job]
    finally:
        store.close()
    conn = _raw(path)
    try:
        (payload,) = conn.execute("SELECT payload FROM jobs WHERE id = ?", (job.id,)).fetchone()
    finally:
        conn.close()
    stored = json.loads(payload)
    assert (stored["v"], stored["state"]) == (PAYLOAD_VERSION, JobState.QUEUED.value)


def test_a_file_from_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    SQLiteJobStore(path).close()
    conn = _raw(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(StorageError, match="schema version 99"):
        SQLiteJobStore(path)


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path)
    ids = [store.submit(spec(t), now=at(i))[0].id for i, t in enumerate("aab")]
    store.close()
    conn = _raw(path)
    # Version 1 was the current version without this index, the webhook outbox (2 -> 3) and
    # the workers table (3 -> 4).
    conn.execute("DROP INDEX jobs_tenant_queue")
    conn.execute("DROP TABLE outbox")
    conn.execute("DROP TABLE workers")
    conn.execute("UPDATE schema_version SET version = 1")
    conn.close()
    store = SQLiteJobStore(path)
    try:
        assert [job.id for job in store.queued(limit=10, per_tenant=1)] == [ids[0], ids[2]]
        job, _ = store.submit(spec("c"), now=at(9))
        assert [job.id for job in store.queued(limit=10, per_tenant=1)] == [ids[0], ids[2], job.id]
    finally:
        store.close()
    conn = _raw(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'jobs_tenant_queue'")
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    finally:
        conn.close()


def test_queue_reads_use_their_indexes_and_read_no_other_rows(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path)
    for i in range(30):
        store.submit(spec(f"t{i % 3}", priority=list(Priority)[i % 3]), now=at(i))
    store.close()
    conn = _raw(path)
    try:
        plain = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {_QUEUED}", (10,))]
        fair = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {_QUEUED_PER_TENANT}", (2, 10))]
    finally:
        conn.close()
    # The queue index is already in (priority, seq) order: no sort of every queued row.
    assert plain == ["SCAN jobs USING INDEX jobs_queue"]
    # The window runs over the index alone, in its order; only the chosen jobs are read.
    assert "SCAN jobs USING COVERING INDEX jobs_tenant_queue" in fair
    assert "SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)" in fair
    assert not any(step.startswith("SCAN jobs ") and "COVERING" not in step for step in fair)


def test_unreadable_payloads_and_unusable_paths_raise_storage_errors(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path)
    try:
        job, _ = store.submit(spec(), now=T0)
        conn = _raw(path)
        conn.execute("UPDATE jobs SET payload = '{\"v\": 1}'")
        conn.close()
        with pytest.raises(StorageError, match="cannot be read"):
            store.get(job.id)
    finally:
        store.close()
    with pytest.raises(StorageError, match="job database"):
        SQLiteJobStore(tmp_path)  # a folder, not a file
    with pytest.raises(StorageError, match="job database"):
        SQLiteJobStore(path / "below-a-file.db")


def test_a_write_locked_elsewhere_too_long_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path, busy_timeout_s=0.05)
    other = _raw(path)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError, match="locked"):
            store.submit(spec(), now=T0)
        assert store.counts()[JobState.QUEUED] == 0  # readers are not blocked (WAL)
        other.execute("ROLLBACK")
        store.submit(spec(), now=T0)
    finally:
        other.close()
        store.close()
