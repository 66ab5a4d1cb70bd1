"""The HTTP routes. Each parses, calls one service or store function, and formats; HTTP codes
for errors come from `foleyserve.api.errors`, never from here."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from foleyserve.api.admission import Admission, Quotas
from foleyserve.api.deps import Caller, CallerDep, RateLimitedCallerDep, StateDep
from foleyserve.api.errors import validation_error
from foleyserve.api.fetch import FetchPolicy, fetch_video
from foleyserve.api.pinned import check_webhook_url
from foleyserve.api.ratelimit import Rate
from foleyserve.api.schemas import (
    ErrorBody,
    JobOut,
    JobPage,
    JobRequest,
    QueueOut,
    WebhookSecretOut,
)
from foleyserve.errors import InvalidInput, StorageError
from foleyserve.jobs.model import Job, JobState
from foleyserve.storage.base import content_disposition

FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for multipart boundaries and form fields beside the video itself."""
MAX_JSON_BYTES = 64 * 1024
MAX_IDEMPOTENCY_KEY_CHARS = 200
COPY_CHUNK_BYTES = 1 << 20
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
_FORM_ONLY_TEXT = frozenset({"prompt", "negative_prompt"})

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 409, 413, 415, 422, 429, 503)
}


def _responses(extra: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    return extra | _ERRORS


def _submit_openapi() -> dict[str, Any]:
    schema = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    form = {
        "type": "object",
        "required": ["video", "prompt"],
        "properties": {
            "video": {"type": "string", "format": "binary"},
            **{
                name: prop
                for name, prop in schema["properties"].items()
                if name not in ("video_url", "duration_s")
            },
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form},
                "application/json": {"schema": schema},
            },
        }
    }


