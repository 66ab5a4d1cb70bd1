"""`RedisKeyStore`: tenants and API keys in Redis, shared by every API server of a fleet.

Its keys live under `<prefix>auth:`, apart from the job store's, and are all listed here. The
two writes that touch several keys (a tenant, a key) run as Lua scripts, so readers see all of
one or none of it. Tenants and keys are never deleted (a key is revoked, and stays), which is
what lets the reads and `revoke_key` go without scripts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from foleyserve.auth import keys
from foleyserve.auth.keys import ApiKey, Tenant, new_webhook_secret
from foleyserve.store.codec import to_us
from foleyserve.store.redis_errors import translating
from foleyserve.store.redis_keys import AUTH, DEFAULT_PREFIX

# -- the key schema (its family, AUTH, is registered in foleyserve.store.redis_keys) --------------

TENANT = AUTH + "tenant:"
"""Hash per tenant, `auth:tenant:<id>`: `name`, `max_queued_jobs`, `gpu_seconds_per_hour`,
`admin` (`1` or `0`)."""

TENANTS = AUTH + "tenants"
"""Set: every tenant id."""

KEY = AUTH + "key:"
"""Hash per API key, `auth:key:<key id>`: `tenant_id`, `hash` (SHA-256 hex of the key),
`prefix`, `created_us`, and once they happen `revoked_us`, `last_used_us` (µs since the
epoch)."""

KEY_BY_HASH = AUTH + "key_by_hash"
"""Hash: SHA-256 hex of a key -> its key id. Authentication's one lookup."""

WEBHOOK_SECRETS = AUTH + "webhook_secrets"
"""Hash: tenant id -> its webhook signing secret, made on first use (HSETNX)."""

TENANT_KEYS = AUTH + "tenant_keys:"
"""Sorted set per tenant, `auth:tenant_keys:<tenant id>`: its key ids scored by `created_us`."""


@dataclass(frozen=True)
class AuthKeys:
    """The auth keys of one namespace (the job store's prefix, e.g. `foleyserve:`)."""

    prefix: str = DEFAULT_PREFIX

    def tenant(self, tenant_id: str) -> str:
        return f"{self.prefix}{TENANT}{tenant_id}"

    def key(self, key_id: str) -> str:
        return f"{self.prefix}{KEY}{key_id}"

    def tenant_keys(self, tenant_id: str) -> str:
        return f"{self.prefix}{TENANT_KEYS}{tenant_id}"

    @property
    def tenants(self) -> str:
        return self.prefix + TENANTS

    @property
    def key_by_hash(self) -> str:
        return self.prefix + KEY_BY_HASH

    @property
    def webhook_secrets(self) -> str:
        return self.prefix + WEBHOOK_SECRETS


# -- scripts ---------------------------------------------------------------------------------------
_CREATE_TENANT = """
-- KEYS: 1 tenant  2 tenants
-- ARGV: 1 id  2 name  3 max_queued_jobs  4 gpu_seconds_per_hour  5 admin (1|0)
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'max_queued_jobs', ARGV[3],
           'gpu_seconds_per_hour', ARGV[4], 'admin', ARGV[5])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

_CREATE_KEY = """
-- KEYS: 1 tenant  2 key  3 key_by_hash  4 tenant_keys
-- ARGV: 1 key id  2 tenant id  3 hash  4 prefix  5 created_us
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'tenant_id', ARGV[2], 'hash', ARGV[3], 'prefix', ARGV[4],
           'created_us', ARGV[5])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
