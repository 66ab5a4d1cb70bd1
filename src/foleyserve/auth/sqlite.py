"""`SQLiteKeyStore`: tenants and API keys in a SQLite file, for the embedded server.

Organised like `SQLiteJobStore`: WAL mode, one connection per instance guarded by a lock, and
every read-modify-write inside `BEGIN IMMEDIATE`. Its tables are named `auth_*` and versioned
apart (`auth_schema_version`), so it may live in the job store's file or a file of its own.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from foleyserve.auth import keys
from foleyserve.auth.keys import ApiKey, Tenant, new_webhook_secret
from foleyserve.store.codec import to_us
from foleyserve.store.sqlite_db import Schema, SQLiteDatabase

SCHEMA_VERSION = 2
"""Bump on every change to `_TABLES`, with a migration from the previous version."""

_WEBHOOK_SECRETS = (
    # One webhook signing secret per tenant id, made on first use (HMAC needs it in the clear).
    "CREATE TABLE auth_webhook_secrets (tenant_id TEXT PRIMARY KEY, secret TEXT NOT NULL)"
)

_MIGRATIONS: dict[int, tuple[str, ...]] = {1: (_WEBHOOK_SECRETS,)}
"""Version -> the statements that take a file of that version to the next."""

_TABLES = (
    """
    CREATE TABLE auth_tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        max_queued_jobs INTEGER NOT NULL,
        gpu_seconds_per_hour REAL NOT NULL,
        admin INTEGER NOT NULL
    )
    """,
    # `key_hash` is SHA-256 of the key in hex; authentication finds the row by it.
    """
    CREATE TABLE auth_keys (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES auth_tenants (id),
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        revoked_us INTEGER,
        last_used_us INTEGER
    )
    """,
    "CREATE INDEX auth_keys_tenant ON auth_keys (tenant_id, created_us, id)",
    _WEBHOOK_SECRETS,
)

_SCHEMA = Schema(
    what="key database",
    version_table="auth_schema_version",
    version=SCHEMA_VERSION,
    tables=_TABLES,
    migrations=_MIGRATIONS,
)

_TENANT_COLUMNS = "t.id, t.name, t.max_queued_jobs, t.gpu_seconds_per_hour, t.admin"
_KEY_COLUMNS = "k.id, k.tenant_id, k.prefix, k.created_us, k.revoked_us, k.last_used_us"


class SQLiteKeyStore:
    """A `KeyStore` in the SQLite file at `path` (created, with its folder, if missing).

    `busy_timeout_s`: how long a write waits for another process's write before failing with
    `StorageError`. `durable=False` skips the fsync of every commit (tests, scratch files).
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0, durable: bool = True) -> None:
        self.path = path
        self._db = SQLiteDatabase(
            path,
            what="key database",
            ensure_schema=lambda conn: _SCHEMA.ensure(conn, where=str(path)),
            busy_timeout_s=busy_timeout_s,
            durable=durable,
        )

    def create_tenant(self, tenant: Tenant) -> Tenant:
        with self._write() as conn:
            if _tenant(conn, tenant.id) is not None:
                raise keys.tenant_exists(tenant.id)
            conn.execute(
                "INSERT INTO auth_tenants (id, name, max_queued_jobs, gpu_seconds_per_hour, "
                "admin) VALUES (?, ?, ?, ?, ?)",
                (
                    tenant.id,
                    tenant.name,
                    tenant.max_queued_jobs,
                    tenant.gpu_seconds_per_hour,
                    int(tenant.admin),
                ),
            )
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant:
        with self._read() as conn:
            tenant = _tenant(conn, tenant_id)
        if tenant is None:
            raise keys.tenant_not_found(tenant_id)
        return tenant

    def list_tenants(self) -> list[Tenant]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_TENANT_COLUMNS} FROM auth_tenants t ORDER BY t.id")
            return [_load_tenant(row) for row in rows.fetchall()]

    def create_key(self, tenant_id: str, *, now: datetime) -> tuple[ApiKey, str]:
        plaintext = keys.new_key()
        key = ApiKey(
            id=keys.new_key_id(),
            tenant_id=tenant_id,
            prefix=plaintext[: keys.DISPLAY_PREFIX_CHARS],
            created_at=now,
        )
        with self._write() as conn:
            if _tenant(conn, tenant_id) is None:
                raise keys.tenant_not_found(tenant_id)
            conn.execute(
                "INSERT INTO auth_keys (id, tenant_id, key_hash, prefix, created_us) "
                "VALUES (?, ?, ?, ?, ?)",
                (key.id, tenant_id, keys.hash_key(plaintext), key.prefix, to_us(now)),
            )
        return key, plaintext

    def authenticate(self, plaintext: str, *, now: datetime) -> tuple[Tenant, ApiKey]:
        if not keys.is_well_formed(plaintext):
            raise keys.unauthorized()
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_KEY_COLUMNS}, {_TENANT_COLUMNS} FROM auth_keys k "
                "JOIN auth_tenants t ON t.id = k.tenant_id WHERE k.key_hash = ?",
                (keys.hash_key(plaintext),),
            ).fetchone()
        if row is None:
            raise keys.unauthorized()
        key, tenant = _load_key(row[:6]), _load_tenant(row[6:])
        if key.revoked:
            raise keys.unauthorized()
        if keys.stale_last_use(key, now):
            with self._write() as conn:
                # Only ever forward: another process may have recorded a later use meanwhile.
                conn.execute(
                    "UPDATE auth_keys SET last_used_us = ? WHERE id = ? "
                    "AND (last_used_us IS NULL OR last_used_us < ?)",
                    (to_us(now), key.id, to_us(now)),
                )
            key = key.model_copy(update={"last_used_at": now})
        return tenant, key

    def list_keys(self, tenant_id: str) -> list[ApiKey]:
        with self._read() as conn:
            if _tenant(conn, tenant_id) is None:
                raise keys.tenant_not_found(tenant_id)
            rows = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM auth_keys k WHERE k.tenant_id = ? "
                "ORDER BY k.created_us, k.id",
                (tenant_id,),
            ).fetchall()
        return [_load_key(row) for row in rows]

    def revoke_key(self, key_id: str, *, now: datetime, tenant_id: str | None = None) -> ApiKey:
        with self._write() as conn:
            key = keys.visible_key(_key(conn, key_id), key_id, tenant_id)
            if key.revoked:
                return key
            conn.execute("UPDATE auth_keys SET revoked_us = ? WHERE id = ?", (to_us(now), key_id))
        return key.model_copy(update={"revoked_at": now})

    def webhook_secret(self, tenant_id: str) -> str:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO auth_webhook_secrets (tenant_id, secret) VALUES (?, ?) "
                "ON CONFLICT (tenant_id) DO NOTHING",
                (tenant_id, new_webhook_secret()),
            )
            (secret,) = conn.execute(
                "SELECT secret FROM auth_webhook_secrets WHERE tenant_id = ?", (tenant_id,)
            ).fetchone()
        return str(secret)

    def close(self) -> None:
        self._db.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.read()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.write()


