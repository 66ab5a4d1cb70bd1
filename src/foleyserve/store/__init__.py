"""Durable job queue and job state: the `JobStore` contract and its two implementations.

`open_store(url)` picks one from the deployment's `FOLEYSERVE_STORE` setting.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from foleyserve.errors import ConfigError
from foleyserve.store.base import CacheEntry, HeartbeatReply, JobStore, Page
from foleyserve.store.redis_keys import DEFAULT_PREFIX

__all__ = ["CacheEntry", "HeartbeatReply", "JobStore", "Page", "open_store"]

_SQLITE = "sqlite://"


def open_store(url: str) -> JobStore:
    """The store at `url`:

    - `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (SQLAlchemy's convention:
      three slashes, then the path), or a plain file path: `SQLiteJobStore`.
    - `redis://[:password@]host:port/db` or `rediss://...` (TLS): `RedisJobStore`. A `prefix`
      query parameter sets the key prefix (default `foleyserve:`), e.g.
      `redis://localhost:6379/0?prefix=staging:`.

    Raises `ConfigError` for any other URL.
    """
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        return _open_redis(url)
    if url.startswith(_SQLITE):
        path = url.removeprefix(_SQLITE)
        if not path.startswith("/") or len(path) < 2:
            raise _unsupported(url)
        return _open_sqlite(Path(path[1:]))
    # A bare path: no scheme, or a Windows drive letter that urlsplit takes for one.
    if scheme == "" or len(scheme) == 1:
        if not url.strip():
            raise _unsupported(url)
        return _open_sqlite(Path(url))
    raise _unsupported(url)


def _open_sqlite(path: Path) -> JobStore:
    from foleyserve.store.sqlite import SQLiteJobStore

    return SQLiteJobStore(path)


def _open_redis(url: str) -> JobStore:
    # Imported here so that embedded deployments never need the redis package.
    from foleyserve.store.redis import RedisJobStore

    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    prefix = query.pop("prefix", [DEFAULT_PREFIX])[-1]
    plain = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    try:
        return RedisJobStore.from_url(plain, prefix=prefix)
    except ValueError as exc:
        raise ConfigError(f"the store URL {_redacted(url)} is not valid: {exc}") from exc


def _unsupported(url: str) -> ConfigError:
    return ConfigError(
        f"the store URL {_redacted(url)!r} is not supported; use sqlite:///path/to/jobs.db "
        "(or a file path) for the embedded store, or redis://host:port/db for a fleet"
    )


def _redacted(url: str) -> str:
    """`url` without its password, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
