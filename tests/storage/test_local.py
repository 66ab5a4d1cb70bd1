"""`LocalObjectStore` beyond the shared contract: the root is a wall, and writes are atomic."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foleyserve.errors import StorageError
from foleyserve.storage import LocalObjectStore
from foleyserve.storage.atomic import TEMP_SUFFIX
from tests.storage.limits import file_size_limit


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(StorageError) as caught:
        call()
    return caught.value.code


def _files(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the store's root, with a file the store must never touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret").write_bytes(b"not yours")
    return folder


def test_a_symlinked_folder_cannot_lead_out(
    local_store: LocalObjectStore, outside: Path, tmp_path: Path
) -> None:
    (local_store.root / "link").symlink_to(outside, target_is_directory=True)
    source = tmp_path / "source.bin"
    source.write_bytes(b"x")
    calls: list[Callable[[], object]] = [
        lambda: local_store.get_bytes("link/secret"),
        lambda: local_store.get_file("link/secret", tmp_path / "stolen"),
        lambda: local_store.iter_chunks("link/secret"),
        lambda: local_store.size("link/secret"),
        lambda: local_store.exists("link/secret"),
        lambda: local_store.local_path("link/secret"),
        lambda: local_store.put_bytes("link/secret", b"overwritten"),
        lambda: local_store.put_file("link/new", source),
        lambda: local_store.delete("link/secret"),
        lambda: local_store.delete_prefix("link/"),
        lambda: local_store.delete_prefix("link/se"),
    ]
    assert [_code(call) for call in calls] == ["invalid_key"] * len(calls)
    assert _files(outside) == ["secret"]
    assert (outside / "secret").read_bytes() == b"not yours"
    assert not (tmp_path / "stolen").exists()


def test_a_symlinked_file_cannot_lead_out(local_store: LocalObjectStore, outside: Path) -> None:
    (local_store.root / "file-link").symlink_to(outside / "secret")
    assert _code(lambda: local_store.get_bytes("file-link")) == "invalid_key"
    assert _code(lambda: local_store.put_bytes("file-link", b"overwritten")) == "invalid_key"
    assert (outside / "secret").read_bytes() == b"not yours"


def test_a_symlink_loop_is_an_error_not_a_hang(local_store: LocalObjectStore) -> None:
    (local_store.root / "loop").symlink_to(local_store.root / "loop")
    with pytest.raises(StorageError):
        local_store.get_bytes("loop/x")
    with pytest.raises(StorageError):
        local_store.put_bytes("loop/x", b"x")


def test_delete_prefix_at_the_top_leaves_outside_alone(
    local_store: LocalObjectStore, outside: Path
) -> None:
    """A symlinked folder inside the root is not descended into by delete_prefix."""
    (local_store.root / "link").symlink_to(outside, target_is_directory=True)
    local_store.put_bytes("lim/x", b"x")
    assert local_store.delete_prefix("li") == 1  # the symlink itself is not an object
    assert (outside / "secret").read_bytes() == b"not yours"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab./é ")), min_size=1, max_size=10))
def test_every_accepted_key_is_the_file_it_names(key: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = LocalObjectStore(Path(folder) / "root")
        try:
            store.put_bytes(key, b"x")
        except StorageError as exc:
            assert exc.code == "invalid_key"
            return
        assert _files(store.root) == [key]
        assert store.local_path(key) == store.root / key


def test_failed_write_keeps_the_old_object(local_store: LocalObjectStore, tmp_path: Path) -> None:
    """A write that fails part-way (the file size limit, as a full disk would) leaves the old
    object whole and no temporary file behind."""
    local_store.put_bytes("video.mp4", b"old")
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(1 << 20))
    with file_size_limit(64 * 1024):
        assert _code(lambda: local_store.put_file("video.mp4", source)) == "storage_error"
        assert _code(lambda: local_store.put_bytes("video.mp4", source.read_bytes())) == (
            "storage_error"
        )
        assert _code(lambda: local_store.put_bytes("new/video.mp4", b"\0" * 100_000)) == (
            "storage_error"
        )
    assert local_store.get_bytes("video.mp4") == b"old"
    assert not local_store.exists("new/video.mp4")
    assert _files(local_store.root) == ["video.mp4"]


def test_files_are_where_the_keys_say_and_nothing_else(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("a/b/c.wav", b"1")
    local_store.put_bytes("a/d.wav", b"2")
    assert _files(local_store.root) == ["a/b/c.wav", "a/d.wav"]
    assert not [path for path in local_store.root.rglob("*") if path.name.endswith(TEMP_SUFFIX)]
    assert (local_store.root / "a" / "b" / "c.wav").stat().st_mode & 0o777 == 0o644


def test_deletes_remove_emptied_folders(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("a/b/c/d", b"1")
    local_store.put_bytes("a/keep", b"2")
    local_store.delete("a/b/c/d")
    assert sorted(path.name for path in local_store.root.rglob("*")) == ["a", "keep"]
    local_store.put_bytes("x/y/z", b"3")
    local_store.delete_prefix("x/")
    assert not (local_store.root / "x").exists()


def test_writers_and_deleters_in_one_folder(local_store: LocalObjectStore) -> None:
    """Deletes prune folders that concurrent writers are about to use."""

    def churn(worker: int) -> None:
        for index in range(60):
            key = f"shared/{worker}/{index % 3}"
            local_store.put_bytes(key, b"x")
            local_store.delete(key)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(churn, range(6)))
    assert _files(local_store.root) == []


def test_a_key_cannot_be_an_object_and_a_folder(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("a/b", b"1")
    assert _code(lambda: local_store.put_bytes("a", b"2")) == "key_conflict"
    local_store.put_bytes("c", b"3")
    assert _code(lambda: local_store.put_bytes("c/d", b"4")) == "key_conflict"
    assert _code(lambda: local_store.get_bytes("c/d")) == "object_not_found"
    local_store.delete("c/d")
    assert local_store.get_bytes("c") == b"3"


def test_a_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    assert _code(lambda: LocalObjectStore(tmp_path / "file")) == "local_file_error"


def test_ping_fails_when_the_folder_is_gone(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.ping()
    (tmp_path / "objects").rmdir()
    assert _code(store.ping) == "storage_unreachable"