def _tenant(conn: sqlite3.Connection, tenant_id: str) -> Tenant | None:
    row = conn.execute(
        f"SELECT {_TENANT_COLUMNS} FROM auth_tenants t WHERE t.id = ?", (tenant_id,)
    ).fetchone()
    return None if row is None else _load_tenant(row)


def _key(conn: sqlite3.Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM auth_keys k WHERE k.id = ?", (key_id,))
    found = row.fetchone()
    return None if found is None else _load_key(found)


def _load_tenant(row: tuple[Any, ...]) -> Tenant:
    tenant_id, name, max_queued_jobs, gpu_seconds_per_hour, admin = row
    return Tenant(
        id=tenant_id,
        name=name,
        max_queued_jobs=max_queued_jobs,
        gpu_seconds_per_hour=gpu_seconds_per_hour,
        admin=bool(admin),
    )


def _load_key(row: tuple[Any, ...]) -> ApiKey:
    key_id, tenant_id, prefix, created_us, revoked_us, last_used_us = row
    return ApiKey(
        id=key_id,
        tenant_id=tenant_id,
        prefix=prefix,
        created_at=keys.from_us(created_us),
        revoked_at=None if revoked_us is None else keys.from_us(revoked_us),
        last_used_at=None if last_used_us is None else keys.from_us(last_used_us),
    )
