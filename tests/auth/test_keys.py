"""API keys and tenants: the key format, and the `KeyStore` contract run on SQLite and Redis.

Redis tests use the session's own redis-server (tests/conftest.py), each under a prefix of its
own that is deleted afterwards. Times are fixed, never the wall clock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from foleyserve.auth import open_key_store
from foleyserve.auth.keys import (
    DISPLAY_PREFIX_CHARS,
    KEY_RANDOM_CHARS,
    LAST_USED_RESOLUTION_S,
    KeyStore,
    Tenant,
    hash_key,
    is_well_formed,
    new_key,
)
from foleyserve.auth.redis import RedisKeyStore
from foleyserve.auth.sqlite import SQLiteKeyStore
from foleyserve.errors import ConfigError, InvalidInput, Unauthorized
from foleyserve.store.sqlite import SQLiteJobStore

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

StoreFactory = Callable[[], KeyStore]
"""Opens one more store on the same data (another API server of the same deployment)."""


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[KeyStore] = []
    if request.param == "sqlite":

        def make() -> KeyStore:
            opened.append(SQLiteKeyStore(tmp_path / "auth.db", durable=False))
            return opened[-1]

        yield make
    else:
        url: str = request.getfixturevalue("redis_url")
        prefix = f"test:{uuid4().hex[:12]}:"

        def make() -> KeyStore:
            opened.append(RedisKeyStore.from_url(url, prefix=prefix))
            return opened[-1]

        yield make
        _delete_prefix(url, prefix)
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> KeyStore:
    return make_store()


def _delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


def _tenant(store: KeyStore, tenant_id: str = "acme", **quotas: object) -> Tenant:
    tenant = Tenant.model_validate({"id": tenant_id, "name": tenant_id, **quotas})
    return store.create_tenant(tenant)


def _unauthorized(store: KeyStore, plaintext: str, now: datetime = T0) -> str:
    with pytest.raises(Unauthorized) as caught:
        store.authenticate(plaintext, now=now)
    return caught.value.message


def _well_formed_unknown_key() -> str:
    return "fs_" + "A" * KEY_RANDOM_CHARS


# -- the key format --------------------------------------------------------------------------------
def test_keys_are_fs_and_43_base62_characters() -> None:
    made = [new_key() for _ in range(200)]
    assert len(set(made)) == len(made)
    for key in made:
        assert key.startswith("fs_") and len(key) == 3 + KEY_RANDOM_CHARS
        assert set(key[3:]) <= set(BASE62)
        assert is_well_formed(key)
        digest = hash_key(key)
        assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    # 256 random bits: every base62 character turns up across 200 keys.
    assert set("".join(key[3:] for key in made)) == set(BASE62)


@given(body=st.text(alphabet=BASE62, min_size=KEY_RANDOM_CHARS, max_size=KEY_RANDOM_CHARS))
def test_every_fs_base62_string_of_the_right_length_is_well_formed(body: str) -> None:
    assert is_well_formed("fs_" + body)


@given(text=st.text(max_size=60))
def test_other_text_is_not_well_formed(text: str) -> None:
    expected = (
        len(text) == 3 + KEY_RANDOM_CHARS
        and text.startswith("fs_")
        and all(ch in BASE62 for ch in text[3:])
    )
    assert is_well_formed(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "fs_",
        "FS_" + "A" * KEY_RANDOM_CHARS,
        "fs-" + "A" * KEY_RANDOM_CHARS,
        "fs_" + "A" * (KEY_RANDOM_CHARS - 1),
        "fs_" + "A" * (KEY_RANDOM_CHARS + 1),
        "fs_" + "A" * (KEY_RANDOM_CHARS - 1) + "_",
        "fs_" + "A" * KEY_RANDOM_CHARS + "\n",
        " fs_" + "A" * KEY_RANDOM_CHARS,
        "fs_" + "Ａ" * KEY_RANDOM_CHARS,  # fullwidth letters are not base62
        "fs_" + "٣" * KEY_RANDOM_CHARS,  # nor are other scripts' digits
    ],
)
def test_near_misses_are_not_well_formed(text: str) -> None:
    assert not is_well_formed(text)


def test_tenant_ids_and_quotas_are_validated() -> None:
    assert Tenant(name="Acme").id.startswith("ten_")
    for bad in ({"id": "a:b"}, {"id": ""}, {"max_queued_jobs": -1}, {"name": ""}):
        with pytest.raises(ValidationError):
            Tenant.model_validate({"name": "Acme", **bad})


# -- the contract: tenants -------------------------------------------------------------------------
def test_tenants_are_stored_listed_and_refused_twice(store: KeyStore) -> None:
    acme = _tenant(store, "acme", max_queued_jobs=5, gpu_seconds_per_hour=0.1 + 0.2)
    root = _tenant(store, "root", admin=True)
    assert store.get_tenant("acme") == acme
    assert acme.gpu_seconds_per_hour == 0.1 + 0.2  # floats come back exactly
    assert store.list_tenants() == [acme, root]
    with pytest.raises(InvalidInput) as caught:
        _tenant(store, "acme", max_queued_jobs=1)
    assert caught.value.code == "tenant_exists"
    assert store.get_tenant("acme") == acme


def test_unknown_tenants(store: KeyStore) -> None:
    for call in (
        lambda: store.get_tenant("nobody"),
        lambda: store.create_key("nobody", now=T0),
        lambda: store.list_keys("nobody"),
    ):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.code == "tenant_not_found"
    assert store.list_tenants() == []


# -- the contract: keys ----------------------------------------------------------------------------
def test_a_new_key_authenticates_its_tenant(store: KeyStore) -> None:
    acme = _tenant(store, "acme", max_queued_jobs=7)
    key, plaintext = store.create_key("acme", now=T0)
    assert is_well_formed(plaintext)
    assert key.prefix == plaintext[:DISPLAY_PREFIX_CHARS]
    assert (key.tenant_id, key.created_at, key.revoked_at, key.last_used_at) == (
        "acme",
        T0,
        None,
        None,
    )
    tenant, found = store.authenticate(plaintext, now=at(1))
    assert tenant == acme
    assert found == key.model_copy(update={"last_used_at": at(1)})


def test_another_store_on_the_same_data_sees_the_keys(make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    _tenant(first)
    key, plaintext = first.create_key("acme", now=T0)
    assert second.authenticate(plaintext, now=T0)[1].id == key.id
    second.revoke_key(key.id, now=at(1))
    _unauthorized(first, plaintext)


def test_listed_keys_never_show_the_plaintext_or_its_hash(store: KeyStore) -> None:
    _tenant(store, "acme")
    _tenant(store, "other")
    made = [store.create_key("acme", now=at(i)) for i in (2, 1, 3)]
    store.create_key("other", now=T0)
    listed = store.list_keys("acme")
    assert [key.id for key in listed] == [made[1][0].id, made[0][0].id, made[2][0].id]
    text = "".join(key.model_dump_json() for key in listed)
    for _, plaintext in made:
        assert plaintext not in text and hash_key(plaintext) not in text


def test_wrong_malformed_empty_and_revoked_keys_get_one_message(store: KeyStore) -> None:
    _tenant(store)
    key, plaintext = store.create_key("acme", now=T0)
    store.revoke_key(key.id, now=at(1))
    messages = {
        _unauthorized(store, text)
        for text in (
            plaintext,  # revoked
            _well_formed_unknown_key(),
            "",
            "fs_",
            "Bearer " + plaintext,
            plaintext + "\n",
            plaintext.upper(),
            "fs_\udcff" + "A" * (KEY_RANDOM_CHARS - 1),  # not even encodable
            hash_key(plaintext),
        )
    }
    assert len(messages) == 1


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_a_key_is_refused(store: KeyStore, data: st.DataObject) -> None:
    # The store is the same for every example; only the first one creates the tenant.
    if not store.list_tenants():
        _tenant(store)
    key, plaintext = store.create_key("acme", now=T0)
    where = data.draw(st.integers(min_value=0, max_value=len(plaintext) - 1))
    other = data.draw(st.characters().filter(lambda ch: ch != plaintext[where]))
    changed = plaintext[:where] + other + plaintext[where + 1 :]
    _unauthorized(store, changed)
    assert store.authenticate(plaintext, now=T0)[1].id == key.id


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_arbitrary_text_never_authenticates(store: KeyStore, text: str) -> None:
    _unauthorized(store, text)


def test_last_use_is_recorded_at_most_once_per_resolution(store: KeyStore) -> None:
    _tenant(store)
    _, plaintext = store.create_key("acme", now=T0)
    later = LAST_USED_RESOLUTION_S
    assert store.authenticate(plaintext, now=at(10))[1].last_used_at == at(10)
    assert store.authenticate(plaintext, now=at(10 + later - 1))[1].last_used_at == at(10)
    assert store.list_keys("acme")[0].last_used_at == at(10)
    assert store.authenticate(plaintext, now=at(10 + later))[1].last_used_at == at(10 + later)
    assert store.list_keys("acme")[0].last_used_at == at(10 + later)


# -- the contract: revoking ------------------------------------------------------------------------
def test_a_revoked_key_stops_working_and_stays_revoked(store: KeyStore) -> None:
    _tenant(store)
    key, plaintext = store.create_key("acme", now=T0)
    spare, spare_plaintext = store.create_key("acme", now=at(1))
    revoked = store.revoke_key(key.id, now=at(5))
    assert revoked == key.model_copy(update={"revoked_at": at(5)})
    assert revoked.revoked
    _unauthorized(store, plaintext, now=at(6))
    # Again: nothing changes, the first time stays.
    assert store.revoke_key(key.id, now=at(9)).revoked_at == at(5)
    assert [k.revoked_at for k in store.list_keys("acme")] == [at(5), None]
    assert store.authenticate(spare_plaintext, now=at(6))[1].id == spare.id


def test_a_tenant_cannot_revoke_another_tenants_key(store: KeyStore) -> None:
    _tenant(store, "acme")
    _tenant(store, "rival")
    key, plaintext = store.create_key("acme", now=T0)
    messages = []
    for key_id in (key.id, "key_000000000000000000000000"):
        with pytest.raises(InvalidInput) as caught:
            store.revoke_key(key_id, now=at(1), tenant_id="rival")
        assert caught.value.code == "key_not_found"
        messages.append(caught.value.message.replace(key_id, "<id>"))
    assert messages[0] == messages[1]  # foreign and missing alike
    assert store.authenticate(plaintext, now=at(2))[0].id == "acme"
    assert store.revoke_key(key.id, now=at(3), tenant_id="acme").revoked_at == at(3)


def test_admins_revoke_any_key_but_not_missing_ones(store: KeyStore) -> None:
    _tenant(store)
    key, _ = store.create_key("acme", now=T0)
    assert store.revoke_key(key.id, now=at(1)).revoked
    with pytest.raises(InvalidInput) as caught:
        store.revoke_key("key_missing", now=at(1))
    assert caught.value.code == "key_not_found"


# -- what is stored --------------------------------------------------------------------------------
def test_sqlite_keeps_only_the_hash(tmp_path: Path) -> None:
    store = SQLiteKeyStore(tmp_path / "auth.db", durable=False)
    try:
        _tenant(store)
        _, plaintext = store.create_key("acme", now=T0)
    finally:
        store.close()
    conn = sqlite3.connect(tmp_path / "auth.db")
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert plaintext not in dump and plaintext[DISPLAY_PREFIX_CHARS:] not in dump
    assert hash_key(plaintext) in dump


def test_redis_keeps_only_the_hash_under_its_own_namespace(redis_url: str) -> None:
    prefix = f"test:{uuid4().hex[:12]}:"
    store = open_key_store(f"{redis_url}?prefix={prefix}")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert isinstance(store, RedisKeyStore)
        _tenant(store)
        _, plaintext = store.create_key("acme", now=T0)
        names = sorted(client.scan_iter(match=f"{prefix}*"))
        assert names and all(name.startswith(f"{prefix}auth:") for name in names)
        stored = " ".join(_contents(client, name) for name in names)
        assert plaintext not in stored and plaintext[DISPLAY_PREFIX_CHARS:] not in stored
        assert hash_key(plaintext) in stored
    finally:
        store.close()
        client.close()
        _delete_prefix(redis_url, prefix)


def _contents(client: redis.Redis, name: str) -> str:
    kind = client.type(name)
    if kind == "hash":
        return str(client.hgetall(name))
    if kind == "set":
        return str(client.smembers(name))
    assert kind == "zset", f"{name} is a {kind!r}"
    return str(client.zrange(name, 0, -1))


def test_the_job_store_and_the_key_store_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "foleyserve.db"
    jobs = SQLiteJobStore(path, durable=False)
    auth = open_key_store(f"sqlite:///{path}")
    try:
        assert isinstance(auth, SQLiteKeyStore)
        assert jobs.counts()  # its schema is untouched
        _tenant(auth)
        _, plaintext = auth.create_key("acme", now=T0)
        assert auth.authenticate(plaintext, now=T0)[0].id == "acme"
    finally:
        jobs.close()
        auth.close()
    reopened = SQLiteJobStore(path, durable=False)
    reopened.close()


# -- opening ---------------------------------------------------------------------------------------
def test_sqlite_urls_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    expected = {
        "sqlite:///rel/auth.db": tmp_path / "rel" / "auth.db",
        f"sqlite:///{tmp_path}/abs.db": tmp_path / "abs.db",
        "rel/plain.db": tmp_path / "rel" / "plain.db",
    }
    for url, path in expected.items():
        store = open_key_store(url)
        try:
            assert isinstance(store, SQLiteKeyStore)
            assert store.path.resolve() == path.resolve()
        finally:
            store.close()


@pytest.mark.parametrize(
    "url", ["", "sqlite://", "sqlite:///", "postgres://admin:hunter2@db/auth", "memory://"]
)
def test_other_urls_are_refused_without_leaking_passwords(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_key_store(url)
    assert "hunter2" not in caught.value.message
    assert "sqlite:///" in caught.value.message


def test_a_webhook_secret_is_made_once_per_tenant(make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    secret = first.webhook_secret("local")  # no tenant row needed
    assert secret.startswith("whsec_") and len(secret) >= 40
    assert second.webhook_secret("local") == secret
    assert first.webhook_secret("acme") not in (secret, "")


def test_a_version_1_key_file_gains_webhook_secrets(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    SQLiteKeyStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE auth_webhook_secrets")
    conn.execute("UPDATE auth_schema_version SET version = 1")
    conn.commit()
    conn.close()
    store = SQLiteKeyStore(path)
    try:
        assert store.webhook_secret("acme") == store.webhook_secret("acme")
    finally:
        store.close()
