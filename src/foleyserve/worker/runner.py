"""Run one claimed batch of jobs: fetch, features (cached), one shared generation, outputs.

Every job of the batch is prepared on its own (a broken job fails alone), then the segments of
all jobs go through `generate_requests` together, so compatible jobs share `generate` calls.
Each job is then finished on its own: stitched, loudness-normalised, encoded or muxed, stored,
completed. Errors are recorded on the job with whether another attempt may help.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from foleyserve.cache import (
    decode_text_features,
    decode_video_features,
    encode_text_features,
    encode_video_features,
    result_key,
    text_feature_key,
    video_feature_key,
)
from foleyserve.engines.base import (
    Cancelled,
    FoleyEngine,
    GenerationRequest,
    TextFeatures,
    VideoFeatures,
)
from foleyserve.errors import EngineError, FoleyError, InvalidInput, OutputError
from foleyserve.jobs.model import Job, JobError, JobResult, Progress
from foleyserve.media.audio import Audio
from foleyserve.media.loudness import normalize_loudness
from foleyserve.media.probe import probe
from foleyserve.media.segments import Segment
from foleyserve.pipeline import generate_requests, plan_requests, stitch_parts, write_output
from foleyserve.settings import Settings
from foleyserve.storage.base import ObjectStore
from foleyserve.store.base import JobStore
from foleyserve.worker.context import Caches
from foleyserve.worker.heartbeat import Heartbeat

log = logging.getLogger(__name__)

CANCELED = JobError(code="canceled", message="canceled by its owner")
SHUTDOWN = JobError(code="worker_shutdown", message="the worker stopped; the job will run again")


@dataclass
class _Work:
    job: Job
    video: Path | None
    segments: list[Segment]
    requests: list[GenerationRequest]
    result_key: str


@dataclass(frozen=True)
class _BatchTag:
    """What each result records of the batch it shared (benchmarks read it)."""

    size: int
    id: str


@dataclass
class BatchRunner:
    engine: FoleyEngine
    store: JobStore
    objects: ObjectStore
    caches: Caches
    settings: Settings
    worker_id: str
    heartbeat: Heartbeat
    clock: Callable[[], datetime]
    stopping: Callable[[], bool]
    """True once a shutdown's grace period is over: stop between steps, release the jobs."""
    observe_stage: Callable[[str, float], None] = lambda stage, seconds: None
    """Told the seconds of each stage that completes (`worker.metrics.STAGES`)."""

    def run(self, jobs: list[Job]) -> None:
        with TemporaryDirectory(prefix="foleyserve-") as tmp:
            works = [w for job in jobs if (w := self._prepare(job, Path(tmp))) is not None]
            if works:
                self._generate_and_finish(works, Path(tmp))

    # -- preparing ------------------------------------------------------------------------------
    def _prepare(self, job: Job, tmp: Path) -> _Work | None:
        try:
            return self._prepare_or_raise(job, tmp)
        except Exception as e:
            self._fail(job, e)
            return None

    def _prepare_or_raise(self, job: Job, tmp: Path) -> _Work:
        spec, params = job.spec, job.spec.render_params()
        self._report(job, "fetching")
        video, features = None, None
        if spec.video_key is not None:
            feature_key = video_feature_key(self.engine, spec.video_sha256 or "")
            cached = self.caches.video.get(feature_key) if spec.video_sha256 else None
            features = None if cached is None else decode_video_features(cached)
            # The file is only needed to analyse it, or to put the new sound into it.
            if features is None or spec.output_format.is_video:
                video = tmp / job.id / f"source{Path(spec.video_key).suffix}"
                video.parent.mkdir(parents=True)
                with self._timed("fetch"):
                    self.objects.get_file(spec.video_key, video)
            if features is None:
                assert video is not None
                with self._timed("analyze"):
                    features = self._analyze(job, video)
                if spec.video_sha256:
                    self.caches.video.put(feature_key, encode_video_features(features))
        text = self._text_features(params.prompt, params.negative_prompt)
        duration_s = features.duration_s if features is not None else spec.duration_s
        segments, requests = plan_requests(self.engine, features, text, duration_s, params)
        rkey = result_key(self.engine, spec.video_sha256, spec.duration_s, params)
        return _Work(job, video, segments, requests, rkey)

    def _analyze(self, job: Job, video: Path) -> VideoFeatures:
        info = probe(video, self.settings.media_limits())

        def progress(done: int, total: int) -> None:
            self._report(job, "analyzing", done, total)

        return self.engine.analyze_video(video, info, progress)

    def _text_features(self, prompt: str, negative: str) -> TextFeatures:
        key = text_feature_key(self.engine, prompt, negative)
        cached = self.caches.text.get(key)
        if cached is not None:
            return decode_text_features(cached)
        with self._timed("text"):
            text = self.engine.encode_text([(prompt, negative)])[0]
        self.caches.text.put(key, encode_text_features(text))
        return text

    # -- generating -----------------------------------------------------------------------------
    def _generate_and_finish(self, works: list[_Work], tmp: Path) -> None:
        requests = [r for w in works for r in w.requests]

        def progress(done: int, total: int) -> None:
            for w in works:
                self._report(w.job, "generating", done, total)

        def cancelled() -> bool:
            return self.stopping() or all(self.heartbeat.should_stop(w.job.id) for w in works)

        try:
            with self._timed("generate"):
                parts = generate_requests(self.engine, requests, progress, cancelled)
        except Exception as e:
            for w in works:
                self._fail(w.job, e)
            return
        start = 0
        batch = _BatchTag(size=len(works), id=uuid.uuid4().hex)
        for w in works:
            mine = parts[start : start + len(w.requests)]
            start += len(w.requests)
            try:
                self._finish(w, mine, tmp, batch)
            except Exception as e:
                self._fail(w.job, e)

    def _finish(self, w: _Work, parts: list[Audio], tmp: Path, batch: _BatchTag) -> None:
        job = w.job
        if self.heartbeat.should_stop(job.id):
            self._fail(job, Cancelled("canceled"))
            return
        self._report(job, "encoding")
        fmt = job.spec.output_format
        out = tmp / job.id / f"foley.{fmt.value}"
        with self._timed("encode"):
            duration_s = w.segments[-1].end_s
            audio = stitch_parts(self.engine, parts, w.segments, duration_s)
            audio = normalize_loudness(
                audio,
                target_lufs=self.settings.loudness_target_lufs,
                true_peak_dbtp=self.settings.true_peak_dbtp,
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            write_output(audio, w.video, out, job.spec.render_params(), self.settings)
        self._report(job, "storing")
        key = f"results/{uuid.uuid4().hex}/foley.{fmt.value}"
        with self._timed("store"):
            stored_bytes = self.objects.put_file(key, out, content_type=fmt.content_type)
        result = JobResult(
            audio_key=key,
            duration_s=audio.duration_s,
            sample_rate_hz=audio.sample_rate_hz,
            content_type=fmt.content_type,
            batch_size=batch.size,
            batch_id=batch.id,
            engine=f"{self.engine.name}/{self.engine.version}",
        )
        done = self.store.complete(job.id, self.worker_id, result, now=self.clock())
        self.heartbeat.release(job.id)
        if done is None:
            # We lost the lease and another worker owns the job now: its result will stand.
            self.objects.delete(key)
            return
        self.caches.results.put(
            w.result_key, result.model_dump_json().encode(), accounted_bytes=stored_bytes
        )

    # -- bookkeeping ----------------------------------------------------------------------------
    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        """Report the stage's seconds when it completes (a failed stage reports nothing)."""
        started_s = time.monotonic()
        yield
        self.observe_stage(stage, time.monotonic() - started_s)

    def _report(self, job: Job, stage: str, step: int = 0, total: int = 0) -> None:
        self.heartbeat.report(job.id, Progress(stage=stage, step=step, total=total))

    def _fail(self, job: Job, error: BaseException) -> None:
        self.heartbeat.release(job.id)
        if self.heartbeat.lost(job.id):
            return  # another worker holds it now; nothing of ours to record
        job_error, retryable = _describe(error, canceled=self.heartbeat.canceled(job.id))
        if job_error is not CANCELED and job_error is not SHUTDOWN:
            log.warning("job %s failed: %s (%s)", job.id, job_error.message, job_error.code)
        self.store.fail(job.id, self.worker_id, job_error, retryable=retryable, now=self.clock())


def _describe(error: BaseException, *, canceled: bool) -> tuple[JobError, bool]:
    """What the job's owner reads, and whether another attempt may succeed."""
    if canceled:
        return CANCELED, False
    if isinstance(error, Cancelled):
        return SHUTDOWN, True
    if isinstance(error, InvalidInput | OutputError):
        return JobError(code=error.code, message=error.message), False
    if isinstance(error, EngineError):
        return JobError(code=error.code, message=error.message), error.retryable
    if isinstance(error, FoleyError):
        return JobError(code=error.code, message=error.message), True
    log.error("unexpected error", exc_info=error)
    message = f"internal error ({type(error).__name__}); the job will be retried"
    return JobError(code="internal_error", message=message), True
