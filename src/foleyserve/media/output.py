"""Writing output files atomically: readers see the old file or the complete new one, never half.

A writer gets a temporary path in the target's directory (so the final `Path.replace` is a
rename within one file system, which is atomic) and the result is moved into place only when
writing succeeded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from foleyserve.errors import OutputError


def unwritable(path: Path, reason: str) -> OutputError:
    """The error every writer raises when `path` cannot be written."""
    return OutputError(
        f"Cannot write {path}: {reason}. Choose a path in an existing, writable directory.",
        code="output_unwritable",
    )


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; when the block succeeds, move it to `path`.

    The temporary file is removed when the block raises. Raises `OutputError` (code
    `output_unwritable`) when the directory does not exist, is not a directory, or is not
    writable, and when the final rename fails (e.g. `path` is a directory).
    """
    directory = path.parent
    if not directory.is_dir():
        raise unwritable(path, f"the directory {directory} does not exist")
    temp = directory / f".{path.name}.{secrets.token_hex(6)}.part"
    try:
        # Not mkstemp: its 0600 mode would survive the rename; this file gets the umask's.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise unwritable(
            path, f"the directory {directory} is not writable ({exc.strerror})"
        ) from exc
    try:
        yield temp
        try:
            temp.replace(path)
        except OSError as exc:
            raise unwritable(path, f"the file cannot be replaced ({exc.strerror})") from exc
    finally:
        temp.unlink(missing_ok=True)
