"""The `ObjectStore` contract, run against every implementation (the `store` fixture)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from foleyserve.errors import StorageError
from foleyserve.storage import LocalObjectStore, ObjectStore
from foleyserve.storage.atomic import TEMP_SUFFIX
from foleyserve.storage.s3 import S3ObjectStore
from tests.storage.limits import file_size_limit

BINARY = bytes(range(256)) * 40  # every byte value; 10240 bytes


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(StorageError) as caught:
        call()
    return caught.value.code


def _leftovers(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(TEMP_SUFFIX)]


# -- round trips ------------------------------------------------------------------------------
def test_bytes_round_trip(store: ObjectStore) -> None:
    assert store.put_bytes("uploads/abc/video.mp4", BINARY) == len(BINARY)
    assert store.get_bytes("uploads/abc/video.mp4") == BINARY
    assert store.size("uploads/abc/video.mp4") == len(BINARY)
    assert store.exists("uploads/abc/video.mp4")


def test_file_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * (1 << 20) + 17))
    assert store.put_file("results/a.flac", source, content_type="audio/flac") == 3 * 2**20 + 17
    target = tmp_path / "new" / "folders" / "a.flac"
    store.get_file("results/a.flac", target)
    assert target.read_bytes() == source.read_bytes()
    assert _leftovers(tmp_path) == []


def test_empty_object(store: ObjectStore, tmp_path: Path) -> None:
    assert store.put_bytes("empty", b"") == 0
    assert store.get_bytes("empty") == b""
    assert store.size("empty") == 0
    assert list(store.iter_chunks("empty")) == []
    empty_file = tmp_path / "empty.bin"
    empty_file.touch()
    assert store.put_file("empty-too", empty_file) == 0
    store.get_file("empty-too", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == b""


def test_put_replaces_and_get_file_overwrites(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("k", b"first")
    store.put_bytes("k", b"second")
    assert store.get_bytes("k") == b"second"
    target = tmp_path / "existing.bin"
    target.write_bytes(b"something longer that was here before")
    store.get_file("k", target)
    assert target.read_bytes() == b"second"


@pytest.mark.parametrize(
    "key",
    [
        "uploads/ünïcødé/файл 1.mp4",
        "plus+and%percent/a b&c=d?e#f.wav",
        "odd/chars/~!@$^*()[]{};:',<>|`.bin",
        "/".join(["s" * 255, "t" * 200, "u" * 200, "v" * 200]),  # 858 bytes, a 255-byte segment
        ".hidden/..dots/x..y",
    ],
)
def test_unusual_keys_round_trip(store: ObjectStore, key: str) -> None:
    store.put_bytes(key, b"payload")
    assert store.get_bytes(key) == b"payload"
    assert b"".join(store.iter_chunks(key, start=3)) == b"load"
    store.delete(key)
    assert not store.exists(key)


# -- existence and deletion -------------------------------------------------------------------
def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put_bytes("a/b/c", b"x")
    store.delete("a/b/c")
    assert not store.exists("a/b/c")
    store.delete("a/b/c")
    store.delete("never/was")


def test_a_folder_of_keys_is_not_an_object(store: ObjectStore) -> None:
    store.put_bytes("parent/child", b"x")
    assert not store.exists("parent")
    assert _code(lambda: store.size("parent")) == "object_not_found"
    store.delete("parent")  # nothing to delete; the child stays
    assert store.exists("parent/child")


def test_delete_prefix(store: ObjectStore) -> None:
    for key in ("a/1", "a/2", "a/b/3", "ab", "abc/4", "b/1"):
        store.put_bytes(key, key.encode())
    assert store.delete_prefix("a/") == 3
    assert [key for key in ("a/1", "a/2", "a/b/3") if store.exists(key)] == []
    assert store.delete_prefix("ab") == 2  # a plain string prefix, as in S3
    assert store.delete_prefix("nothing/here") == 0
    assert store.get_bytes("b/1") == b"b/1"
    assert _code(lambda: store.delete_prefix("")) == "invalid_key"
    assert _code(lambda: store.delete_prefix("../")) == "invalid_key"


def test_delete_prefix_past_one_batch(store: ObjectStore) -> None:
    """More keys than one S3 listing page and one DeleteObjects request (1000 each)."""
    keys = [f"many/{index:05d}" for index in range(1005)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: store.put_bytes(key, b""), keys))
    store.put_bytes("many-not", b"kept")
    assert store.delete_prefix("many/") == 1005
    assert not store.exists(keys[-1])
    assert store.exists("many-not")


# -- ranges -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("chunk_bytes", "start", "end"),
    [
        (1 << 20, 0, None),
        (1000, 0, None),
        (1000, 100, 5000),
        (7, 10230, None),
        (1000, 10239, 10240),
        (1000, 10240, None),  # start at the end: empty
        (1000, 5, 5),  # empty range
        (4096, 2000, 99999),  # end clamped to the size
    ],
)
def test_iter_chunks_ranges(
    store: ObjectStore, chunk_bytes: int, start: int, end: int | None
) -> None:
    store.put_bytes("range", BINARY)
    chunks = list(store.iter_chunks("range", chunk_bytes=chunk_bytes, start=start, end=end))
    assert b"".join(chunks) == BINARY[start:end]
    assert all(0 < len(chunk) <= chunk_bytes for chunk in chunks)


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 9), (10241, None), (10241, 20000)])
def test_iter_chunks_refuses_bad_ranges_at_the_call(
    store: ObjectStore, start: int, end: int | None
) -> None:
    store.put_bytes("range", BINARY)
    assert _code(lambda: store.iter_chunks("range", start=start, end=end)) == "invalid_range"


def test_iter_chunks_stopped_early(store: ObjectStore) -> None:
    store.put_bytes("range", BINARY)
    chunks = store.iter_chunks("range", chunk_bytes=100)
    assert next(chunks) == BINARY[:100]
    chunks.close()  # closes the file or the HTTP body: no ResourceWarning (warnings are errors)
    never_started = store.iter_chunks("range")
    del never_started


def test_iter_chunks_refuses_a_bad_chunk_size(store: ObjectStore) -> None:
    store.put_bytes("range", BINARY)
    with pytest.raises(ValueError, match="chunk_bytes"):
        store.iter_chunks("range", chunk_bytes=0)


# -- failures ---------------------------------------------------------------------------------
def test_missing_object(store: ObjectStore, tmp_path: Path) -> None:
    target = tmp_path / "out" / "target.bin"
    assert not store.exists("no/such/object")
    assert _code(lambda: store.get_bytes("no/such/object")) == "object_not_found"
    assert _code(lambda: store.size("no/such/object")) == "object_not_found"
    assert _code(lambda: store.iter_chunks("no/such/object")) == "object_not_found"
    assert _code(lambda: store.get_file("no/such/object", target)) == "object_not_found"
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_missing_object_leaves_an_existing_file_alone(store: ObjectStore, tmp_path: Path) -> None:
    target = tmp_path / "target.bin"
    target.write_bytes(b"keep me")
    assert _code(lambda: store.get_file("no/such/object", target)) == "object_not_found"
    assert target.read_bytes() == b"keep me"
    assert _leftovers(tmp_path) == []


def test_put_file_from_a_missing_file(store: ObjectStore, tmp_path: Path) -> None:
    assert _code(lambda: store.put_file("k", tmp_path / "absent.bin")) == "local_file_error"
    assert not store.exists("k")


def test_failed_download_keeps_the_old_file(store: ObjectStore, tmp_path: Path) -> None:
    """A write that fails part-way (here: the file size limit, as a full disk would) leaves
    the destination as it was and no temporary file behind."""
    store.put_bytes("big", os.urandom(1 << 20))
    target = tmp_path / "target.bin"
    target.write_bytes(b"old")
    with file_size_limit(64 * 1024):
        assert _code(lambda: store.get_file("big", target)) == "local_file_error"
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


INVALID_KEYS = [
    "",
    "../x",
    "/abs",
    "a/../../b",
    "a/./b",
    "a//b",
    "trailing/",
    "back\\slash",
    "nul\x00byte",
    "new\nline",
    "/".join(["x" * 200] * 5) + "/" + "y" * 20,  # 1025 bytes
    "s" * 256,
]


@pytest.mark.parametrize("key", INVALID_KEYS, ids=lambda key: repr(key)[:24])
def test_invalid_keys_are_refused_everywhere(store: ObjectStore, tmp_path: Path, key: str) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"x")
    calls: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, source),
        lambda: store.get_bytes(key),
        lambda: store.get_file(key, tmp_path / "out.bin"),
        lambda: store.iter_chunks(key),
        lambda: store.size(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.presigned_get_url(key),
        lambda: store.local_path(key),
    ]
    assert [_code(call) for call in calls] == ["invalid_key"] * len(calls)
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == ["source.bin"]


# -- serving ----------------------------------------------------------------------------------
def test_presigned_url(store: ObjectStore) -> None:
    store.put_bytes("results/out.wav", BINARY)
    url = store.presigned_get_url("results/out.wav", expires_s=60, filename="footsteps.wav")
    if isinstance(store, LocalObjectStore):
        assert url is None
        return
    assert url is not None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        assert response.read() == BINARY
        assert 'filename="footsteps.wav"' in response.headers["Content-Disposition"]


def test_local_path(store: ObjectStore) -> None:
    store.put_bytes("results/out.wav", BINARY)
    path = store.local_path("results/out.wav")
    if isinstance(store, S3ObjectStore):
        assert path is None
        assert store.local_path("missing") is None  # S3 does not look
        return
    assert path is not None
    assert path.read_bytes() == BINARY
    assert _code(lambda: store.local_path("missing")) == "object_not_found"


def test_ping(store: ObjectStore) -> None:
    store.ping()


def test_concurrent_writers_of_one_key(store: ObjectStore) -> None:
    """Readers only ever see one whole version."""
    versions = [bytes([index]) * 200_000 for index in range(8)]
    digests = {hashlib.sha256(version).hexdigest() for version in versions}
    store.put_bytes("contended", versions[0])

    def write_then_read(version: bytes) -> str:
        store.put_bytes("contended", version)
        return hashlib.sha256(store.get_bytes("contended")).hexdigest()

    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = set(pool.map(write_then_read, versions * 3))
    assert seen <= digests
