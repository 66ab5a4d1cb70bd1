"""Making real writes fail part-way, the way a full disk would, without filling one."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def file_size_limit(max_bytes: int) -> Iterator[None]:
    """While active, a write that would grow any file of this process past `max_bytes` fails
    with EFBIG (RLIMIT_FSIZE; SIGXFSZ is ignored so the process is not killed). Only the soft
    limit changes, and it is restored on exit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
