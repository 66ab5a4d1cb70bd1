"""How both stores write what they keep: jobs as versioned JSON, times as integer microseconds,
list cursors as opaque strings.

Times become integer microseconds since the Unix epoch because both SQLite columns and Redis
sorted-set scores compare them: integers below 2**53 are exact in a Redis double, and datetimes
one microsecond apart still sort apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from foleyserve.errors import InvalidInput, StorageError
from foleyserve.jobs.model import PAYLOAD_VERSION, Job

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly. Refuses naive datetimes: the store compares times
    written by many machines, so each must say its zone."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware UTC datetime")
    return (moment - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """The inverse of `to_us`: an aware UTC datetime."""
    return _EPOCH + us * _ONE_US


def dump_job(job: Job) -> str:
    return job.model_dump_json()


def load_job(payload: str) -> Job:
    """The job in `payload`. Raises `StorageError` for a payload this version cannot read
    (corrupt, or written by a newer foleyserve)."""
    try:
        job = Job.model_validate_json(payload)
    except ValidationError as exc:
        raise StorageError(f"a stored job cannot be read ({exc.error_count()} errors)") from exc
    if job.v != PAYLOAD_VERSION:
        raise StorageError(
            f"job {job.id} was written with payload version {job.v}, this foleyserve reads "
            f"version {PAYLOAD_VERSION}; run the same foleyserve version everywhere"
        )
    return job


def encode_cursor(seq: int) -> str:
    """The cursor after a job with submission sequence number `seq` (pages run newest first)."""
    return str(seq)


def decode_cursor(cursor: str) -> int:
    if not (cursor.isascii() and cursor.isdecimal() and len(cursor) <= 18):
        raise InvalidInput(
            f"cursor {cursor[:40]!r} is not valid; pass back the cursor of the previous page",
            code="invalid_cursor",
        )
    return int(cursor)
