"""The API's request and response bodies. Requests refuse unknown fields; ranges are checked by
`foleyserve.params.check_params`, so the API and the CLI refuse a bad value with one code."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from foleyserve.jobs.model import Job, JobState, Priority, WebhookEvent
from foleyserve.params import OutputFormat, RenderParams

EventGroup = Literal["started", "completed"]
EVENT_GROUPS: dict[str, tuple[WebhookEvent, ...]] = {
    "started": ("running",),
    "completed": ("succeeded", "failed", "canceled", "expired"),
}
"""Names for the two kinds of event, accepted in `webhook_events` beside the states."""


class JobRequest(BaseModel):
    """The fields of `POST /v1/jobs`: form fields beside a `video` upload, or a JSON object
    with `video_url` (a video to fetch) or `duration_s` (text only, no video)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    output_format: OutputFormat | None = None
    """Default: mp4 (the video with its new sound) for videos, wav for text-only jobs."""
    priority: Priority = Priority.NORMAL
    mix_original_db: float | None = None
    webhook_url: str | None = None
    """Called, signed, when the job reaches one of `webhook_events` (see docs/api.md)."""
    webhook_events: list[WebhookEvent | EventGroup] | None = Field(None, min_length=1)
    """Default: the final states (succeeded, failed, canceled, expired); add `running` for
    the started event. `started` and `completed` name the same two groups. In a form:
    comma-separated, or the field repeated."""
    video_url: str | None = None
    duration_s: float | None = None

    def render_params(self, *, has_video: bool) -> RenderParams:
        default = OutputFormat.MP4 if has_video else OutputFormat.WAV
        return RenderParams(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            seed=self.seed,
            steps=self.steps,
            guidance=self.guidance,
            output_format=self.output_format or default,
            mix_original_db=self.mix_original_db,
        )

    def webhook(self) -> dict[str, Any]:
        """The webhook arguments of `JobService.submit_*`."""
        if self.webhook_events is None:
            return {"webhook_url": self.webhook_url, "webhook_events": None}
        events: list[WebhookEvent] = []
        for name in self.webhook_events:
            events += EVENT_GROUPS.get(name, (cast(WebhookEvent, name),))
        return {"webhook_url": self.webhook_url, "webhook_events": tuple(dict.fromkeys(events))}


class ProgressOut(BaseModel):
    stage: str
    step: int
    total: int
    fraction: float


class ErrorOut(BaseModel):
    code: str
    message: str


class ResultOut(BaseModel):
    content_type: str
    duration_s: float
    sample_rate_hz: int
    batch_size: int | None = None
    """How many jobs shared the engine batch that made this result."""
    batch_id: str | None = None
    """Equal for the jobs of one batch."""
    worker_id: str | None = None
    """The worker that ran it."""
    engine: str | None = None
    """`name/version` of the engine that made it (`hunyuan-RANDOM-WEIGHTS/...` in benchmark
    mode, whose audio is noise)."""


class ParamsOut(BaseModel):
    prompt: str
    negative_prompt: str
    seed: int
    steps: int | None
    guidance: float | None
    output_format: OutputFormat
    mix_original_db: float | None
    duration_s: float
    has_video: bool


class Links(BaseModel):
    self: str
    cancel: str
    result: str


class QueueOut(BaseModel):
    ahead: int
    """Queued jobs that run before this one by priority and submission order (0: next).
    Aging and per-tenant fair share may reorder them."""
    estimated_start_at: datetime | None
    """A rough guess from the jobs finished in the last 10 minutes (null when none did)."""


class JobOut(BaseModel):
    id: str
    state: JobState
    cached: bool
    priority: Priority
    params: ParamsOut
    progress: ProgressOut
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: ErrorOut | None
    result: ResultOut | None
    links: Links
    queue: QueueOut | None = None
    """While queued, in `GET /v1/jobs/{id}` only: where the job stands."""

    @classmethod
    def of(cls, job: Job) -> JobOut:
        spec = job.spec
        base = f"/v1/jobs/{job.id}"
        return cls(
            id=job.id,
            state=job.state,
            cached=job.cached,
            priority=spec.priority,
            params=ParamsOut(
                prompt=spec.prompt,
                negative_prompt=spec.negative_prompt,
                seed=spec.seed,
                steps=spec.steps,
                guidance=spec.guidance,
                output_format=spec.output_format,
                mix_original_db=spec.mix_original_db,
                duration_s=spec.duration_s,
                has_video=spec.video_sha256 is not None,
            ),
            progress=ProgressOut(
                stage=job.progress.stage,
                step=job.progress.step,
                total=job.progress.total,
                fraction=job.progress.fraction,
            ),
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=ErrorOut(code=job.error.code, message=job.error.message) if job.error else None,
            result=(
                ResultOut(
                    content_type=job.result.content_type,
                    duration_s=job.result.duration_s,
                    sample_rate_hz=job.result.sample_rate_hz,
                    batch_size=job.result.batch_size,
                    batch_id=job.result.batch_id,
                    worker_id=job.worker_id,
                    engine=job.result.engine,
                )
                if job.result
                else None
            ),
            links=Links(self=base, cancel=f"{base}/cancel", result=f"{base}/result"),
        )


class JobPage(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


class ErrorBody(BaseModel):
    error: ErrorOut


class WebhookSecretOut(BaseModel):
    tenant: str
    secret: str
    """HMAC-SHA256 key of the `Foleyserve-Signature` header of your webhooks."""
