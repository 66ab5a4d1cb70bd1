"""`NullEngine`: returns silence at once. For measuring the scheduler and queue alone (the
engine costs nothing, so what is left is our overhead) and for queue tests that need many jobs
to finish quickly. Never a user-facing choice: it makes no sound."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

from foleyserve.engines.base import (
    CancelledFn,
    EngineProfile,
    FeatureTrack,
    GenerationRequest,
    LinearMemoryModel,
    ProgressFn,
    RequestShape,
    TextFeatures,
    VideoFeatures,
)
from foleyserve.media.audio import Audio
from foleyserve.media.probe import VideoInfo


class NullEngine:
    name = "null"
    version = "1"
    feature_version = "null-1"
    text_version = "null-1"

    def __init__(self, sample_rate_hz: int = 16_000) -> None:
        self.profile = EngineProfile(
            sample_rate_hz=sample_rate_hz,
            channels=1,
            max_segment_s=600.0,
            segment_s=600.0,
            segment_overlap_s=1.0,
            max_batch_size=64,
            memory=LinearMemoryModel(fixed_bytes=0, bytes_per_item_s=0.0),
        )

    def analyze_video(
        self, video: Path, info: VideoInfo, progress: ProgressFn | None = None
    ) -> VideoFeatures:
        empty = FeatureTrack(1.0, np.zeros(max(1, round(info.duration_s)), np.float32))
        return VideoFeatures(self.feature_version, info.duration_s, {"nothing": empty})

    def encode_text(self, prompts: Sequence[tuple[str, str]]) -> list[TextFeatures]:
        return [TextFeatures(self.text_version, p, n) for p, n in prompts]

    def batch_key(self, shape: RequestShape) -> Hashable:
        return self.name

    def generate(
        self,
        batch: Sequence[GenerationRequest],
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> list[Audio]:
        rate = self.profile.sample_rate_hz
        if progress is not None:
            progress(1, 1)
        return [Audio.silence(round(r.duration_s * rate), rate, channels=1) for r in batch]
