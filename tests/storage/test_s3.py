"""`S3ObjectStore` beyond the shared contract, against the session's SeaweedFS."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from foleyserve.errors import StorageError
from foleyserve.storage import open_object_store
from foleyserve.storage.s3 import S3ObjectStore
from tests.storage.conftest import make_s3_store, unique_prefix
from tests.storage.seaweed import ACCESS_KEY, HOST, SECRET_KEY, SeaweedServer, free_port

MIB = 1 << 20


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(StorageError) as caught:
        call()
    return caught.value.code


def _fetch(url: str) -> tuple[bytes, dict[str, str]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.read(), dict(response.headers)


@pytest.fixture
def small_parts_store(seaweed: SeaweedServer, s3_bucket: str) -> Iterator[S3ObjectStore]:
    store = make_s3_store(seaweed, prefix=unique_prefix(), multipart_threshold_bytes=5 * MIB)
    yield store
    store.close()


def test_large_files_go_up_in_parts(
    small_parts_store: S3ObjectStore, raw_client: Any, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(20 * MIB)
    source.write_bytes(data)
    assert small_parts_store.put_file("big.bin", source) == 20 * MIB
    etag = raw_client.head_object(
        Bucket=small_parts_store.bucket, Key=small_parts_store.prefix + "big.bin"
    )["ETag"]
    assert etag.strip('"').endswith("-4")  # a multipart ETag: md5-of-md5s, then "-<parts>"
    target = tmp_path / "back.bin"
    small_parts_store.get_file("big.bin", target)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    across_parts = b"".join(
        small_parts_store.iter_chunks("big.bin", start=5 * MIB - 10, end=5 * MIB + 10)
    )
    assert across_parts == data[5 * MIB - 10 : 5 * MIB + 10]


def test_small_files_go_up_whole(small_parts_store: S3ObjectStore, raw_client: Any) -> None:
    small_parts_store.put_bytes("small.bin", b"x" * MIB)
    etag = raw_client.head_object(
        Bucket=small_parts_store.bucket, Key=small_parts_store.prefix + "small.bin"
    )["ETag"]
    assert etag.strip('"') == hashlib.md5(b"x" * MIB).hexdigest()


def test_prefixes_keep_stores_apart(seaweed: SeaweedServer, s3_bucket: str) -> None:
    prefix = unique_prefix()
    outer = make_s3_store(seaweed, prefix=prefix)
    inner = make_s3_store(seaweed, prefix=f"/{prefix}/inner/")
    try:
        assert inner.prefix == f"{prefix}/inner/"
        inner.put_bytes("k", b"inner")
        outer.put_bytes("k", b"outer")
        assert outer.get_bytes("inner/k") == b"inner"
        assert inner.delete_prefix("k") == 1
        assert outer.get_bytes("k") == b"outer"
    finally:
        outer.close()
        inner.close()


def test_content_types_are_kept_for_presigned_urls(s3_store: S3ObjectStore) -> None:
    s3_store.put_bytes("guessed.mp4", b"video")
    s3_store.put_bytes("explicit.bin", b"audio", content_type="audio/flac")
    _, headers = _fetch(str(s3_store.presigned_get_url("guessed.mp4")))
    assert headers["Content-Type"] == "video/mp4"
    _, headers = _fetch(str(s3_store.presigned_get_url("explicit.bin")))
    assert headers["Content-Type"] == "audio/flac"


def test_presigned_url_offers_a_unicode_filename(s3_store: S3ObjectStore) -> None:
    s3_store.put_bytes("results/x.wav", b"RIFF")
    url = s3_store.presigned_get_url("results/x.wav", filename='pas "sur" le gravier ü.wav')
    body, headers = _fetch(str(url))
    assert body == b"RIFF"
    assert headers["Content-Disposition"] == (
        'attachment; filename="pas _sur_ le gravier _.wav"; '
        "filename*=UTF-8''pas%20%22sur%22%20le%20gravier%20%C3%BC.wav"
    )


def test_a_replaced_object_is_not_spliced(s3_store: S3ObjectStore) -> None:
    """The stream is tied to the version seen when it was opened."""
    s3_store.put_bytes("v", b"version one")
    chunks = s3_store.iter_chunks("v")
    s3_store.put_bytes("v", b"version two, longer")
    assert _code(lambda: next(chunks)) == "object_changed"


def test_create_bucket(seaweed: SeaweedServer) -> None:
    bucket = f"created-{uuid.uuid4().hex[:12]}"
    store = make_s3_store(seaweed, bucket=bucket)
    try:
        assert _code(store.ping) == "bucket_not_found"
        assert _code(lambda: store.put_bytes("k", b"x")) == "bucket_not_found"
        store.create_bucket()
        store.create_bucket()  # already there: fine
        store.put_bytes("k", b"x")
        store.ping()
    finally:
        store.close()
    again = make_s3_store(seaweed, bucket=bucket, create_bucket=True)
    assert again.get_bytes("k") == b"x"
    again.close()


def test_wrong_credentials(seaweed: SeaweedServer, s3_bucket: str) -> None:
    store = make_s3_store(seaweed, secret_key="not-the-secret")
    try:
        assert _code(store.ping) == "storage_access_denied"
        assert _code(lambda: store.put_bytes("k", b"x")) == "storage_access_denied"
        assert _code(lambda: store.get_bytes("k")) == "storage_access_denied"
    finally:
        store.close()


def test_ping_a_stopped_server_fails_fast() -> None:
    store = S3ObjectStore(
        "bucket",
        endpoint_url=f"http://{HOST}:{free_port()}",
        access_key="a",
        secret_key="b",
        region="us-east-1",
        connect_timeout_s=0.5,
        max_attempts=1,
    )
    began = time.monotonic()
    try:
        assert _code(store.ping) == "storage_unreachable"
        assert _code(lambda: store.get_bytes("k")) == "storage_unreachable"
    finally:
        store.close()
    assert time.monotonic() - began < 5


def test_ping_a_server_that_never_answers_times_out() -> None:
    """A socket that accepts connections (the kernel's backlog) but never replies."""
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(8)
        store = S3ObjectStore(
            "bucket",
            endpoint_url=f"http://{HOST}:{silent.getsockname()[1]}",
            access_key="a",
            secret_key="b",
            region="us-east-1",
            connect_timeout_s=0.5,
            read_timeout_s=0.5,
            max_attempts=1,
        )
        began = time.monotonic()
        try:
            assert _code(store.ping) == "storage_unreachable"
        finally:
            store.close()
        assert time.monotonic() - began < 5


def test_credentials_from_the_environment(
    seaweed: SeaweedServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    store = open_object_store(f"s3://{s3_bucket}/{unique_prefix()}?endpoint={seaweed.endpoint_url}")
    try:
        store.put_bytes("k", b"x")
        assert store.get_bytes("k") == b"x"
    finally:
        store.close()
