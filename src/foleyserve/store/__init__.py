"""Durable job queue and job state: the `JobStore` contract and its two implementations.

`open_store(url)` picks one from the deployment's `FOLEYSERVE_STORE` setting.
"""

from __future__ import annotations

from foleyserve.store.base import CacheEntry, HeartbeatReply, JobStore, Page
from foleyserve.store.urls import SQLiteUrl, invalid, parse_store_url

__all__ = ["CacheEntry", "HeartbeatReply", "JobStore", "Page", "open_store"]


def open_store(url: str) -> JobStore:
    """The store at `url` (the forms are in `foleyserve.store.urls`): `SQLiteJobStore` or
    `RedisJobStore`. Raises `ConfigError` for any other URL."""
    parsed = parse_store_url(url)
    if isinstance(parsed, SQLiteUrl):
        from foleyserve.store.sqlite import SQLiteJobStore

        return SQLiteJobStore(parsed.path)
    # Imported here so that embedded deployments never need the redis package.
    from foleyserve.store.redis import RedisJobStore

    try:
        return RedisJobStore.from_url(parsed.url, prefix=parsed.prefix)
    except ValueError as exc:
        raise invalid(url, exc) from exc
