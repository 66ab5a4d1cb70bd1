"""`open_object_store`: one URL names a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from foleyserve.errors import ConfigError
from foleyserve.storage import LocalObjectStore, open_object_store
from foleyserve.storage.s3 import S3ObjectStore
from tests.storage.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer


def test_a_plain_path_is_a_local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_object_store(str(tmp_path / "objects"))
    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "objects"
    monkeypatch.chdir(tmp_path)
    relative = open_object_store("relative/objects")
    assert isinstance(relative, LocalObjectStore)
    assert relative.root == tmp_path / "relative" / "objects"
    colon = open_object_store("./a:b")
    assert isinstance(colon, LocalObjectStore)
    assert colon.root == tmp_path / "a:b"


def test_a_file_url_is_a_local_store(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    store = open_object_store(f"file://{tmp_path}/with%20space")
    assert isinstance(store, LocalObjectStore)
    assert store.root == folder
    assert isinstance(open_object_store(f"file://localhost{folder}"), LocalObjectStore)


def test_an_s3_url(seaweed: SeaweedServer, s3_bucket: str) -> None:
    secret = SECRET_KEY.replace("/", "%2F")  # '+' may stay as it is
    url = (
        f"s3://{s3_bucket}/deployments/one/?endpoint={seaweed.endpoint_url}&region=us-east-1"
        f"&access_key={ACCESS_KEY}&secret_key={secret}"
    )
    store = open_object_store(url)
    try:
        assert isinstance(store, S3ObjectStore)
        assert (store.bucket, store.prefix) == (s3_bucket, "deployments/one/")
        store.ping()  # the credentials survived parsing
        store.put_bytes("k", b"x")
    finally:
        store.close()


def test_an_s3_url_can_create_its_bucket(seaweed: SeaweedServer) -> None:
    url = (
        f"s3://made-by-url?endpoint={seaweed.endpoint_url}&access_key={ACCESS_KEY}"
        f"&secret_key={SECRET_KEY}&create_bucket=true"
    )
    store = open_object_store(url)
    store.ping()
    store.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty"),
        ("ftp://host/x", "unknown scheme"),
        ("file://host/x", "no host"),
        ("file:relative", "file://"),
        ("s3:bucket", "s3://"),
        ("file://relative", "no host"),
        ("s3://", "s3://bucket"),
        ("s3://user:pass@bucket", "s3://bucket"),
        ("s3://bucket?endpont=http://x", "unknown parameter 'endpont'"),
        ("s3://bucket?region=a&region=b", "twice"),
        ("s3://bucket?region=", "no value"),
        ("s3://bucket?create_bucket=maybe", "true or false"),
        ("s3://bucket?access_key=only", "both"),
        ("s3://bucket/../x", "prefix"),
    ],
)
def test_unusable_urls(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        open_object_store(url)
    assert caught.value.code == "invalid_storage_url"


def test_errors_do_not_repeat_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        open_object_store("s3://bucket?secret_key=hunter2&typo=1")
    assert "hunter2" not in str(caught.value)
