"""Storage test fixtures: one real SeaweedFS S3 server per session, and `store`, which runs
every contract test against both `LocalObjectStore` and `S3ObjectStore`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from foleyserve.storage import LocalObjectStore, ObjectStore
from foleyserve.storage.s3 import S3ObjectStore
from tests.storage.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer, start_seaweedfs

BUCKET = "foleyserve-tests"
_STARTUP_S = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def seaweed(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[SeaweedServer]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    pytestconfig.stash[_STARTUP_S] = server.started_in_s
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_bucket(seaweed: SeaweedServer) -> str:
    """The session's bucket; tests share it, each under its own prefix."""
    make_s3_store(seaweed, create_bucket=True).close()
    return BUCKET


def make_s3_store(seaweed: SeaweedServer, **options: Any) -> S3ObjectStore:
    """An `S3ObjectStore` on the test server; `options` override the defaults below."""
    settings: dict[str, Any] = {
        "endpoint_url": seaweed.endpoint_url,
        "region": "us-east-1",
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 10.0,
        "max_attempts": 2,
    }
    settings.update(options)
    return S3ObjectStore(settings.pop("bucket", BUCKET), **settings)


def unique_prefix() -> str:
    return f"tests/{uuid.uuid4().hex}"


@pytest.fixture
def s3_store(seaweed: SeaweedServer, s3_bucket: str) -> Iterator[S3ObjectStore]:
    store = make_s3_store(seaweed, bucket=s3_bucket, prefix=unique_prefix())
    yield store
    store.close()


@pytest.fixture
def raw_client(seaweed: SeaweedServer) -> Iterator[Any]:
    """A plain boto3 client, to look at what the store wrote."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=seaweed.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    yield client
    client.close()


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    """Each implementation in turn (S3 starts SeaweedFS only when first asked for)."""
    store: ObjectStore = request.getfixturevalue(f"{request.param}_store")
    return store


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    started_in_s = config.stash.get(_STARTUP_S, None)
    if started_in_s is not None:
        terminalreporter.write_line(f"SeaweedFS (weed mini) answered after {started_in_s:.2f} s")
