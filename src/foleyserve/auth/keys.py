"""API keys and tenants: who is calling, and what they may use.

A key is `fs_` followed by 43 base62 characters (256 random bits), shown to its owner once, at
creation. Stores keep only its SHA-256 and its first 8 characters (`prefix`, for listings: it
tells keys apart and reveals 30 of the 256 bits).

Why SHA-256 and not bcrypt or argon2: slow, salted hashes exist to make guessing low-entropy
passwords expensive. Nobody can guess a 256-bit random key, slow hash or not, so a slow hash
would only add tens of milliseconds of CPU to every request; and a salted hash cannot be looked
up, so the store would have to find candidates some other way and compare each. An unsalted
SHA-256 is the lookup key itself: authentication hashes what was sent and finds the row by
that hash (an index, a Redis hash field), with no comparison that stops at the first differing
character of a secret, so its time does not depend on how close a guess is. The hash also
makes a safe cache key (`hash_key`) for an API server that remembers recent answers.

Unknown, revoked, malformed and empty keys all raise `Unauthorized` with one message, so a
caller learns nothing about which it sent.

Stores never read the clock: times come in as `now` (aware UTC datetimes). `last_used_at` is
written at most once per `LAST_USED_RESOLUTION_S` per key, so authenticating stays a read.

`open_key_store(url)` opens a store from the same URLs as the job store; it may share the job
store's SQLite file (its tables are `auth_*`) or Redis (its keys are `<prefix>auth:...`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from foleyserve.errors import InvalidInput, Unauthorized
from foleyserve.store.urls import SQLiteUrl, invalid, parse_store_url

KEY_PREFIX = "fs_"
KEY_RANDOM_CHARS = 43
"""43 base62 characters hold 256 random bits."""
DISPLAY_PREFIX_CHARS = 8
LAST_USED_RESOLUTION_S = 60.0
"""`last_used_at` is only moved forward once it is this old, so most requests write nothing."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALPHABET = string.ascii_letters + string.digits
_KEY_PATTERN = re.compile(f"{KEY_PREFIX}[0-9A-Za-z]{{{KEY_RANDOM_CHARS}}}")
_TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_UNAUTHORIZED = (
    "the API key is missing, malformed, unknown or revoked; send a valid key as "
    "`Authorization: Bearer fs_...`, or ask your administrator for a new one"
)


# -- keys ----------------------------------------------------------------------------------------
def new_key() -> str:
    """A fresh plaintext key."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_RANDOM_CHARS))


def is_well_formed(text: str) -> bool:
    """Whether `text` has the shape of a key (not whether any store knows it)."""
    return _KEY_PATTERN.fullmatch(text) is not None


def hash_key(plaintext: str) -> str:
    """What stores keep of a well-formed key, and look it up by: SHA-256, 64 hex digits."""
    return hashlib.sha256(plaintext.encode("ascii")).hexdigest()


def new_webhook_secret() -> str:
    """A fresh per-tenant webhook signing secret: `whsec_` and 256 random bits in standard
    base64, the form Standard Webhooks libraries take."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_key_id() -> str:
    return "key_" + secrets.token_hex(12)


def new_tenant_id() -> str:
    return "ten_" + secrets.token_hex(8)


# -- models --------------------------------------------------------------------------------------
class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tenant(_Frozen):
    """A customer: the owner of jobs and keys, and the unit of quotas."""

    id: str = Field(default_factory=new_tenant_id, pattern=_TENANT_ID_PATTERN)
    """Letters, digits, `.`, `_`, `-`; it names the tenant in jobs and store keys."""
    name: str = Field(min_length=1, max_length=200)
    max_queued_jobs: int = Field(100, ge=0)
    """Jobs it may have queued at once; 0 stops its submissions."""
    gpu_seconds_per_hour: float = Field(3600.0, ge=0)
    """GPU time it may use per hour (3600: one GPU's worth)."""
    admin: bool = False
    """May manage tenants and every tenant's keys."""


class ApiKey(_Frozen):
    """A key as stores keep and list it: never the plaintext, never the hash."""

    id: str
    tenant_id: str
    prefix: str
    """The key's first `DISPLAY_PREFIX_CHARS` characters, e.g. `fs_a1B2c`."""
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    """To within `LAST_USED_RESOLUTION_S`; None if never used."""

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


