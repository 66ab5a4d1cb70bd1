"""`LocalObjectStore`: objects as files under one folder, for the embedded server.

Key `a/b/c.mp4` is the file `<root>/a/b/c.mp4`. No key reaches outside the root: keys are
validated, then the path is resolved (following symlinks) and must still lie inside the root.
Writes go to a temporary file beside the target and are renamed over it, so readers (and
`local_path` users serving the file) see the old object or the new one, never a part.

Differences from S3 that callers may notice: no content types are kept; a key cannot be both an
object and a folder of objects (`a` and `a/b`: `key_conflict`); folders emptied by deletes are
removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from foleyserve.errors import StorageError
from foleyserve.storage.atomic import write_atomically
from foleyserve.storage.base import (
    DEFAULT_CHUNK_BYTES,
    check_chunk_bytes,
    resolve_range,
    validate_key,
    validate_prefix,
)

_COPY_BYTES = 1 << 20


class LocalObjectStore:
    """An `ObjectStore` in the folder `root` (created if missing)."""

    def __init__(self, root: Path) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._root = root.resolve(strict=True)
        except OSError as exc:
            raise StorageError(
                f"cannot use {str(root)!r} as the storage folder: {exc.strerror}; "
                "check that the path is a writable folder",
                code="local_file_error",
            ) from exc

    @property
    def root(self) -> Path:
        """The store's folder, resolved."""
        return self._root

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self._root)!r})"

    # -- writing --------------------------------------------------------------------------------
    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> int:
        target = self._path(key)
        with _local_file(path, "read"):
            source = path.open("rb")
        with source, self._writing(key):
            return write_atomically(target, lambda out: _copy(source, out))

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> int:
        target = self._path(key)
        with self._writing(key):
            return write_atomically(target, lambda out: out.write(data))

    def delete(self, key: str) -> None:
        target = self._path(key)
        if target.is_dir():
            return  # a folder of other keys, not an object
        with self._writing(key):
            try:
                target.unlink(missing_ok=True)
            except NotADirectoryError:
                return  # `a/b` where `a` is an object: no such object either
        self._prune_empty_folders(target.parent)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        folder_key, _, name_start = prefix.rpartition("/")
        folder = self._path(folder_key) if folder_key else self._root
        if not folder.is_dir():
            return 0
        deleted = 0
        emptied: set[Path] = set()
        with self._writing(prefix):
            for dirpath, dirnames, filenames in os.walk(folder):
                here = Path(dirpath)
                if here == folder:
                    # Only the first level needs filtering: everything below a matching
                    # folder matches too.
                    dirnames[:] = [name for name in dirnames if name.startswith(name_start)]
                    filenames = [name for name in filenames if name.startswith(name_start)]
                for name in filenames:
                    try:
                        (here / name).unlink()
                    except FileNotFoundError:
                        continue  # deleted concurrently
                    deleted += 1
                    emptied.add(here)
        for emptied_folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
            self._prune_empty_folders(emptied_folder)
        return deleted

    # -- reading --------------------------------------------------------------------------------
    def get_file(self, key: str, path: Path) -> None:
        source_path = self._path(key)
        with self._reading(key):
            source = _open_object(source_path)
        with source, _local_file(path, "write"):
            write_atomically(path, lambda out: _copy(source, out))

    def get_bytes(self, key: str) -> bytes:
        source_path = self._path(key)
        with self._reading(key), _open_object(source_path) as source:
            return source.read()

    def iter_chunks(
        self,
        key: str,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        start: int = 0,
        end: int | None = None,
    ) -> Generator[bytes, None, None]:
        check_chunk_bytes(chunk_bytes)
        first, stop = resolve_range(self.size(key), start, end)
        return self._stream(key, first, stop, chunk_bytes)

    def _stream(
        self, key: str, first: int, stop: int, chunk_bytes: int
    ) -> Generator[bytes, None, None]:
        # Opened on the first `next`, so an iterator that is never started holds no file.
        if first == stop:
            return
        with self._reading(key):
            source = _open_object(self._path(key))
        with source:
            source.seek(first)
            position = first
            while position < stop:
                with self._reading(key):
                    chunk = source.read(min(chunk_bytes, stop - position))
                if not chunk:
                    raise StorageError(
                        f"object {key!r} was truncated while being read; read it again",
                        code="object_changed",
                    )
                position += len(chunk)
                yield chunk

    def size(self, key: str) -> int:
        path = self._path(key)
        with self._reading(key):
            stat = path.stat()
        if not path.is_file():
            raise _not_found(key)
        return stat.st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def presigned_get_url(
        self, key: str, *, expires_s: int = 3600, filename: str | None = None
    ) -> str | None:
        validate_key(key)
        return None

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        if not path.is_file():
            raise _not_found(key)
        return path

    def ping(self) -> None:
        if not (self._root.is_dir() and os.access(self._root, os.W_OK | os.X_OK)):
            raise StorageError(
                f"the storage folder {str(self._root)!r} is missing or not writable",
                code="storage_unreachable",
            )

    def close(self) -> None:
        """Nothing to release."""

    # -- helpers --------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        """The resolved file for `key`; `invalid_key` if it would lie outside the root."""
        validate_key(key)
        # realpath, not Path.resolve: resolve() raises when a parent is a file, which must be
        # object_not_found or key_conflict, not a path error.
        path = Path(os.path.realpath(self._root / key))
        if not path.is_relative_to(self._root):
            raise StorageError(
                f"storage key {key!r} leads outside the storage folder (through a symlink)",
                code="invalid_key",
            )
        return path

    def _prune_empty_folders(self, folder: Path) -> None:
        while folder != self._root and folder.is_relative_to(self._root):
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone): stop climbing
            folder = folder.parent

    @contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise _not_found(key) from exc
        except OSError as exc:
            raise StorageError(
                f"cannot read {key!r} from the storage folder: {exc.strerror}"
            ) from exc

    @contextmanager
    def _writing(self, key: str) -> Iterator[None]:
        try:
            yield
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            raise StorageError(
                f"storage key {key!r} clashes with another key: the local store cannot hold "
                "both `a` and `a/b`",
                code="key_conflict",
            ) from exc
        except OSError as exc:
            raise StorageError(
                f"cannot write {key!r} to the storage folder: {exc.strerror}"
            ) from exc


def _open_object(path: Path) -> BinaryIO:
    if path.is_dir():
        raise IsADirectoryError(path)  # a folder of other keys: no object here
    return path.open("rb")


def _copy(source: BinaryIO, out: BinaryIO) -> int:
    shutil.copyfileobj(source, out, _COPY_BYTES)
    return out.tell()


def _not_found(key: str) -> StorageError:
    return StorageError(f"no stored object {key!r}", code="object_not_found")


@contextmanager
def _local_file(path: Path, action: str) -> Iterator[None]:
    """Errors from a caller's own file, as opposed to the store's."""
    try:
        yield
    except OSError as exc:
        raise StorageError(
            f"cannot {action} the local file {str(path)!r}: {exc.strerror}",
            code="local_file_error",
        ) from exc
