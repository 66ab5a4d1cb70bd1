"""`GET /v1/jobs/{id}` tells a queued job where it stands and roughly when it starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from foleyserve.api.routes import estimated_start
from foleyserve.jobs.model import JobResult, JobSpec

from .test_app import TEXT_JOB, ApiRig, engine, rig

__all__ = ["engine", "rig"]  # fixtures

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_the_estimate_spreads_recent_throughput_over_the_jobs_ahead() -> None:
    assert estimated_start(0, 0, 600.0, T0) is None
    assert estimated_start(0, 60, 600.0, T0) == T0 + timedelta(seconds=10)
    assert estimated_start(5, 60, 600.0, T0) == T0 + timedelta(seconds=60)


def _finish_one(rig: ApiRig) -> None:
    spec = JobSpec(tenant="other", video_key=None, video_sha256=None, duration_s=1, prompt="x")
    result = JobResult(
        audio_key="a.wav", duration_s=1, sample_rate_hz=48_000, content_type="audio/wav"
    )
    rig.store.submit_finished(spec, result, now=datetime.now(UTC))


def test_a_queued_job_shows_the_jobs_ahead_and_an_estimated_start(rig: ApiRig) -> None:
    first, second = (rig.client.post("/v1/jobs", json=TEXT_JOB).json() for _ in range(2))
    urgent = rig.client.post("/v1/jobs", json=TEXT_JOB | {"priority": "high"}).json()
    places = [
        rig.client.get(job["links"]["self"]).json()["queue"] for job in (first, second, urgent)
    ]
    assert [place["ahead"] for place in places] == [1, 2, 0]
    assert all(place["estimated_start_at"] is None for place in places)  # nothing finished yet
    _finish_one(rig)
    place = rig.client.get(second["links"]["self"]).json()["queue"]
    start = datetime.fromisoformat(place["estimated_start_at"])
    # 1 job in 10 minutes: 3 jobs' worth (2 ahead and a free worker), 30 minutes from now.
    assert timedelta(minutes=25) < start - datetime.now(UTC) <= timedelta(minutes=30)
    rig.drain()
    done = rig.client.get(second["links"]["self"]).json()
    assert done["state"] == "succeeded" and done["queue"] is None
    listed = rig.client.get("/v1/jobs").json()["jobs"]
    assert all(job["queue"] is None for job in listed)  # listing stays cheap
