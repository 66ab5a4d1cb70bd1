"""One job from video file to output file: probe, analyse, encode text, generate (in segments and
batches when the video is long), normalise loudness, encode or mux.

The CLI calls `render` directly; the worker calls the same steps with caches and a job store
around them. Nothing here knows about HTTP, queues or object storage.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from foleyserve.engines.base import (
    CancelledFn,
    FoleyEngine,
    GenerationRequest,
    TextFeatures,
    VideoFeatures,
    run_batch,
)
from foleyserve.errors import OutputError
from foleyserve.media.audio import Audio, AudioFormat, encode_audio
from foleyserve.media.loudness import measure_lufs, normalize_loudness
from foleyserve.media.mux import mux_audio
from foleyserve.media.probe import VideoInfo, probe
from foleyserve.media.segments import Segment, plan_segments, stitch
from foleyserve.params import RenderParams, check_params
from foleyserve.settings import Settings


class Stage(StrEnum):
    PROBE = "probe"
    ANALYZE = "analyze"
    TEXT = "text"
    GENERATE = "generate"
    ENCODE = "encode"


Reporter = Callable[[Stage, int, int], None]
"""`reporter(stage, done, total)`: progress of the current stage."""


@dataclass(frozen=True)
class RenderResult:
    output: Path
    video: VideoInfo
    duration_s: float
    sample_rate_hz: int
    channels: int
    segments: int
    loudness_lufs: float
    timings_s: dict[str, float] = field(default_factory=dict)


def check_output_path(path: Path) -> None:
    """Fail before the work, not after it, when the output cannot be written."""
    parent = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise OutputError(f"output {path} is a directory; give a file name.", code="output_is_dir")
    if not parent.is_dir():
        raise OutputError(
            f"cannot write {path}: directory {parent} does not exist.", code="output_unwritable"
        )
    if not os.access(parent, os.W_OK):
        raise OutputError(
            f"cannot write {path}: directory {parent} is not writable.", code="output_unwritable"
        )


def render(
    engine: FoleyEngine,
    video: Path,
    output: Path,
    params: RenderParams,
    settings: Settings,
    reporter: Reporter | None = None,
    cancelled: CancelledFn | None = None,
) -> RenderResult:
    """Make `output` from `video` and `params` (see the module docstring)."""
    check_params(params, settings)
    check_output_path(output)
    report = reporter or (lambda stage, done, total: None)
    timings: dict[str, float] = {}
    with _timed(timings, Stage.PROBE):
        info = probe(video, settings.media_limits())
        report(Stage.PROBE, 1, 1)
    with _timed(timings, Stage.ANALYZE):
        features = engine.analyze_video(video, info, lambda d, t: report(Stage.ANALYZE, d, t))
    with _timed(timings, Stage.TEXT):
        text = engine.encode_text([(params.prompt, params.negative_prompt)])[0]
        report(Stage.TEXT, 1, 1)
    with _timed(timings, Stage.GENERATE):
        audio, segments = generate_audio(
            engine,
            features,
            text,
            info.duration_s,
            params,
            lambda d, t: report(Stage.GENERATE, d, t),
            cancelled,
        )
    with _timed(timings, Stage.ENCODE):
        audio = normalize_loudness(
            audio, target_lufs=settings.loudness_target_lufs, true_peak_dbtp=settings.true_peak_dbtp
        )
        write_output(audio, video, output, params, settings)
        report(Stage.ENCODE, 1, 1)
    return RenderResult(
        output=output,
        video=info,
        duration_s=audio.duration_s,
        sample_rate_hz=audio.sample_rate_hz,
        channels=audio.channels,
        segments=len(segments),
        loudness_lufs=measure_lufs(audio),
        timings_s=timings,
    )


def generate_audio(
    engine: FoleyEngine,
    features: VideoFeatures | None,
    text: TextFeatures,
    duration_s: float,
    params: RenderParams,
    progress: Callable[[int, int], None] | None = None,
    cancelled: CancelledFn | None = None,
) -> tuple[Audio, list[Segment]]:
    """Audio for the whole duration: one request per segment, batched by the engine's batch key
    (the segments of one job may share a batch), stitched with equal-power crossfades."""
    segments, requests = plan_requests(engine, features, text, duration_s, params)
    parts = generate_requests(engine, requests, progress, cancelled)
    return stitch_parts(engine, parts, segments, duration_s), segments


def plan_requests(
    engine: FoleyEngine,
    features: VideoFeatures | None,
    text: TextFeatures,
    duration_s: float,
    params: RenderParams,
) -> tuple[list[Segment], list[GenerationRequest]]:
    """The segments of a job (one, unless the video is longer than the engine's segments) and
    one generation request for each."""
    profile = engine.profile
    segments = plan_segments(
        duration_s,
        max_segment_s=profile.max_segment_s,
        segment_s=profile.segment_s,
        overlap_s=profile.segment_overlap_s,
    )
    requests = [
        GenerationRequest(
            text=text,
            video=None if features is None else features.window(s.start_s, s.duration_s),
            duration_s=s.duration_s,
            seed=segment_seed(params.seed, s.index),
            steps=params.steps,
            guidance=params.guidance,
        )
        for s in segments
    ]
    return segments, requests


def generate_requests(
    engine: FoleyEngine,
    requests: Sequence[GenerationRequest],
    progress: Callable[[int, int], None] | None = None,
    cancelled: CancelledFn | None = None,
) -> list[Audio]:
    """Run any requests (of one job or of many) in as few `generate` calls as their batch keys
    and the engine's `max_batch_size` allow. One `Audio` per request, in order."""
    parts: list[Audio | None] = [None] * len(requests)
    batches = list(_batches(engine, requests, engine.profile.max_batch_size))
    for b, indices in enumerate(batches):

        def batch_progress(done: int, total: int, b: int = b) -> None:
            # Per-mille of the whole call, so one bar spans every batch and every step.
            if progress is not None:
                progress(b * 1000 + (1000 * done) // max(total, 1), 1000 * len(batches))

        outputs = run_batch(engine, [requests[i] for i in indices], batch_progress, cancelled)
        for i, audio in zip(indices, outputs, strict=True):
            parts[i] = audio
        batch_progress(1, 1)
    return [p for p in parts if p is not None]


def stitch_parts(
    engine: FoleyEngine, parts: Sequence[Audio], segments: Sequence[Segment], duration_s: float
) -> Audio:
    return stitch(parts, segments, total_samples=round(duration_s * engine.profile.sample_rate_hz))


def segment_seed(seed: int, index: int) -> int:
    """Segment 0 uses the job's seed; later segments get independent, reproducible seeds."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _batches(
    engine: FoleyEngine, requests: Sequence[GenerationRequest], max_batch_size: int
) -> Iterator[list[int]]:
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, request in enumerate(requests):
        groups[engine.batch_key(request.shape)].append(i)
    for indices in groups.values():
        for start in range(0, len(indices), max_batch_size):
            yield indices[start : start + max_batch_size]


def write_output(
    audio: Audio, video: Path | None, output: Path, params: RenderParams, settings: Settings
) -> None:
    """Encode `audio` to `output`, or mux it into `video` for the video format."""
    if params.output_format.is_video:
        if video is None:
            raise OutputError("a video output needs a video.", code="video_output_needs_video")
        mux_audio(
            video,
            audio,
            output,
            original_gain_db=params.mix_original_db,
            audio_bitrate_kbps=settings.audio_bitrate_kbps,
        )
    else:
        encode_audio(
            audio,
            output,
            AudioFormat(params.output_format.value),
            bitrate_kbps=settings.audio_bitrate_kbps,
        )


@contextmanager
def _timed(timings: dict[str, float], stage: Stage) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage.value] = time.perf_counter() - start