def build_router() -> APIRouter:
    router = APIRouter()

    @router.post(
        "/v1/jobs",
        status_code=202,
        response_model=JobOut,
        responses=_responses({200: {"model": JobOut, "description": "from the result cache"}}),
        openapi_extra=_submit_openapi(),
        summary="Submit a job: a video upload, a video URL, or a prompt alone",
    )
    async def submit(
        request: Request,
        state: StateDep,
        caller: RateLimitedCallerDep,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        if (
            idempotency_key is not None
            and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS
        ):
            raise InvalidInput(
                f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters",
                code="invalid_idempotency_key",
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        with tempfile.TemporaryDirectory(prefix="foleyserve-upload-") as tmp:
            if content_type == "multipart/form-data":
                job = await _submit_multipart(request, state, caller, Path(tmp), idempotency_key)
            elif content_type == "application/json":
                job = await _submit_json(request, state, caller, Path(tmp), idempotency_key)
            else:
                raise InvalidInput(
                    f"content type {content_type or 'none'!r} is not accepted; send "
                    "multipart/form-data (a video file) or application/json",
                    code="unsupported_content_type",
                )
        headers = dict(getattr(request.state, "rate_limit_headers", {}))
        headers["Location"] = f"/v1/jobs/{job.id}"
        return JSONResponse(
            JobOut.of(job).model_dump(mode="json"),
            status_code=200 if job.cached else 202,
            headers=headers,
        )

    @router.get("/v1/jobs", response_model=JobPage, responses=_ERRORS, summary="List your jobs")
    def list_jobs(
        state: StateDep,
        caller: CallerDep,
        job_state: Annotated[JobState | None, Query(alias="state")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> JobPage:
        page = state.store.list(caller.tenant, state=job_state, limit=limit, cursor=cursor)
        return JobPage(jobs=[JobOut.of(job) for job in page.jobs], next_cursor=page.cursor)

    @router.get(
        "/v1/jobs/{job_id}", response_model=JobOut, responses=_ERRORS, summary="A job's state"
    )
    def get_job(job_id: str, state: StateDep, caller: CallerDep) -> JobOut:
        job = state.store.get(job_id, caller.tenant)
        out = JobOut.of(job)
        if job.state is JobState.QUEUED:
            out.queue = _queue_place(state, job)
        return out

    @router.post(
        "/v1/jobs/{job_id}/cancel",
        response_model=JobOut,
        responses=_ERRORS,
        summary="Cancel a job (at once if queued, between steps if running)",
    )
    def cancel_job(job_id: str, state: StateDep, caller: CallerDep) -> JobOut:
        return JobOut.of(state.store.cancel(job_id, caller.tenant, now=state.clock()))

    @router.delete(
        "/v1/jobs/{job_id}",
        status_code=204,
        responses=_ERRORS,
        summary="Forget a finished job and its files",
    )
    def delete_job(job_id: str, state: StateDep, caller: CallerDep) -> Response:
        job = state.store.delete(job_id, caller.tenant)
        for key in _object_keys(job):
            state.objects.delete(key)
        return Response(status_code=204)

    @router.get(
        "/v1/jobs/{job_id}/result",
        responses=_responses({200: {"content": {"audio/wav": {}, "video/mp4": {}}}, 307: {}}),
        response_class=Response,
        summary="Download a succeeded job's audio (or video with its new sound)",
    )
    def get_result(job_id: str, state: StateDep, caller: CallerDep) -> Response:
        job = state.store.get(job_id, caller.tenant)
        if job.state is not JobState.SUCCEEDED or job.result is None:
            raise InvalidInput(
                f"job {job.id} is {job.state.value}; its result can be downloaded once its "
                "state is succeeded",
                code="job_not_succeeded",
            )
        key, media_type = job.result.audio_key, job.result.content_type
        filename = f"{job.id}{PurePosixPath(key).suffix}"
        url = state.objects.presigned_get_url(key, filename=filename)
        if url is not None:
            return RedirectResponse(url, status_code=307)
        path = state.objects.local_path(key)
        if path is not None:
            return FileResponse(path, media_type=media_type, filename=filename)
        return StreamingResponse(
            state.objects.iter_chunks(key),
            media_type=media_type,
            headers={"Content-Disposition": content_disposition(filename)},
        )

    @router.get(
        "/v1/webhooks/secret",
        response_model=WebhookSecretOut,
        responses=_ERRORS,
        summary="The secret that signs your webhooks (verify with foleyserve.api.webhooks.verify)",
    )
    def webhook_secret(state: StateDep, caller: CallerDep) -> WebhookSecretOut:
        return WebhookSecretOut(
            tenant=caller.tenant, secret=state.keys.webhook_secret(caller.tenant)
        )

    @router.get("/healthz", summary="The process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"model": ErrorBody}}, summary="Store and storage up")
    def readyz(state: StateDep) -> dict[str, str]:
        try:
            state.store.depth()
            state.objects.ping()
        except Exception as exc:
            # Any failure means not ready, including errors a closed or broken store leaves
            # untranslated; the probe must answer 503, not crash.
            raise StorageError(
                f"not ready: {getattr(exc, 'message', exc)}", code="not_ready"
            ) from exc
        return {"status": "ready"}

    @router.get("/metrics", response_class=Response, summary="Prometheus metrics")
    def metrics(state: StateDep) -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


THROUGHPUT_WINDOW_S = 600.0
"""How far back the estimated start looks at finished jobs."""


def _queue_place(state: StateDep, job: Job) -> QueueOut:
    """Two counts of one index each: cheap enough for every poll."""
    now = state.clock()
    ahead = state.store.queue_ahead(job)
    finished = state.store.finished_since(now - timedelta(seconds=THROUGHPUT_WINDOW_S))
    return QueueOut(
        ahead=ahead, estimated_start_at=estimated_start(ahead, finished, THROUGHPUT_WINDOW_S, now)
    )


def estimated_start(ahead: int, finished: int, window_s: float, now: datetime) -> datetime | None:
    """When a job with `ahead` jobs before it starts if jobs keep finishing as `finished` did
    in the last `window_s`: after the `ahead` jobs and one more (a worker must free up).
    None when nothing finished: no rate to go by."""
    if finished <= 0:
        return None
    return now + timedelta(seconds=(ahead + 1) * window_s / finished)


def _object_keys(job: Job) -> list[str]:
    keys = [job.spec.video_key]
    if job.result is not None:
        keys += [job.result.audio_key, job.result.video_key]
    return [key for key in keys if key is not None]


# -- submissions -------------------------------------------------------------------------------
def _parse_request(data: dict[str, Any]) -> JobRequest:
    try:
        return JobRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from exc


def _admission(request: Request, state: StateDep, caller: Caller) -> Admission:
    """The quota and cost checks of this submission (`foleyserve.api.admission`)."""
    settings = state.settings
    quotas = Quotas(settings.tenant_max_queued_jobs, settings.tenant_gpu_seconds_per_hour)
    if caller.key_id is not None:
        tenant = state.keys.get_tenant(caller.tenant)
        quotas = Quotas(tenant.max_queued_jobs, tenant.gpu_seconds_per_hour)
    if not hasattr(request.state, "rate_limit_headers"):
        request.state.rate_limit_headers = {}
    return Admission(
        store=state.store,
        limiter=state.limiter,
        rate=Rate(settings.rate_limit_per_s, settings.rate_limit_burst),
        quotas=quotas,
        limits=getattr(request.state, "rate_limit_keys", []),
        headers=request.state.rate_limit_headers,
    )


async def _parse_submission(data: dict[str, Any], state: StateDep) -> JobRequest:
    """The request's fields, checked, its webhook URL too (which resolves a name: off the
    event loop)."""
    body = _parse_request(data)
    if body.webhook_url is not None:
        await run_in_threadpool(check_webhook_url, body.webhook_url, state.settings)
    return body


async def _submit_multipart(
    request: Request, state: StateDep, caller: Caller, tmp: Path, idempotency_key: str | None
) -> Job:
    max_bytes = state.settings.max_file_bytes
    form = await _read_form(request, max_bytes)
    try:
        video = form.get("video")
        if not isinstance(video, UploadFile):
            raise InvalidInput(
                "field 'video' is required: the video file, sent as a multipart file part",
                code="missing_field",
            )
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name == "video":
                continue
            if not isinstance(value, str) or name in ("video_url", "duration_s"):
                raise InvalidInput(
                    f"unknown field {name!r} beside an uploaded video; see /docs",
                    code="unknown_field",
                )
            if value == "" and name not in _FORM_ONLY_TEXT:
                continue  # an empty optional form field means "not given"
            if name == "webhook_events":
                events = fields.setdefault(name, [])
                events += [part.strip() for part in value.split(",")]
                continue
            fields[name] = value
        body = await _parse_submission(fields, state)
        suffix = Path(video.filename or "").suffix
        path = tmp / f"upload{suffix if _SUFFIX.fullmatch(suffix) else ''}"
        await _copy_capped(video, path, max_bytes)
    finally:
        await form.close()
    return await run_in_threadpool(
        state.service.submit_video,
        path,
        body.render_params(has_video=True),
        tenant=caller.tenant,
        priority=body.priority,
        idempotency_key=idempotency_key,
        admit=_admission(request, state, caller),
        **body.webhook(),
    )


async def _submit_json(
    request: Request, state: StateDep, caller: Caller, tmp: Path, idempotency_key: str | None
) -> Job:
    raw = await _read_capped(request, MAX_JSON_BYTES, code="body_too_large")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_json")
    body = await _parse_submission(data, state)
    if (body.video_url is None) == (body.duration_s is None):
        raise InvalidInput(
            "give exactly one of video_url (a video to fetch) and duration_s (sound from the "
            "prompt alone), or upload the video as multipart/form-data",
            code="missing_field",
        )
    if body.video_url is not None:
        settings = state.settings
        policy = FetchPolicy(
            allow_http=settings.fetch_allow_http,
            allow_private=settings.fetch_allow_private,
            allowed_ports=settings.fetch_allowed_ports,
            max_bytes=settings.max_file_bytes,
        )
        fetched = await run_in_threadpool(
            fetch_video, body.video_url, tmp / "source", policy=policy
        )
        return await run_in_threadpool(
            state.service.submit_video,
            fetched.path,
            body.render_params(has_video=True),
            tenant=caller.tenant,
            priority=body.priority,
            idempotency_key=idempotency_key,
            admit=_admission(request, state, caller),
            **body.webhook(),
        )
    assert body.duration_s is not None
    return await run_in_threadpool(
        state.service.submit_text,
        body.duration_s,
        body.render_params(has_video=False),
        tenant=caller.tenant,
        priority=body.priority,
        idempotency_key=idempotency_key,
        admit=_admission(request, state, caller),
        **body.webhook(),
    )


def _too_large(what: str, limit_bytes: int, code: str) -> InvalidInput:
    return InvalidInput(
        f"{what} is larger than the limit of {limit_bytes / 1e6:.1f} MB; send a shorter or "
        "more compressed video",
        code=code,
    )


def _capped_request(request: Request, limit_bytes: int, what: str, code: str) -> Request:
    """`request` whose body reading raises `InvalidInput` as soon as `limit_bytes` pass."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise _too_large(what, limit_bytes, code)
    received = 0
    receive = request.receive

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit_bytes:
                raise _too_large(what, limit_bytes, code)
        return message

    return Request(request.scope, counted)


async def _read_capped(request: Request, limit_bytes: int, *, code: str) -> bytes:
    return await _capped_request(request, limit_bytes, "the request body", code).body()


async def _read_form(request: Request, max_file_bytes: int) -> FormData:
    capped = _capped_request(
        request, max_file_bytes + FORM_OVERHEAD_BYTES, "the upload", "file_too_large"
    )
    try:
        return await capped.form(max_files=1, max_fields=32)
    except HTTPException as exc:
        raise InvalidInput(
            f"the multipart body cannot be read: {exc.detail}", code="invalid_multipart"
        ) from exc


async def _copy_capped(upload: UploadFile, dest: Path, max_bytes: int) -> None:
    """Copy the spooled upload to `dest`, refusing it once it passes `max_bytes`."""
    copied = 0
    with dest.open("wb") as out:
        while chunk := await upload.read(COPY_CHUNK_BYTES):
            copied += len(chunk)
            if copied > max_bytes:
                raise _too_large("the video", max_bytes, "file_too_large")
            out.write(chunk)
