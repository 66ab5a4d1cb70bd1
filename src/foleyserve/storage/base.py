"""The `ObjectStore` contract: where uploads, results and cached features live.

A local directory implements it for the embedded server, S3-compatible storage for a fleet; one
contract test suite (tests/storage/test_contract.py) runs against both. Keys are `/`-separated
strings such as `uploads/3f2a.../video.mp4`; both stores accept exactly the keys that
`validate_key` accepts, so a key that works embedded works in a fleet.

Every failure is a `StorageError` with a stable `code`:

    invalid_key            the key (or prefix) breaks the rules below, or escapes the store
    invalid_range          a byte range outside the object
    object_not_found       no object under that key
    object_changed         the object was replaced while it was being streamed; read it again
    key_conflict           local store only: a key is both an object and a folder of objects
    local_file_error       a local file given to or asked of the store cannot be read/written
    bucket_not_found       S3: the bucket does not exist (create it, or pass create_bucket)
    storage_access_denied  S3: credentials missing, unknown or not allowed
    storage_unreachable    no answer: connection refused, timed out or cut
    storage_unavailable    S3: the service answered with a server error or asked us to slow down
    storage_error          anything else
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from foleyserve.errors import StorageError

MAX_KEY_BYTES = 1024
"""S3's own limit on a key, counted in UTF-8 bytes."""
MAX_SEGMENT_BYTES = 255
"""Most filesystems' limit on one file name; S3 has none, but keys must also work locally."""
DEFAULT_CHUNK_BYTES = 1 << 20


class ObjectStore(Protocol):
    """Named blobs. Writes are all-or-nothing: a reader sees the old object or the new one,
    never a part. Keys are checked with `validate_key` by every method."""

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> int:
        """Store the file at `path` under `key`, replacing any object there. Returns its size in
        bytes. `content_type` defaults to a guess from the key's extension (S3 serves it on
        presigned URLs; the local store keeps no metadata)."""
        ...

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> int:
        """Like `put_file`, from memory."""
        ...

    def get_file(self, key: str, path: Path) -> None:
        """Download to `path` (parents created). Atomic: `path` holds the whole object or is
        left as it was."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The whole object, in memory."""
        ...

    def iter_chunks(
        self,
        key: str,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        start: int = 0,
        end: int | None = None,
    ) -> Generator[bytes, None, None]:
        """The bytes `[start, end)` of the object (half-open, like a slice; `end=None` or past
        the end means to the end), in non-empty chunks of at most `chunk_bytes`.

        Checks happen at the call, before any byte: a missing object raises `object_not_found`
        and a `start` past the end raises `invalid_range`, so an HTTP handler can answer 404 or
        416 before it starts a response. Failures while streaming raise `StorageError` from the
        iterator. Close the iterator if you stop early."""
        ...

    def size(self, key: str) -> int:
        """Size in bytes; `object_not_found` if missing."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix` (plain string prefix, as in S3:
        `uploads/ab` matches `uploads/abc/x`). Returns how many were removed. An empty prefix is
        refused rather than taken to mean everything."""
        ...

    def presigned_get_url(
        self, key: str, *, expires_s: int = 3600, filename: str | None = None
    ) -> str | None:
        """A URL anyone can GET for `expires_s` seconds, offered for download as `filename`
        when given; None for stores without URLs (local). Does not check that the object
        exists."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A file to serve directly, or None for stores without local files (S3; the object
        may or may not exist). The local store raises `object_not_found` for a missing object.
        The path is for reading only; the store may replace the file at any time."""
        ...

    def ping(self) -> None:
        """Raise `StorageError` unless the store is reachable and usable (readiness checks)."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...


def validate_key(key: str) -> str:
    """Return `key` unchanged if both stores can hold it, else raise `StorageError` with code
    `invalid_key`. The rules: not empty; at most 1024 UTF-8 bytes and 255 per segment; no
    leading or trailing `/` and no empty segment (`a//b`); no `.` or `..` segment; no
    backslash; no control character (NUL included).

    The segment rules exist because the local store maps segments to folders: `a//b`, `a/./b`
    and `a/b` would be one file there but three objects in S3."""
    problem = _key_problem(key)
    if problem is not None:
        raise StorageError(f"invalid storage key {key!r}: {problem}", code="invalid_key")
    return key


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if it is a valid key, or a valid key followed by one `/`; else raise
    `StorageError` with code `invalid_key`."""
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def _key_problem(key: str) -> str | None:
    if not key:
        return "it is empty"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"it is longer than {MAX_KEY_BYTES} bytes"
    if key.startswith("/"):
        return "it starts with '/'; keys are relative"
    if "\\" in key:
        return "it contains a backslash; use '/' between segments"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        return "it contains a control character"
    for segment in key.split("/"):
        if segment == "":
            return "it has an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"a segment is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def resolve_range(size_bytes: int, start: int, end: int | None) -> tuple[int, int]:
    """The half-open range `[first, stop)` that `iter_chunks(start=..., end=...)` yields from an
    object of `size_bytes`: `end` is clamped to the size. Raises `StorageError`
    (`invalid_range`) for a negative `start`, an `end` before `start`, or a `start` past the
    end (`start == size_bytes` is an empty range)."""
    if start < 0 or (end is not None and end < start):
        raise StorageError(f"invalid byte range start={start} end={end}", code="invalid_range")
    if start > size_bytes:
        raise StorageError(
            f"byte range starts at {start}, past the end of a {size_bytes}-byte object",
            code="invalid_range",
        )
    stop = size_bytes if end is None else min(end, size_bytes)
    return start, stop


def check_chunk_bytes(chunk_bytes: int) -> None:
    """A chunk size is a programming choice, not user input: a bad one is a bug."""
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")


def content_disposition(filename: str) -> str:
    """A `Content-Disposition: attachment` value offering `filename` for download (RFC 6266):
    an ASCII fallback for old clients plus the exact name, UTF-8 and percent-encoded."""
    fallback = "".join(
        char if 0x20 <= ord(char) < 0x7F and char not in '"\\' else "_" for char in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
