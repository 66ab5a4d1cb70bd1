"""Jobs, results and times for the store tests. Times are fixed, never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from foleyserve.jobs.model import JobError, JobResult, JobSpec, Priority

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """`seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def spec(
    tenant: str = "acme",
    *,
    priority: Priority = Priority.NORMAL,
    deadline: datetime | None = None,
    prompt: str = "footsteps on gravel",
) -> JobSpec:
    return JobSpec(
        tenant=tenant,
        video_key=f"uploads/{tenant}/clip.mp4",
        video_sha256="0" * 64,
        duration_s=8.0,
        prompt=prompt,
        priority=priority,
        deadline=deadline,
    )


def result(name: str = "out") -> JobResult:
    return JobResult(
        audio_key=f"results/{name}.wav",
        duration_s=8.0,
        sample_rate_hz=48_000,
        content_type="audio/wav",
    )


def error(code: str = "engine_error", message: str = "the engine failed") -> JobError:
    return JobError(code=code, message=message)
