"""Jobs: what a user asked for (`JobSpec`), and where it stands (`Job`).

Both are pydantic models so that every store writes the same versioned JSON (`PAYLOAD_VERSION`);
never pickle. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from foleyserve.params import MAX_GUIDANCE, MAX_SEED, MAX_STEPS, OutputFormat, RenderParams

PAYLOAD_VERSION = 1


class JobState(StrEnum):
    QUEUED = "queued"
    """Waiting for a worker (new, or back after a lost lease)."""
    RUNNING = "running"
    """Leased by a worker that heartbeats it."""
    SUCCEEDED = "succeeded"
    """Done; `result` holds the object keys."""
    FAILED = "failed"
    """Gave up: a permanent error, or `max_attempts` used (dead letter). `error` says why."""
    CANCELED = "canceled"
    """Canceled by its tenant: at once while queued, between steps while running."""
    EXPIRED = "expired"
    """Its deadline passed before a worker started it."""

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED, JobState.EXPIRED}
)


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 is served first."""
        return _RANKS[self]


_RANKS = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}

WebhookEvent = Literal["succeeded", "failed", "canceled", "expired", "running"]


class Charge(NamedTuple):
    """What running a batch costs one tenant's fairness counter, applied by the store in the
    claim's transaction as `counter = max(counter, floor_s) + add_s`. The floor lifts a tenant
    that was idle for long (no hoarded credit); adding, rather than writing a value computed
    from a snapshot, keeps every charge when several workers plan from the same snapshot."""

    floor_s: float
    add_s: float

    def applied_to(self, counter_s: float) -> float:
        return max(counter_s, self.floor_s) + self.add_s


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobSpec(_Frozen):
    """Everything needed to run a job, fixed at submission."""

    tenant: str = Field(min_length=1, max_length=128)
    video_key: str | None
    """Object-store key of the uploaded video; None for text-only jobs."""
    video_sha256: str | None
    duration_s: float = Field(gt=0)
    """The video's duration (or the asked-for length of a text-only job)."""
    prompt: str = Field(min_length=1)
    negative_prompt: str = ""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    steps: int | None = Field(None, ge=1, le=MAX_STEPS)
    guidance: float | None = Field(None, ge=0, le=MAX_GUIDANCE)
    output_format: OutputFormat = OutputFormat.MP4
    mix_original_db: float | None = None
    priority: Priority = Priority.NORMAL
    deadline: datetime | None = None
    """A queued job not started by then expires."""
    webhook_url: str | None = None
    webhook_events: tuple[WebhookEvent, ...] = ("succeeded", "failed", "canceled", "expired")

    @classmethod
    def from_params(cls, params: RenderParams, **fields: Any) -> JobSpec:
        """A spec carrying `params`, plus the job's other `fields` (tenant, video, ...)."""
        return cls(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            seed=params.seed,
            steps=params.steps,
            guidance=params.guidance,
            output_format=params.output_format,
            mix_original_db=params.mix_original_db,
            **fields,
        )

    def render_params(self) -> RenderParams:
        return RenderParams(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            seed=self.seed,
            steps=self.steps,
            guidance=self.guidance,
            output_format=self.output_format,
            mix_original_db=self.mix_original_db,
        )


class Progress(_Frozen):
    stage: str = "queued"
    step: int = 0
    total: int = 0

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


class JobError(_Frozen):
    code: str
    message: str


class JobResult(_Frozen):
    audio_key: str
    """Object-store key of the generated audio (or of the video with new sound)."""
    video_key: str | None = None
    duration_s: float
    sample_rate_hz: int
    content_type: str
    batch_size: int | None = Field(None, ge=1)
    """How many jobs shared the engine's batch that made it (None: recorded before this field)."""
    batch_id: str | None = None
    """Equal for the jobs of one batch: with `Job.started_at`/`finished_at`, what benchmarks
    read to rebuild a worker's busy intervals."""
    engine: str | None = None
    """`name/version` of the engine that made it (benchmark mode's random weights show here)."""


class Job(_Frozen):
    v: int = PAYLOAD_VERSION
    id: str
    spec: JobSpec
    state: JobState
    progress: Progress = Progress()
    attempts: int = 0
    """How many times a worker has started it."""
    max_attempts: int = 3
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    error: JobError | None = None
    result: JobResult | None = None
    cached: bool = False
    """True when the result came from the result cache (no GPU used)."""
    idempotency_key: str | None = None
