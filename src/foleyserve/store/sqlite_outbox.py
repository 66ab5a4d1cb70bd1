"""The SQLite store's webhook outbox (table `outbox`): each function runs inside the caller's
transaction (`SQLiteJobStore` opens it), so an event is added in the very transaction of the
job change it announces."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from foleyserve.jobs.events import JobEvent, dump_event, load_event
from foleyserve.store import rules
from foleyserve.store.codec import to_us


def add(conn: sqlite3.Connection, event: JobEvent) -> None:
    conn.execute(
        "INSERT INTO outbox (id, due_us, owner, payload) VALUES (?, ?, NULL, ?)",
        (event.id, to_us(event.due_at), dump_event(event)),
    )


def any_due(conn: sqlite3.Connection, *, now: datetime) -> bool:
    row = conn.execute("SELECT 1 FROM outbox WHERE due_us <= ? LIMIT 1", (to_us(now),))
    return row.fetchone() is not None


def lease(
    conn: sqlite3.Connection, owner: str, *, limit: int, lease_s: float, now: datetime
) -> list[JobEvent]:
    until = rules.lease_end(now, lease_s)
    rows = conn.execute(
        "SELECT payload FROM outbox WHERE due_us <= ? ORDER BY due_us, id LIMIT ?",
        (to_us(now), max(limit, 0)),
    ).fetchall()
    leased = []
    for (payload,) in rows:
        event = load_event(payload).model_copy(update={"due_at": until})
        conn.execute(
            "UPDATE outbox SET due_us = ?, owner = ?, payload = ? WHERE id = ?",
            (to_us(until), owner, dump_event(event), event.id),
        )
        leased.append(event)
    return leased


def done(conn: sqlite3.Connection, event_id: str, owner: str) -> bool:
    cursor = conn.execute("DELETE FROM outbox WHERE id = ? AND owner = ?", (event_id, owner))
    return cursor.rowcount == 1


def retry(
    conn: sqlite3.Connection, event_id: str, owner: str, *, due_at: datetime, error: str
) -> bool:
    row = conn.execute(
        "SELECT payload FROM outbox WHERE id = ? AND owner = ?", (event_id, owner)
    ).fetchone()
    if row is None:
        return False
    event = rules.retried(load_event(row[0]), due_at=due_at, error=error)
    conn.execute(
        "UPDATE outbox SET due_us = ?, owner = NULL, payload = ? WHERE id = ?",
        (to_us(due_at), dump_event(event), event_id),
    )
    return True


def pending(conn: sqlite3.Connection) -> int:
    (count,) = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
    return int(count)
