"""The worker loop in-process, on real stores, real files and the procedural engine, with an
injected clock where leases must expire."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foleyserve.cache import RESULTS
from foleyserve.engines.null import NullEngine
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.errors import JobNotFound
from foleyserve.jobs.model import Job, JobSpec, JobState, Priority
from foleyserve.jobs.service import JobService
from foleyserve.media.audio import decode_audio
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import make_bouncing_ball
from foleyserve.params import OutputFormat, RenderParams
from foleyserve.settings import Settings
from foleyserve.storage.local import LocalObjectStore
from foleyserve.store import open_store
from foleyserve.store.base import JobStore
from foleyserve.worker.context import Caches
from foleyserve.worker.loop import Worker


class Clock:
    """Real time plus an offset the test can push forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Rig:
    store: JobStore
    objects: LocalObjectStore
    settings: Settings
    engine: ProceduralEngine
    clock: Clock
    service: JobService

    def worker(self, name: str = "w1") -> Worker:
        return Worker(self.engine, self.store, self.objects, self.settings, name, self.clock)

    def drain(self, worker: Worker, turns: int = 50) -> None:
        """Run turns until nothing is queued or running."""
        for _ in range(turns):
            worker.run_once()
            counts = self.store.counts()
            if counts[JobState.QUEUED] == 0 and counts[JobState.RUNNING] == 0:
                return
        raise AssertionError(f"queue did not drain: {self.store.counts()}")


@pytest.fixture(scope="module")
def engine() -> ProceduralEngine:
    return ProceduralEngine(embedder=None)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "ball.mp4"
    make_bouncing_ball(path, impact_times_s=[0.3, 0.8], duration_s=1.2)
    return path


@pytest.fixture(params=["sqlite", "redis"])
def rig(request: pytest.FixtureRequest, tmp_path: Path, engine: ProceduralEngine) -> Iterator[Rig]:
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    else:
        url = request.getfixturevalue("redis_url")
        store = open_store(f"{url}?prefix=worker-test:{tmp_path.name}:")
    objects = LocalObjectStore(tmp_path / "objects")
    settings = Settings(max_batch_wait_ms=0, lease_s=5)
    clock = Clock()
    caches = Caches.create(store, objects, settings, clock)
    service = JobService(store, objects, settings, engine, caches.results, clock)
    yield Rig(store, objects, settings, engine, clock, service)
    store.close()


def _submit(rig: Rig, clip: Path, prompt: str = "ball bouncing", **kw: object) -> Job:
    params = RenderParams(prompt, output_format=OutputFormat.WAV)
    return rig.service.submit_video(clip, params, tenant="acme", **kw)  # type: ignore[arg-type]


def test_jobs_run_to_stored_results(rig: Rig, clip: Path) -> None:
    jobs = [_submit(rig, clip, prompt) for prompt in ("rain", "glass", "footsteps on wood")]
    worker = rig.worker()
    rig.drain(worker)
    assert worker.batches_run == 1  # three compatible jobs, one batch
    duration_s = probe(clip).duration_s
    for job in jobs:
        done = rig.store.get(job.id, "acme")
        assert done.state is JobState.SUCCEEDED and done.attempts == 1 and not done.cached
        assert done.result is not None and done.result.content_type == "audio/wav"
        local = rig.objects.local_path(done.result.audio_key)
        assert local is not None
        assert decode_audio(local).duration_s == pytest.approx(duration_s, abs=1e-3)


def test_same_request_again_is_answered_from_the_result_cache(rig: Rig, clip: Path) -> None:
    first = _submit(rig, clip)
    rig.drain(rig.worker())
    again = _submit(rig, clip)
    assert again.state is JobState.SUCCEEDED and again.cached and again.attempts == 0
    done = rig.store.get(first.id, "acme")
    assert done.result is not None and again.result is not None
    # Its own copy: the first job's expiry cannot take the second's file along.
    assert again.result.audio_key != done.result.audio_key
    assert rig.objects.get_bytes(again.result.audio_key) == rig.objects.get_bytes(
        done.result.audio_key
    )
    assert rig.store.cache_stats(RESULTS)[0] == 1


def test_new_prompt_on_a_seen_video_skips_analysis(rig: Rig, clip: Path) -> None:
    _submit(rig, clip, "rain")
    worker = rig.worker()
    rig.drain(worker)
    _submit(rig, clip, "thunder")
    rig.drain(worker)
    assert (worker.caches.video.hits, worker.caches.video.misses) == (1, 1)
    assert worker.caches.text.misses == 2


def test_text_only_job(rig: Rig) -> None:
    params = RenderParams("rain on a tin roof", output_format=OutputFormat.FLAC)
    job = rig.service.submit_text(2.5, params, tenant="acme")
    rig.drain(rig.worker())
    done = rig.store.get(job.id, "acme")
    assert done.state is JobState.SUCCEEDED and done.result is not None
    assert done.result.duration_s == pytest.approx(2.5)


