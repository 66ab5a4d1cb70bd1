"""`open_store`: from the deployment's store URL to a store."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from foleyserve.errors import ConfigError
from foleyserve.store import open_store
from foleyserve.store.redis import RedisJobStore
from foleyserve.store.sqlite import SQLiteJobStore

from .conftest import flush_redis
from .factories import T0, spec


def test_sqlite_urls_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    expected = {
        "sqlite:///rel/jobs.db": tmp_path / "rel" / "jobs.db",  # SQLAlchemy: relative
        f"sqlite:///{tmp_path}/abs.db": tmp_path / "abs.db",  # four slashes: absolute
        "rel/plain.db": tmp_path / "rel" / "plain.db",
        str(tmp_path / "plain-abs.db"): tmp_path / "plain-abs.db",
    }
    for url, path in expected.items():
        store = open_store(url)
        try:
            assert isinstance(store, SQLiteJobStore)
            assert store.path.resolve() == path.resolve()
            assert path.exists()
        finally:
            store.close()


def test_redis_url_with_a_prefix(redis_url: str) -> None:
    store = open_store(f"{redis_url}?prefix=staging:")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert isinstance(store, RedisJobStore)
        job, _ = store.submit(spec(), now=T0)
        assert client.exists(f"staging:job:{job.id}")
    finally:
        store.close()
        client.close()
        flush_redis(redis_url)


@pytest.mark.parametrize(
    "url", ["", "sqlite://", "sqlite:///", "postgres://admin:hunter2@db/jobs", "memory://"]
)
def test_other_urls_are_refused_without_leaking_passwords(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    assert "hunter2" not in caught.value.message
    assert "sqlite:///" in caught.value.message
