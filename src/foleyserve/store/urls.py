"""The URL forms of the stores that live in SQLite or Redis (jobs, API keys), parsed once.

- `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (SQLAlchemy's convention: three
  slashes, then the path), or a plain file path.
- `redis://[:password@]host:port/db` or `rediss://...` (TLS), with an optional `prefix` query
  parameter for the key prefix (default `foleyserve:`), e.g. `redis://localhost:6379/0?prefix=staging:`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from foleyserve.errors import ConfigError
from foleyserve.store.redis_keys import DEFAULT_PREFIX

_SQLITE = "sqlite://"


@dataclass(frozen=True)
class SQLiteUrl:
    path: Path


@dataclass(frozen=True)
class RedisUrl:
    url: str
    """The URL for redis-py, without our `prefix` parameter."""
    prefix: str


def parse_store_url(url: str, *, what: str = "store") -> SQLiteUrl | RedisUrl:
    """Raises `ConfigError` (naming `what`, never the password) for any other form."""
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
        prefix = query.pop("prefix", [DEFAULT_PREFIX])[-1]
        return RedisUrl(urlunsplit(parts._replace(query=urlencode(query, doseq=True))), prefix)
    if url.startswith(_SQLITE):
        path = url.removeprefix(_SQLITE)
        if path.startswith("/") and len(path) >= 2:
            return SQLiteUrl(Path(path[1:]))
    # A bare path: no scheme, or a Windows drive letter that urlsplit takes for one.
    elif (scheme == "" or len(scheme) == 1) and url.strip():
        return SQLiteUrl(Path(url))
    raise ConfigError(
        f"the {what} URL {redacted(url)!r} is not supported; use sqlite:///path/to/file.db "
        "(or a file path) for an embedded setup, or redis://host:port/db for a fleet"
    )


def invalid(url: str, exc: Exception, *, what: str = "store") -> ConfigError:
    return ConfigError(f"the {what} URL {redacted(url)} is not valid: {exc}")


def redacted(url: str) -> str:
    """`url` without its password, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
