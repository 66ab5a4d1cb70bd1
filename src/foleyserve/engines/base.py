"""The `FoleyEngine` contract: what every model adapter provides, and the types it trades in.

An engine turns analysed video plus encoded text into audio. It never sees HTTP, Redis or S3
types: the pipeline hands it a local file path and plain data, and stores what it returns.

Lifecycle (LitServe's shape): construct once per process (weights loaded there), then for each
job `analyze_video` (cacheable by video hash + `feature_version`), `encode_text` (cacheable by
prompt + `text_version`), and `generate` over batches of requests with equal `batch_key`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from foleyserve.errors import EngineError, FoleyError
from foleyserve.media.pcm import Audio

if TYPE_CHECKING:
    # Only a type here: model code must import without PyAV (GPU hosts decode nothing).
    from foleyserve.media.probe import VideoInfo

ProgressFn = Callable[[int, int], None]
"""`progress(done, total)`: called by an engine as work advances (steps, frames)."""

CancelledFn = Callable[[], bool]
"""Polled between steps; when it returns True the engine stops and raises `Cancelled`."""


class Cancelled(FoleyError):
    """Raised by an engine that saw `cancelled()` return True."""

    code = "canceled"


@dataclass(frozen=True)
class FeatureTrack:
    """Features sampled in time: `values[i]` describes the moment `i / rate_hz` seconds."""

    rate_hz: float
    values: npt.NDArray[np.float32]

    def slice(self, start_s: float, duration_s: float) -> FeatureTrack:
        first = max(0, round(start_s * self.rate_hz))
        count = max(1, round(duration_s * self.rate_hz))
        return FeatureTrack(self.rate_hz, self.values[first : first + count])


@dataclass(frozen=True)
class VideoFeatures:
    """What an engine extracted from a video. A pure function of the video bytes and
    `feature_version`, so it may be cached and shared between jobs and workers.

    `tracks` hold time series (first axis is time); `start_s` is where this view begins in the
    source video (non-zero for a segment of a long video).
    """

    feature_version: str
    duration_s: float
    tracks: Mapping[str, FeatureTrack]
    start_s: float = 0.0

    def window(self, start_s: float, duration_s: float) -> VideoFeatures:
        """The features of `[start_s, start_s + duration_s)`, times relative to this view."""
        return VideoFeatures(
            feature_version=self.feature_version,
            duration_s=duration_s,
            tracks={k: t.slice(start_s, duration_s) for k, t in self.tracks.items()},
            start_s=self.start_s + start_s,
        )


@dataclass(frozen=True)
class TextFeatures:
    """An encoded (prompt, negative prompt) pair. Cacheable by the pair and `text_version`."""

    text_version: str
    prompt: str
    negative_prompt: str
    values: Mapping[str, npt.NDArray[np.float32]] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestShape:
    """What decides whether requests may share a batch: known before any feature exists, so the
    scheduler can group queued jobs the same way the engine groups requests."""

    duration_s: float
    steps: int | None = None
    guidance: float | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """One piece of audio to generate: one job, or one segment of a long job."""

    text: TextFeatures
    video: VideoFeatures | None
    """None for text-only generation."""
    duration_s: float
    seed: int
    steps: int | None = None
    """None: the engine's default."""
    guidance: float | None = None
    """None: the engine's default."""

    @property
    def shape(self) -> RequestShape:
        return RequestShape(self.duration_s, self.steps, self.guidance)


class MemoryModel(Protocol):
    def bytes_for(self, batch_size: int, duration_s: float) -> int:
        """Predicted peak device memory for one `generate` call of this shape."""
        ...


@dataclass(frozen=True)
class LinearMemoryModel:
    """Peak bytes = `fixed_bytes` + batch_size x duration_s x `bytes_per_item_s`."""

    fixed_bytes: int
    bytes_per_item_s: float

    def bytes_for(self, batch_size: int, duration_s: float) -> int:
        return self.fixed_bytes + int(batch_size * duration_s * self.bytes_per_item_s)


@dataclass(frozen=True)
class EngineProfile:
    sample_rate_hz: int
    channels: int
    max_segment_s: float
    """The longest audio one request may ask for; longer videos are split into segments."""
    segment_s: float
    """The segment length the engine does best at (<= max_segment_s)."""
    segment_overlap_s: float
    max_batch_size: int
    memory: MemoryModel
    default_steps: int | None = None
    default_guidance: float | None = None


@runtime_checkable
class FoleyEngine(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str:
        """Part of every result-cache key: bump it whenever outputs change."""
        ...

    @property
    def feature_version(self) -> str:
        """Part of every video-feature cache key: bump it whenever `analyze_video` changes."""
        ...

    @property
    def text_version(self) -> str:
        """Part of every text-feature cache key: bump it whenever `encode_text` changes."""
        ...

    @property
    def profile(self) -> EngineProfile: ...

    def analyze_video(
        self, video: Path, info: VideoInfo, progress: ProgressFn | None = None
    ) -> VideoFeatures: ...

    def encode_text(self, prompts: Sequence[tuple[str, str]]) -> list[TextFeatures]:
        """Encode `(prompt, negative_prompt)` pairs, one `TextFeatures` each, in order."""
        ...

    def batch_key(self, shape: RequestShape) -> Hashable:
        """Requests (and queued jobs) with equal keys may share one `generate` call."""
        ...

    def generate(
        self,
        batch: Sequence[GenerationRequest],
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> list[Audio]:
        """One `Audio` per request, in order, each `round(duration_s * sample_rate_hz)` long."""
        ...


def run_batch(
    engine: FoleyEngine,
    batch: Sequence[GenerationRequest],
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> list[Audio]:
    """Call `engine.generate` and hold it to the contract (Ray Serve fails the whole batch when a
    batched function returns the wrong count; so do we, loudly, as a non-retryable bug)."""
    if not batch:
        return []
    keys = {engine.batch_key(r.shape) for r in batch}
    if len(keys) != 1:
        raise ValueError(f"a batch must share one batch key, got {len(keys)}")
    outputs = engine.generate(batch, progress, cancelled)
    if len(outputs) != len(batch):
        raise EngineError(
            f"engine {engine.name!r} returned {len(outputs)} outputs for {len(batch)} requests",
            retryable=False,
            code="engine_contract",
        )
    rate = engine.profile.sample_rate_hz
    for request, audio in zip(batch, outputs, strict=True):
        expected = round(request.duration_s * rate)
        if audio.sample_rate_hz != rate or audio.n_samples != expected:
            raise EngineError(
                f"engine {engine.name!r} returned {audio.n_samples} samples at "
                f"{audio.sample_rate_hz} Hz; expected {expected} at {rate} Hz",
                retryable=False,
                code="engine_contract",
            )
    return outputs
