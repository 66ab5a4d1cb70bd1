"""The hunyuan engine served by a worker, end to end on real stores and files: jobs by video and
by prompt alone, the feature cache skipping the decode and the video encoders for a new prompt,
a long video through segments, bad input failing alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foleyserve.engines.hunyuan.engine import HunyuanEngine
from foleyserve.engines.registry import create_engine
from foleyserve.jobs.model import Job, JobState
from foleyserve.jobs.service import JobService
from foleyserve.media.audio import decode_audio
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import make_bouncing_ball
from foleyserve.params import OutputFormat, RenderParams
from foleyserve.pipeline import render
from foleyserve.settings import Settings
from foleyserve.storage.local import LocalObjectStore
from foleyserve.store import open_store
from foleyserve.store.base import JobStore
from foleyserve.worker.loop import Worker

STEPS = 2


@pytest.fixture(scope="module")
def settings(tiny_model_dir: Path) -> Settings:
    return Settings(
        engine="hunyuan",
        hunyuan_model_dir=tiny_model_dir,
        hunyuan_device="cpu",
        max_batch_wait_ms=0,
    )


@pytest.fixture(scope="module")
def engine(settings: Settings) -> HunyuanEngine:
    loaded = create_engine(settings)
    assert isinstance(loaded, HunyuanEngine)
    return loaded


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield opened
    opened.close()


def _params(prompt: str) -> RenderParams:
    return RenderParams(prompt, steps=STEPS, output_format=OutputFormat.WAV)


def _drain(worker: Worker, store: JobStore) -> None:
    for _ in range(20):
        worker.run_once()
        counts = store.counts()
        if counts[JobState.QUEUED] == 0 and counts[JobState.RUNNING] == 0:
            return
    raise AssertionError(f"queue did not drain: {store.counts()}")


def _done(store: JobStore, objects: LocalObjectStore, job: Job) -> tuple[Job, float]:
    done = store.get(job.id, "acme")
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.result is not None and done.result.sample_rate_hz == 48_000
    assert done.result.engine == "hunyuan/1-xxl"
    local = objects.local_path(done.result.audio_key)
    assert local is not None
    return done, decode_audio(local).duration_s


def test_a_new_prompt_on_a_seen_video_skips_decoding_and_the_video_encoders(
    engine: HunyuanEngine, settings: Settings, store: JobStore, tmp_path: Path
) -> None:
    clip = tmp_path / "ball.mp4"
    make_bouncing_ball(clip, impact_times_s=[0.3], duration_s=0.8, width=64, height=48)
    objects = LocalObjectStore(tmp_path / "objects")
    worker = Worker(engine, store, objects, settings, "w1")
    service = JobService(store, objects, settings, engine, worker.caches.results, worker.clock)
    analyzed = engine.videos_analyzed

    first = service.submit_video(clip, _params("footsteps on gravel"), tenant="acme")
    _drain(worker, store)
    second = service.submit_video(clip, _params("a door slams"), tenant="acme")
    text_only = service.submit_text(0.6, _params("rain on a tin roof"), tenant="acme")
    _drain(worker, store)

    duration_s = probe(clip).duration_s
    for job in (first, second):
        assert _done(store, objects, job)[1] == pytest.approx(duration_s, abs=1e-3)
    assert _done(store, objects, text_only)[1] == pytest.approx(0.6, abs=1e-3)
    assert engine.videos_analyzed == analyzed + 1
    assert (worker.caches.video.hits, worker.caches.video.misses) == (1, 1)
    assert worker.caches.text.misses == 3


def test_a_video_too_short_for_the_model_fails_alone_and_for_good(
    engine: HunyuanEngine, settings: Settings, store: JobStore, tmp_path: Path
) -> None:
    short, fine = tmp_path / "short.mp4", tmp_path / "fine.mp4"
    make_bouncing_ball(short, impact_times_s=[], duration_s=0.4, width=64, height=48)
    make_bouncing_ball(fine, impact_times_s=[0.2], duration_s=0.8, width=64, height=48)
    objects = LocalObjectStore(tmp_path / "objects")
    worker = Worker(engine, store, objects, settings, "w1")
    service = JobService(store, objects, settings, engine, worker.caches.results, worker.clock)
    bad = service.submit_video(short, _params("glass"), tenant="acme")
    good = service.submit_video(fine, _params("glass"), tenant="acme")
    _drain(worker, store)
    failed = store.get(bad.id, "acme")
    assert failed.state is JobState.FAILED and failed.attempts == 1
    assert failed.error is not None and failed.error.code == "video_too_short"
    _done(store, objects, good)


@pytest.mark.slow
def test_a_40_s_video_goes_through_segments_in_one_batch(
    engine: HunyuanEngine, settings: Settings, tmp_path: Path
) -> None:
    clip = tmp_path / "long.mp4"
    make_bouncing_ball(clip, impact_times_s=[5, 20, 35], duration_s=40.0, width=64, height=48)
    batches = engine.batches_generated
    result = render(engine, clip, tmp_path / "long.wav", _params("a ball bouncing"), settings)
    assert result.segments == 5 and result.sample_rate_hz == 48_000
    assert result.duration_s == pytest.approx(probe(clip).duration_s, abs=1e-3)
    assert engine.batches_generated == batches + 1  # the five windows shared one batch
