"""Job ids: short, random, URL-safe, and recognisable in logs (`job_` + 24 hex digits)."""

from __future__ import annotations

import secrets

JOB_ID_PREFIX = "job_"


def new_job_id() -> str:
    """A fresh id with 96 random bits, so ids made by many API servers at once never collide
    in practice and reveal nothing about other jobs."""
    return JOB_ID_PREFIX + secrets.token_hex(12)
