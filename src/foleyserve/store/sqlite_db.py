"""One SQLite file used by the threads of a process and by several processes at once.

WAL (readers never wait for the writer), a busy timeout (a writer waits for another process's
write instead of failing at once), no implicit transactions: `read()` runs statements that are
each their own consistent read, `write()` holds the write lock from its first statement
(`BEGIN IMMEDIATE`), so what it reads cannot change before it writes. sqlite and OS errors
become `StorageError`, naming the file. Shared by the job store and the key store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from foleyserve.errors import StorageError


@dataclass(frozen=True)
class Schema:
    """The tables of one kind of database at `version`, and for each older version the
    statements that upgrade it to the next. `version_table` holds the version a file has (the
    job and key stores may share a file, so each names its own)."""

    what: str
    """How errors name the database ("job database")."""
    version_table: str
    version: int
    tables: tuple[str, ...]
    migrations: Mapping[int, tuple[str, ...]]

    def ensure(self, conn: sqlite3.Connection, *, where: str) -> None:
        """Create the tables in a file without them, upgrade an older one, or refuse a newer
        one. Call inside a write transaction, so that processes opening a file together create
        or upgrade it once."""
        conn.execute(f"CREATE TABLE IF NOT EXISTS {self.version_table} (version INTEGER NOT NULL)")
        row = conn.execute(f"SELECT version FROM {self.version_table}").fetchone()
        if row is None:
            for statement in self.tables:
                conn.execute(statement)
            conn.execute(f"INSERT INTO {self.version_table} (version) VALUES (?)", (self.version,))
            return
        version = row[0]
        while version in self.migrations and version < self.version:
            for statement in self.migrations[version]:
                conn.execute(statement)
            version += 1
        if version != row[0]:
            conn.execute(f"UPDATE {self.version_table} SET version = ?", (version,))
        if version != self.version:
            raise StorageError(
                f"the {self.what} {where} has schema version {row[0]}, this foleyserve uses "
                f"{self.version}; use the foleyserve version that wrote it, or a new file"
            )


class SQLiteDatabase:
    """`what` names the database in errors ("job database"). `ensure_schema` runs once, inside
    a write transaction, so processes opening a new file together create its tables once.
    `durable=False` skips the fsync of every commit (tests, scratch files)."""

    def __init__(
        self,
        path: Path,
        *,
        what: str,
        ensure_schema: Callable[[sqlite3.Connection], None],
        busy_timeout_s: float = 10.0,
        durable: bool = True,
    ) -> None:
        self.path = path
        self._what = what
        self._lock = threading.Lock()
        with self.translated():
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; we BEGIN where we mean it.
            self._conn = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        try:
            with self.translated():
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            with self.write() as conn:
                ensure_schema(conn)
        except BaseException:
            self._conn.close()
            raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self.translated():
            yield self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its first statement; rolled back if the
        body raises."""
        with self._lock, self.translated():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def translated(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(
                f"the {self._what} {self.path} failed: {exc}; check that its folder is "
                "writable and on a local disk (SQLite locking needs one)"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