# -- contract ------------------------------------------------------------------------------------
class KeyStore(Protocol):
    """Tenants and their API keys. One contract test suite (tests/auth/test_keys.py) runs on
    every implementation. Foreign errors (sqlite3, redis) leave a store as `StorageError`."""

    def create_tenant(self, tenant: Tenant) -> Tenant:
        """Store `tenant`. Raises `InvalidInput` (`tenant_exists`) if its id is taken."""
        ...

    def get_tenant(self, tenant_id: str) -> Tenant:
        """Raises `InvalidInput` (`tenant_not_found`) for an unknown id."""
        ...

    def list_tenants(self) -> list[Tenant]:
        """Every tenant, by id."""
        ...

    def create_key(self, tenant_id: str, *, now: datetime) -> tuple[ApiKey, str]:
        """A new key of the tenant, and its plaintext: the only time anyone sees it. Raises
        `InvalidInput` (`tenant_not_found`) for an unknown tenant."""
        ...

    def authenticate(self, plaintext: str, *, now: datetime) -> tuple[Tenant, ApiKey]:
        """The tenant a key belongs to, and the key. Raises `Unauthorized`, with one message,
        for anything but a known, unrevoked key. Records `last_used_at` (see
        `LAST_USED_RESOLUTION_S`)."""
        ...

    def list_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys, revoked ones included, oldest first. Raises `InvalidInput`
        (`tenant_not_found`) for an unknown tenant."""
        ...

    def revoke_key(self, key_id: str, *, now: datetime, tenant_id: str | None = None) -> ApiKey:
        """Revoke a key for good; revoking it again changes nothing (the first `revoked_at`
        stays). `tenant_id=None` for admins; a tenant's call names itself, and another tenant's
        key raises `InvalidInput` (`key_not_found`) exactly like a missing one."""
        ...

    def webhook_secret(self, tenant_id: str) -> str:
        """The secret that signs `tenant_id`'s webhooks (see `foleyserve.api.webhooks`),
        made on first use; every later call, from any process, returns the same one. Any
        tenant id will do, a tenant without a row (`local`) too: it is never checked."""
        ...

    def close(self) -> None: ...


# -- rules shared by the stores ------------------------------------------------------------------
def unauthorized() -> Unauthorized:
    """The one error for every key that does not authenticate."""
    return Unauthorized(_UNAUTHORIZED)


def tenant_not_found(tenant_id: str) -> InvalidInput:
    return InvalidInput(
        f"tenant {tenant_id[:80]!r} not found; list tenants to see their ids",
        code="tenant_not_found",
    )


def tenant_exists(tenant_id: str) -> InvalidInput:
    return InvalidInput(
        f"tenant {tenant_id!r} already exists; choose another id", code="tenant_exists"
    )


def key_not_found(key_id: str) -> InvalidInput:
    """The one message for a missing key and another tenant's key."""
    return InvalidInput(
        f"API key {key_id[:80]!r} not found; list your keys to see their ids",
        code="key_not_found",
    )


def visible_key(key: ApiKey | None, key_id: str, tenant_id: str | None) -> ApiKey:
    """`key` if it exists and `tenant_id` may manage it (None: any); else `key_not_found`."""
    if key is None or (tenant_id is not None and key.tenant_id != tenant_id):
        raise key_not_found(key_id)
    return key


def from_us(us: int) -> datetime:
    """The inverse of `foleyserve.store.codec.to_us`: an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


def stale_last_use(key: ApiKey, now: datetime) -> bool:
    """Whether authenticating `key` at `now` should record the use."""
    last = key.last_used_at
    return last is None or now - last >= timedelta(seconds=LAST_USED_RESOLUTION_S)


# -- opening -------------------------------------------------------------------------------------
def open_key_store(url: str) -> KeyStore:
    """The key store at `url`, in the forms `foleyserve.store.open_store` takes:

    - `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, or a plain file path:
      `SQLiteKeyStore` (tables `auth_*`, so the job store's file will do).
    - `redis://[:password@]host:port/db` or `rediss://...`, with an optional `prefix` query
      parameter (default `foleyserve:`): `RedisKeyStore`, keys `<prefix>auth:...`.

    Raises `ConfigError` for any other URL.
    """
    parsed = parse_store_url(url, what="key store")
    if isinstance(parsed, SQLiteUrl):
        from foleyserve.auth.sqlite import SQLiteKeyStore

        return SQLiteKeyStore(parsed.path)
    # Imported here so that embedded deployments never need the redis package.
    from foleyserve.auth.redis import RedisKeyStore

    try:
        return RedisKeyStore.from_url(parsed.url, prefix=parsed.prefix)
    except ValueError as exc:
        raise invalid(url, exc, what="key store") from exc