def test_a_broken_upload_fails_alone(rig: Rig, clip: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.mp4"
    make_bouncing_ball(other, impact_times_s=[0.5], duration_s=1.0)
    good, bad = _submit(rig, clip, "rain"), _submit(rig, other, "wind")
    assert bad.spec.video_key is not None
    rig.objects.put_bytes(bad.spec.video_key, b"not a video any more")
    rig.drain(rig.worker())
    assert rig.store.get(good.id).state is JobState.SUCCEEDED
    failed = rig.store.get(bad.id)
    assert failed.state is JobState.FAILED and failed.attempts == 1  # bad input: no retry
    assert failed.error is not None and failed.error.code == "not_a_video"


def test_a_lost_lease_runs_again_elsewhere(rig: Rig, clip: Path) -> None:
    job = _submit(rig, clip)
    # A worker takes the job and dies without a word: no heartbeat, no completion.
    assert rig.store.claim([job.id], "dead", lease_s=5, now=rig.clock())
    rig.clock.offset += timedelta(seconds=6)
    rig.drain(rig.worker("w2"))
    done = rig.store.get(job.id)
    assert done.state is JobState.SUCCEEDED and done.attempts == 2


def test_past_max_attempts_the_job_fails_with_its_last_error(rig: Rig, clip: Path) -> None:
    job = _submit(rig, clip)
    for attempt in range(rig.settings.max_attempts):
        assert rig.store.claim([job.id], f"dead{attempt}", lease_s=5, now=rig.clock())
        rig.clock.offset += timedelta(seconds=6)
        rig.store.requeue_expired(now=rig.clock())
    dead = rig.store.get(job.id)
    assert dead.state is JobState.FAILED and dead.error is not None
    assert dead.error.code == "lease_lost"


def test_cancel_a_queued_job_at_once(rig: Rig, clip: Path) -> None:
    job = _submit(rig, clip)
    assert rig.store.cancel(job.id, "acme", now=rig.clock()).state is JobState.CANCELED
    worker = rig.worker()
    worker.run_once()
    assert worker.batches_run == 0


def test_cancel_a_running_job_between_steps(rig: Rig) -> None:
    # Ten minutes of five layers: long enough to be canceled while it runs.
    params = RenderParams("rain, wind, fire, crowd, birds", output_format=OutputFormat.WAV)
    job = rig.service.submit_text(600.0, params, tenant="acme")
    settings = rig.settings.model_copy(update={"lease_s": 0.6})
    worker = Worker(rig.engine, rig.store, rig.objects, settings, "w1", rig.clock)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    while rig.store.get(job.id).state is JobState.QUEUED:
        time.sleep(0.01)
    rig.store.cancel(job.id, "acme", now=rig.clock())
    thread.join(timeout=120)
    assert not thread.is_alive()
    done = rig.store.get(job.id)
    assert done.state is JobState.CANCELED and done.result is None


def test_priorities_and_tenants(rig: Rig, clip: Path) -> None:
    settings = rig.settings.model_copy(update={"batch_policy": "none"})
    worker = Worker(rig.engine, rig.store, rig.objects, settings, "w1", rig.clock)
    low = _submit(rig, clip, "rain", priority=Priority.LOW)
    high = _submit(rig, clip, "wind", priority=Priority.HIGH)
    worker.run_once()
    assert rig.store.get(high.id).state is JobState.SUCCEEDED
    assert rig.store.get(low.id).state is JobState.QUEUED


def test_a_tenant_with_1000_queued_jobs_delays_another_by_one_batch_at_most(rig: Rig) -> None:
    settings = rig.settings.model_copy(update={"engine": "null", "max_batch_size": 8})
    worker = Worker(NullEngine(), rig.store, rig.objects, settings, "w1", rig.clock)
    spec = JobSpec(
        tenant="big",
        video_key=None,
        video_sha256=None,
        duration_s=0.1,
        prompt="rain",
        output_format=OutputFormat.WAV,
    )
    for _ in range(1000):
        rig.store.submit(spec, now=rig.clock())
    small = rig.store.submit(spec.model_copy(update={"tenant": "small"}), now=rig.clock())[0]
    for _ in range(2):
        worker.run_once()
    assert rig.store.get(small.id).state is JobState.SUCCEEDED
    assert worker.batches_run == 2


def test_a_store_outage_is_waited_out(
    engine: ProceduralEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = open_store(f"redis://127.0.0.1:{port}/0")
    objects = LocalObjectStore(tmp_path / "objects")
    worker = Worker(engine, store, objects, Settings(), "w1")
    thread = threading.Thread(target=worker.run)
    with caplog.at_level("WARNING"):
        thread.start()
        while "store unavailable" not in caplog.text:
            assert thread.is_alive(), "the worker died of the outage"
            time.sleep(0.01)
        worker.request_stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    store.close()


def test_finished_jobs_and_their_files_expire_after_the_retention(rig: Rig, clip: Path) -> None:
    job = _submit(rig, clip)
    rig.drain(rig.worker())
    done = rig.store.get(job.id)
    assert done.result is not None and done.spec.video_key is not None
    keys = [done.result.audio_key, done.spec.video_key]
    assert all(rig.objects.exists(key) for key in keys)
    rig.clock.offset += timedelta(seconds=rig.settings.job_retention_s + 1)
    rig.worker("w2").run_once()  # a fresh worker purges on its first turn
    with pytest.raises(JobNotFound):
        rig.store.get(job.id)
    assert not any(rig.objects.exists(key) for key in keys)
