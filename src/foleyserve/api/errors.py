"""HTTP status codes for foleyserve's errors: assigned here and nowhere else.

Every error answer has the body `{"error": {"code": ..., "message": ...}}`. The map:

    InvalidInput        422; 413 for `file_too_large`/`url_too_large`; 409 for a job in the
                        wrong state; 415 for a body that is neither multipart nor JSON
    Unauthorized        401, with `WWW-Authenticate: Bearer`
    Forbidden           403 (a valid key that is not an admin's, on /v1/admin/...)
    JobNotFound         404 (another tenant's job looks exactly like a missing one)
    RateLimited         429, with `Retry-After` and the `RateLimit-*` headers
    QueueFull           503, with `Retry-After`
    StorageError        503
    EngineError         503 when retryable, else 500
    ConfigError, other  500

FastAPI's own `RequestValidationError` (a wrong type in a query parameter, say) becomes a 422
in the same shape, naming the field; the router's 404 (no such path, code `not_found`) and 405
(`method_not_allowed`, with `Allow`) get the same shape too.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from foleyserve.errors import (
    EngineError,
    FoleyError,
    Forbidden,
    InvalidInput,
    JobNotFound,
    QueueFull,
    RateLimited,
    StorageError,
    Unauthorized,
)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
_HTTP_MESSAGES = {
    "not_found": "no such endpoint; see /docs for the API's paths",
    "method_not_allowed": "this path does not take that method; the Allow header lists those "
    "it takes",
}

TOO_LARGE_CODES = frozenset({"file_too_large", "url_too_large"})
CONFLICT_CODES = frozenset({"job_not_finished", "job_not_succeeded", "job_not_failed"})
UNSUPPORTED_MEDIA_CODES = frozenset({"unsupported_content_type"})


def status_for(error: FoleyError) -> int:
    """The HTTP status of `error`."""
    if isinstance(error, InvalidInput):
        if error.code in TOO_LARGE_CODES:
            return 413
        if error.code in CONFLICT_CODES:
            return 409
        if error.code in UNSUPPORTED_MEDIA_CODES:
            return 415
        return 422
    if isinstance(error, Unauthorized):
        return 401
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, JobNotFound):
        return 404
    if isinstance(error, RateLimited):
        return 429
    if isinstance(error, QueueFull | StorageError):
        return 503
    if isinstance(error, EngineError):
        return 503 if error.retryable else 500
    return 500


def headers_for(error: FoleyError, request: Request) -> dict[str, str]:
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(error, RateLimited):
        # The rate-limit dependency leaves the refused decision's headers on the request.
        headers: dict[str, str] = dict(getattr(request.state, "rate_limit_headers", {}))
        headers.setdefault("Retry-After", _seconds(error.retry_after_s))
        return headers
    if isinstance(error, QueueFull):
        return {"Retry-After": _seconds(error.retry_after_s)}
    return {}


def error_response(error: FoleyError, request: Request) -> JSONResponse:
    return JSONResponse(
        {"error": error.to_dict()},
        status_code=status_for(error),
        headers=headers_for(error, request),
    )


def validation_error(errors: Any) -> InvalidInput:
    """The first of pydantic's `errors()` as one readable `InvalidInput` naming the field."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    where = ".".join(loc) or "request"
    if first.get("type") == "extra_forbidden":
        return InvalidInput(
            f"unknown field {where!r}; see /docs for the fields this endpoint takes",
            code="unknown_field",
        )
    if first.get("type") == "missing":
        return InvalidInput(f"field {where!r} is required", code="missing_field")
    return InvalidInput(f"field {where!r}: {first.get('msg', 'invalid')}", code="invalid_field")


def install(app: FastAPI) -> None:
    """Register the one handler for each error family on `app`."""

    async def on_foley_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FoleyError)
        if isinstance(exc, RateLimited):
            request.app.state.foley.metrics.rate_limited.inc()
        return error_response(exc, request)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc.errors()), request)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        # The router's own answers (no such path, a method a path does not take) keep their
        # status and headers (`Allow`) and get our body.
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(
            {"error": {"code": code, "message": _HTTP_MESSAGES.get(code, str(exc.detail))}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app.add_exception_handler(FoleyError, on_foley_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _seconds(value_s: float) -> str:
    return str(max(1, math.ceil(value_s))) if math.isfinite(value_s) else "3600"
