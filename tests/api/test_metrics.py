"""`/metrics`: what the API reads from the store (the fleet's view), and what a worker exports
of itself."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from foleyserve.jobs.model import JobState
from foleyserve.worker.loop import Worker

from .test_app import TEXT_JOB, ApiRig, clip, engine, rig

__all__ = ["clip", "engine", "rig"]  # fixtures


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} not in metrics:\n{text}")


def test_the_api_shows_the_queue_the_workers_and_pending_webhooks(rig: ApiRig) -> None:
    rig.client.post("/v1/jobs", json=TEXT_JOB | {"priority": "high"})
    rig.client.post("/v1/jobs", json=TEXT_JOB)
    before = rig.client.get("/metrics").text
    assert _value(before, 'foleyserve_queue_depth{priority="high"}') == 1
    assert _value(before, 'foleyserve_jobs{state="queued"}') == 2
    assert _value(before, "foleyserve_webhooks_pending") == 0
    assert "foleyserve_worker_last_seen_timestamp_seconds{" not in before
    rig.drain()
    after = rig.client.get("/metrics").text
    assert _value(after, 'foleyserve_jobs{state="succeeded"}') == 2
    seen = _value(after, 'foleyserve_worker_last_seen_timestamp_seconds{worker="test-worker"}')
    assert seen == rig.store.workers()["test-worker"].timestamp()


def test_a_worker_exports_batch_sizes_stage_latencies_and_its_caches(rig: ApiRig) -> None:
    for _ in range(3):
        rig.client.post("/v1/jobs", json=TEXT_JOB)
    worker = Worker(rig.engine, rig.store, rig.objects, rig.settings, "w")
    for _ in range(50):
        worker.run_once()
        if rig.store.counts()[JobState.SUCCEEDED] == 3:
            break
    registry = CollectorRegistry()
    registry.register(worker.metrics)
    text = generate_latest(registry).decode()
    batches = _value(text, "foleyserve_batch_size_count")
    assert batches >= 1 and _value(text, "foleyserve_batch_size_sum") == 3
    assert _value(text, 'foleyserve_stage_seconds_count{stage="queued"}') == 3
    assert _value(text, 'foleyserve_stage_seconds_count{stage="batch"}') == batches
    # Text-only jobs: no fetch and no analysis; one prompt, so one text-feature miss.
    assert _value(text, 'foleyserve_stage_seconds_count{stage="text"}') == 1
    assert _value(text, 'foleyserve_stage_seconds_count{stage="generate"}') == batches
    for stage in ("encode", "store"):
        assert _value(text, f'foleyserve_stage_seconds_count{{stage="{stage}"}}') == 3
    assert 'stage="fetch"' not in text and 'stage="analyze"' not in text


def test_a_worker_times_fetching_and_analysing_a_video_once(rig: ApiRig, clip: Path) -> None:
    for prompt in ("rain", "footsteps on gravel"):
        with clip.open("rb") as f:
            rig.client.post("/v1/jobs", files={"video": ("a.mp4", f)}, data={"prompt": prompt})
    worker = Worker(rig.engine, rig.store, rig.objects, rig.settings, "w")
    for _ in range(50):
        worker.run_once()
        if rig.store.counts()[JobState.SUCCEEDED] == 2:
            break
    registry = CollectorRegistry()
    registry.register(worker.metrics)
    text = generate_latest(registry).decode()
    # Both jobs fetch the video (mp4 results mux into it); the second reuses the features.
    assert _value(text, 'foleyserve_stage_seconds_count{stage="fetch"}') == 2
    assert _value(text, 'foleyserve_stage_seconds_count{stage="analyze"}') == 1
    assert _value(text, 'foleyserve_stage_seconds_count{stage="text"}') == 2
    assert _value(text, 'foleyserve_worker_cache_misses_total{cache="text-features"}') >= 1
