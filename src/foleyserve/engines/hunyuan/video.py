"""A video to HunyuanVideo-Foley's visual conditions, decoded once and streamed through the
encoders; and the sequence lengths a request of a given duration runs at.

One pass of the media layer's decoder yields the frames at 8 fps (SigLIP2) and at 25 fps
(Synchformer), both picked with the official running-sum rule, at the source size (both specs
share one RGB conversion per source frame). They are preprocessed exactly as the official code
does (`preprocess.py`) and encoded in chunks as they arrive, so memory stays bounded on a
ten-minute video. Unlike the official code there is no 15 s cut: a long video is analysed
whole, once, and the pipeline's segments slice the features (`VideoFeatures.window`).

Tracks of the resulting `VideoFeatures`:

| track | rate | values | meaning |
|---|---|---|---|
| `siglip2` | 8 Hz | [n8, D] | one pooled SigLIP2 vector per 8 fps frame |
| `synchformer` | 25/8 Hz | [W, 8, D] | window w covers 25 fps frames 8w..8w+15 (stride 8) |

Keeping whole windows as rows means a segment's slice starts on a window boundary, so the DiT's
per-window position embedding stays in phase. The engine then fits a slice (`fit_rows`) to the
exact lengths of the request's duration (trimmed, or padded by repeating the last row at the
very end of a video, where the official code would have stopped a few frames earlier).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from foleyserve.engines.base import FeatureTrack, ProgressFn, VideoFeatures
from foleyserve.engines.hunyuan.encoders import VisualEncoder
from foleyserve.engines.hunyuan.preprocess import (
    SIGLIP2_FPS,
    SYNCHFORMER_FPS,
    TOKENS_PER_WINDOW,
    WINDOW_FRAMES,
    WINDOW_STRIDE,
    latent_length,
    siglip2_pixels,
    sync_window_count,
    sync_windows,
    synchformer_pixels,
)
from foleyserve.engines.hunyuan.synchformer import Synchformer, sync_features
from foleyserve.errors import InvalidInput
from foleyserve.media.decode import Frame, FrameSpec, iter_frames
from foleyserve.media.probe import VideoInfo

VISUAL_FPS = float(SIGLIP2_FPS)
SYNC_FPS = float(SYNCHFORMER_FPS)
VISUAL_TRACK = "siglip2"
SYNC_TRACK = "synchformer"
STAGES = ("decode", "preprocess", "siglip2", "synchformer")


@dataclass(frozen=True)
class SequenceLengths:
    """The DiT's sequence lengths for one request: equal for equal durations, so requests of
    one duration share a batch."""

    latent: int
    """Audio latents, 50 per second (960 samples each at 48 kHz)."""
    visual: int
    """SigLIP2 frames at 8 fps."""
    sync_windows: int
    """Synchformer windows of 16 frames at 25 fps, stride 8 (8 tokens each)."""

    @property
    def sync_tokens(self) -> int:
        return self.sync_windows * TOKENS_PER_WINDOW


def sequence_lengths(duration_s: float) -> SequenceLengths:
    """The official lengths for a clip of `duration_s`, from n25 = round(25 d) frames at 25 fps:
    `int(n25 / 25 * 50)` latents, (n25 - 16) // 8 + 1 Synchformer windows (at least one, for
    text-only clips shorter than a window), and n8 = round(8 d) frames at 8 fps."""
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    n25 = max(1, round(duration_s * SYNC_FPS))
    return SequenceLengths(
        latent=max(1, latent_length(n25)),
        visual=max(1, round(duration_s * VISUAL_FPS)),
        sync_windows=sync_window_count(max(WINDOW_FRAMES, n25)),
    )


def fit_rows(values: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.float32]:
    """Exactly `count` rows: the first `count`, or all of them with the last one repeated."""
    if values.shape[0] == 0:
        raise ValueError("cannot fit an empty feature track")
    if values.shape[0] >= count:
        return values[:count]
    pad = np.repeat(values[-1:], count - values.shape[0], axis=0)
    return np.concatenate([values, pad])


class VideoAnalyzer:
    """Decodes a video once and runs SigLIP2 and Synchformer over it in bounded chunks."""

    def __init__(
        self,
        visual: VisualEncoder,
        synchformer: Synchformer,
        *,
        sync_autocast: torch.dtype | None = None,
        frames_per_chunk: int = 32,
        windows_per_chunk: int = 16,
        resize_threads: int | None = None,
    ) -> None:
        """`resize_threads`: frames Pillow resizes at once for SigLIP2 (None: up to 8 cores)."""
        self.visual = visual
        self.synchformer = synchformer
        self.sync_autocast = sync_autocast
        self.frames_per_chunk = frames_per_chunk
        self.windows_per_chunk = windows_per_chunk
        self.resize_threads = resize_threads or max(1, min(8, os.cpu_count() or 1))
        self.last_timings_s: dict[str, float] = {}
        """Seconds of the last `analyze` per stage: decode, preprocess, siglip2, synchformer."""

    def analyze(
        self,
        video: Path,
        info: VideoInfo,
        feature_version: str,
        progress: ProgressFn | None = None,
    ) -> VideoFeatures:
        """The `siglip2` and `synchformer` tracks of the whole video (see the module docstring)."""
        specs = [
            FrameSpec(VISUAL_TRACK, VISUAL_FPS, info.width, info.height),
            FrameSpec(SYNC_TRACK, SYNC_FPS, info.width, info.height),
        ]
        self.last_timings_s = dict.fromkeys(STAGES, 0.0)
        visual = _Chunked(self.frames_per_chunk, self._encode_visual)
        sync = _SyncWindows(
            self.frames_per_chunk, self.windows_per_chunk, self._encode_windows, self._timed
        )
        expected = max(1, round(info.duration_s * SYNC_FPS))
        for frame in self._timed_frames(iter_frames(video, specs)):
            if frame.spec == VISUAL_TRACK:
                visual.add(frame)
            else:
                sync.add(frame)
                if progress is not None and frame.index % 25 == 0:
                    progress(min(frame.index, expected), expected)
        visual_values, sync_values = visual.finish(), sync.finish()
        if visual_values.shape[0] == 0 or sync_values.shape[0] == 0:
            raise InvalidInput(
                f"no picture could be decoded from {video.name}. Send a video with frames.",
                code="no_frames",
            )
        if progress is not None:
            progress(expected, expected)
        return VideoFeatures(
            feature_version=feature_version,
            duration_s=info.duration_s,
            tracks={
                VISUAL_TRACK: FeatureTrack(VISUAL_FPS, visual_values),
                SYNC_TRACK: FeatureTrack(SYNC_FPS / WINDOW_STRIDE, sync_values),
            },
        )

    def _timed_frames(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        while True:
            start = time.perf_counter()
            frame = next(frames, None)
            self.last_timings_s["decode"] += time.perf_counter() - start
            if frame is None:
                return
            yield frame

    def _timed(self, stage: str, start: float) -> None:
        self.last_timings_s[stage] += time.perf_counter() - start

    def _encode_visual(self, frames: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        start = time.perf_counter()
        pixels = siglip2_pixels(frames, threads=self.resize_threads)
        self._timed("preprocess", start)
        start = time.perf_counter()
        # .cpu() waits for the device, so the time is the encoder's own.
        out = self.visual.encode(pixels).cpu().numpy().astype(np.float32, copy=False)
        self._timed("siglip2", start)
        return out

    def _encode_windows(self, windows: torch.Tensor) -> npt.NDArray[np.float32]:
        start = time.perf_counter()
        out = sync_features(self.synchformer, windows, autocast_dtype=self.sync_autocast)
        result = out.cpu().numpy().astype(np.float32, copy=False)
        self._timed("synchformer", start)
        return result


class _Chunked:
    """Collects frames and encodes them `size` at a time."""

    def __init__(
        self,
        size: int,
        encode: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]],
    ) -> None:
        self.size, self.encode = size, encode
        self.pending: list[npt.NDArray[np.uint8]] = []
        self.done: list[npt.NDArray[np.float32]] = []

    def add(self, frame: Frame) -> None:
        self.pending.append(frame.pixels)
        if len(self.pending) >= self.size:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.done.append(self.encode(np.stack(self.pending)))
            self.pending = []

    def finish(self) -> npt.NDArray[np.float32]:
        self._flush()
        if not self.done:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(self.done)


class _SyncWindows:
    """25 fps frames to Synchformer windows (16 frames, stride 8), encoded in chunks.

    Frames are preprocessed `frames_per_chunk` at a time into a buffer that always starts on a
    window boundary; complete windows are cut from it, and the last 16 - 8 frames kept for the
    next window's overlap. Frames after the last complete window are dropped, as officially;
    a video shorter than one window is padded with its last frame.
    """

    def __init__(
        self,
        frames_per_chunk: int,
        windows_per_chunk: int,
        encode: Callable[[torch.Tensor], npt.NDArray[np.float32]],
        timed: Callable[[str, float], None],
    ) -> None:
        self.frames_per_chunk, self.windows_per_chunk = frames_per_chunk, windows_per_chunk
        self.encode, self.timed = encode, timed
        self.raw: list[npt.NDArray[np.uint8]] = []
        self.buffer: torch.Tensor | None = None
        self.windows: list[torch.Tensor] = []
        self.done: list[npt.NDArray[np.float32]] = []
        self.windows_made = 0

    def add(self, frame: Frame) -> None:
        self.raw.append(frame.pixels)
        if len(self.raw) >= self.frames_per_chunk:
            self._preprocess()

    def _preprocess(self) -> None:
        if not self.raw:
            return
        start = time.perf_counter()
        pixels = synchformer_pixels(np.stack(self.raw))
        self.timed("preprocess", start)
        self.raw = []
        self.buffer = pixels if self.buffer is None else torch.cat([self.buffer, pixels])
        if self.buffer.shape[0] >= WINDOW_FRAMES:
            cut = sync_windows(self.buffer)
            self.windows.append(cut)
            self.windows_made += cut.shape[0]
            self.buffer = self.buffer[cut.shape[0] * WINDOW_STRIDE :]
            if sum(w.shape[0] for w in self.windows) >= self.windows_per_chunk:
                self._encode()

    def _encode(self) -> None:
        if self.windows:
            self.done.append(self.encode(torch.cat(self.windows)))
            self.windows = []

    def finish(self) -> npt.NDArray[np.float32]:
        self._preprocess()
        if self.windows_made == 0 and self.buffer is not None:
            sync_windows(self.buffer)  # fewer frames than one window: InvalidInput, as officially
        self._encode()
        if not self.done:
            return np.zeros((0, TOKENS_PER_WINDOW, 0), np.float32)
        return np.concatenate(self.done)
