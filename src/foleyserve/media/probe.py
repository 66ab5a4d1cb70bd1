"""Probe a media file: what it is, how long, which streams; and refuse what we cannot use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str
    """"video", "audio", "subtitle", "data", ..."""
    codec: str


@dataclass(frozen=True)
class VideoInfo:
    container: str
    """PyAV's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"."""
    size_bytes: int
    duration_s: float
    width: int
    height: int
    fps: float
    """Average frame rate."""
    variable_fps: bool
    video_codec: str
    frame_count: int | None
    """From the container when it says; None when unknown."""
    audio_codec: str | None
    audio_sample_rate_hz: int | None
    audio_channels: int | None
    streams: tuple[StreamInfo, ...]

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


@dataclass(frozen=True)
class MediaLimits:
    """What we accept. Every refusal names the value found and the limit."""

    max_duration_s: float = 600.0
    max_file_bytes: int = 2 * 1024**3
    max_width: int = 7680
    max_height: int = 4320
    min_side: int = 16
