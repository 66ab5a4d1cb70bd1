"""Fixtures of the store tests: a redis-server of their own, and `store`, which runs a test
against every `JobStore` implementation.

The Redis tests use the session's own `redis-server` (tests/conftest.py) and empty it after
every test; SQLite tests use a file under the test's tmp_path, opened with
`durable=False` (no fsync per commit: same locking, ten times faster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis

from foleyserve.store.base import JobStore
from foleyserve.store.redis import RedisJobStore
from foleyserve.store.sqlite import SQLiteJobStore

StoreFactory = Callable[[], JobStore]
"""Opens one more store on the same data (another 'process' of the same deployment)."""


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[JobStore] = []
    if request.param == "sqlite":
        path = tmp_path / "jobs.db"

        def make() -> JobStore:
            opened.append(SQLiteJobStore(path, durable=False))
            return opened[-1]

        yield make
    else:
        url: str = request.getfixturevalue("redis_url")
        prefix = f"test:{uuid4().hex[:12]}:"

        def make() -> JobStore:
            opened.append(RedisJobStore.from_url(url, prefix=prefix))
            return opened[-1]

        yield make
        flush_redis(url)
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> JobStore:
    return make_store()


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
