"""Writing a local file all-or-nothing: a temporary file in the same folder, fsync, rename.

`os.replace` is atomic only within one filesystem, which is why the temporary file sits next to
its destination rather than in the system's temp folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")

TEMP_PREFIX = ".foleyserve-"
TEMP_SUFFIX = ".part"
FILE_MODE = 0o644
_MKDIR_ATTEMPTS = 10


def write_atomically(path: Path, write: Callable[[BinaryIO], T]) -> T:
    """Create `path`'s parent folders, run `write` on a fresh temporary file beside `path`,
    then fsync it and rename it onto `path`; return what `write` returned. Readers see the old
    file or the whole new one. If anything fails (`write` included) the temporary file is
    removed, `path` is left as it was, and the error propagates unchanged (OSErrors included:
    callers translate them)."""
    fd, temp_name = _make_temp(path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), FILE_MODE)
            result = write(file)
            file.flush()
            os.fsync(file.fileno())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return result


def _make_temp(folder: Path) -> tuple[int, str]:
    # A concurrent delete may prune the folder (or a parent) while we make it, or between
    # making it and creating the file in it: make it again.
    for attempt in range(_MKDIR_ATTEMPTS):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        except FileNotFoundError:
            if attempt == _MKDIR_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable, not only the file's bytes. A folder that is gone was
    emptied and pruned by a delete that came after our rename: the write happened, and so did
    the delete, in that order; nothing is left to make durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