return 1
"""


_translated = translating("the key store")


class RedisKeyStore:
    """A `KeyStore` in Redis, under `<prefix>auth:`.

    `client` must decode responses to str (`decode_responses=True`); the store owns it and
    closes it in `close()`.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisKeyStore needs a client made with decode_responses=True")
        self._redis = client
        self._keys = AuthKeys(prefix)
        self._create_tenant = client.register_script(_CREATE_TENANT)
        self._create_key = client.register_script(_CREATE_KEY)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisKeyStore:
        """`redis://[:password@]host:port/db` (or `rediss://` for TLS). Connects lazily."""
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix=prefix)

    @_translated
    def create_tenant(self, tenant: Tenant) -> Tenant:
        created = self._create_tenant(
            keys=[self._keys.tenant(tenant.id), self._keys.tenants],
            args=[
                tenant.id,
                tenant.name,
                tenant.max_queued_jobs,
                repr(tenant.gpu_seconds_per_hour),
                int(tenant.admin),
            ],
        )
        if not created:
            raise keys.tenant_exists(tenant.id)
        return tenant

    @_translated
    def get_tenant(self, tenant_id: str) -> Tenant:
        fields = _strings(self._redis.hgetall(self._keys.tenant(tenant_id)))
        if not fields:
            raise keys.tenant_not_found(tenant_id)
        return _load_tenant(tenant_id, fields)

    @_translated
    def list_tenants(self) -> list[Tenant]:
        tenant_ids = sorted(str(member) for member in self._redis.smembers(self._keys.tenants))
        pipe = self._redis.pipeline(transaction=False)
        for tenant_id in tenant_ids:
            pipe.hgetall(self._keys.tenant(tenant_id))
        rows = pipe.execute()
        return [_load_tenant(tid, row) for tid, row in zip(tenant_ids, rows, strict=True)]

    @_translated
    def create_key(self, tenant_id: str, *, now: datetime) -> tuple[ApiKey, str]:
        plaintext = keys.new_key()
        key = ApiKey(
            id=keys.new_key_id(),
            tenant_id=tenant_id,
            prefix=plaintext[: keys.DISPLAY_PREFIX_CHARS],
            created_at=now,
        )
        created = self._create_key(
            keys=[
                self._keys.tenant(tenant_id),
                self._keys.key(key.id),
                self._keys.key_by_hash,
                self._keys.tenant_keys(tenant_id),
            ],
            args=[key.id, tenant_id, keys.hash_key(plaintext), key.prefix, to_us(now)],
        )
        if not created:
            raise keys.tenant_not_found(tenant_id)
        return key, plaintext

    @_translated
    def authenticate(self, plaintext: str, *, now: datetime) -> tuple[Tenant, ApiKey]:
        if not keys.is_well_formed(plaintext):
            raise keys.unauthorized()
        key_id = self._redis.hget(self._keys.key_by_hash, keys.hash_key(plaintext))
        key = None if key_id is None else self._key(str(key_id))
        if key is None or key.revoked:
            raise keys.unauthorized()
        fields = _strings(self._redis.hgetall(self._keys.tenant(key.tenant_id)))
        if not fields:
            raise keys.unauthorized()
        if keys.stale_last_use(key, now):
            # Servers racing here all write about `now`; the last write wins, harmlessly.
            self._redis.hset(self._keys.key(key.id), "last_used_us", to_us(now))
            key = key.model_copy(update={"last_used_at": now})
        return _load_tenant(key.tenant_id, fields), key

    @_translated
    def list_keys(self, tenant_id: str) -> list[ApiKey]:
        if not self._redis.exists(self._keys.tenant(tenant_id)):
            raise keys.tenant_not_found(tenant_id)
        key_ids = [str(m) for m in self._redis.zrange(self._keys.tenant_keys(tenant_id), 0, -1)]
        pipe = self._redis.pipeline(transaction=False)
        for key_id in key_ids:
            pipe.hgetall(self._keys.key(key_id))
        rows = pipe.execute()
        return [_load_key(key_id, row) for key_id, row in zip(key_ids, rows, strict=True)]

    @_translated
    def revoke_key(self, key_id: str, *, now: datetime, tenant_id: str | None = None) -> ApiKey:
        keys.visible_key(self._key(key_id), key_id, tenant_id)
        # HSETNX keeps the first revocation's time when two revoke at once.
        pipe = self._redis.pipeline(transaction=True)
        pipe.hsetnx(self._keys.key(key_id), "revoked_us", to_us(now))
        pipe.hgetall(self._keys.key(key_id))
        _, fields = pipe.execute()
        return _load_key(key_id, fields)

    @_translated
    def webhook_secret(self, tenant_id: str) -> str:
        # HSETNX keeps the first secret when two processes make one at once.
        pipe = self._redis.pipeline(transaction=True)
        pipe.hsetnx(self._keys.webhook_secrets, tenant_id, new_webhook_secret())
        pipe.hget(self._keys.webhook_secrets, tenant_id)
        _, secret = pipe.execute()
        return str(secret)

    def close(self) -> None:
        self._redis.close()

    def _key(self, key_id: str) -> ApiKey | None:
        fields = _strings(self._redis.hgetall(self._keys.key(key_id)))
        return _load_key(key_id, fields) if fields else None


def _strings(reply: Any) -> dict[str, str]:
    """An HGETALL reply (the client decodes it to str)."""
    return {str(field): str(value) for field, value in reply.items()}


def _load_tenant(tenant_id: str, fields: Mapping[str, str]) -> Tenant:
    return Tenant(
        id=tenant_id,
        name=fields["name"],
        max_queued_jobs=int(fields["max_queued_jobs"]),
        gpu_seconds_per_hour=float(fields["gpu_seconds_per_hour"]),
        admin=fields["admin"] == "1",
    )


def _load_key(key_id: str, fields: Mapping[str, str]) -> ApiKey:
    def moment(name: str) -> datetime | None:
        value = fields.get(name)
        return None if value is None else keys.from_us(int(value))

    return ApiKey(
        id=key_id,
        tenant_id=fields["tenant_id"],
        prefix=fields["prefix"],
        created_at=keys.from_us(int(fields["created_us"])),
        revoked_at=moment("revoked_us"),
        last_used_at=moment("last_used_us"),
    )
