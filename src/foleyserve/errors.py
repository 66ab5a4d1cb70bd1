"""Every error foleyserve raises on purpose, in one tree.

    FoleyError                      root; `code` is stable and machine-readable
    ├── InvalidInput                the caller sent something we cannot use (bad video, bad field)
    ├── OutputError                 the result cannot be written where the caller asked
    ├── Unauthorized                missing or unknown API key
    ├── Forbidden                   a valid key that may not do this (an admin-only call)
    ├── RateLimited                 too many requests; `retry_after_s` says when to come back
    ├── QueueFull                   the queue is at its depth cap; try again later
    ├── JobNotFound                 no such job for this tenant (never "exists but not yours")
    ├── EngineError                 the model failed; `retryable` says if another attempt may work
    ├── StorageError                the object store failed
    └── ConfigError                 settings or model files unusable; the message says the fix

Foreign errors (PyAV, torch, Redis, boto) are translated where they enter our code, so callers
only ever catch these. Messages say what was wrong and what to do about it; codes are
snake_case and never change once released. HTTP status codes are assigned in one place, the
API's exception handler, not here.
"""

from __future__ import annotations


class FoleyError(Exception):
    """Root of foleyserve's errors."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        """The JSON body users see: `{"code": ..., "message": ...}`."""
        return {"code": self.code, "message": self.message}


class InvalidInput(FoleyError):
    """The input cannot be used. `code` names the problem, e.g. `not_a_video`, `video_too_long`."""

    code = "invalid_input"


class OutputError(FoleyError):
    """The output cannot be written (unwritable path, unsupported format for the target)."""

    code = "output_error"


class Unauthorized(FoleyError):
    code = "unauthorized"


class Forbidden(FoleyError):
    """The key is valid but may not do this, e.g. a tenant's key on an admin-only route."""

    code = "forbidden"


class RateLimited(FoleyError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class QueueFull(FoleyError):
    code = "queue_full"

    def __init__(self, message: str, *, retry_after_s: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class JobNotFound(FoleyError):
    code = "job_not_found"


class EngineError(FoleyError):
    """The engine failed. Retryable errors (out of memory, a lost device) may succeed elsewhere."""

    code = "engine_error"

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class StorageError(FoleyError):
    code = "storage_error"


class ConfigError(FoleyError):
    code = "config_error"
