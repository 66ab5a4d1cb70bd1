"""Encoding frames into a video file with exact timestamps (and an optional sound track).

The synthetic videos are written through `write_video`; the container follows the path's
suffix (`CONTAINERS`). Timestamps are exact: a constant-rate video uses the time base 1/fps, so
frame i is at exactly i/fps; a variable-rate one uses 1/90000 s. (WebM and Matroska store
milliseconds, so there a time is rounded to the nearest millisecond.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.video.stream import VideoStream

from foleyserve.errors import OutputError
from foleyserve.media.audio import Audio, encoder_rate_hz, resample
from foleyserve.media.audio_feed import AudioFeed
from foleyserve.media.container import add_video_stream
from foleyserve.media.output import atomic_output

VFR_TIME_BASE = Fraction(1, 90_000)
AUDIO_BITRATE_BPS = 96_000


@dataclass(frozen=True)
class Container:
    """How a file with a given suffix is written."""

    format: str
    video_codec: str
    audio_codec: str


CONTAINERS: dict[str, Container] = {
    ".mp4": Container("mp4", "libx264", "aac"),
    ".m4v": Container("mp4", "libx264", "aac"),
    ".mov": Container("mov", "libx264", "aac"),
    ".mkv": Container("matroska", "libx264", "libopus"),
    ".webm": Container("webm", "libvpx-vp9", "libopus"),
}

CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"preset": "veryfast", "crf": "20"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32"},
}
EVEN_SIZE_CODECS = frozenset({"libx264"})
"""Encoders that refuse odd widths or heights in yuv420p."""


def container_for(path: Path) -> Container:
    """The container for `path`'s suffix; `ValueError` for a suffix we do not write."""
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(CONTAINERS))
        raise ValueError(f"cannot write {path.suffix!r} videos; use one of {known}") from None


def encodable_size(codec: str, width: int, height: int) -> tuple[int, int]:
    """The size `codec` will actually encode: even sides (rounded down) for libx264."""
    if width < 1 or height < 1:
        raise ValueError(f"video size must be positive, got {width}x{height}")
    if codec in EVEN_SIZE_CODECS:
        return max(2, width - width % 2), max(2, height - height % 2)
    return width, height


def frame_times_s(duration_s: float, fps: float, *, variable_fps: bool = False) -> list[float]:
    """Presentation times of the frames of a `duration_s` video: i/fps for a constant rate;
    for a variable rate the gaps alternate 1/fps and 1.5/fps (1/30 s and 1/20 s at 30 fps)."""
    if duration_s <= 0 or fps <= 0:
        raise ValueError(f"duration_s and fps must be positive, got {duration_s}, {fps}")
    if not variable_fps:
        return [i / fps for i in range(max(1, round(duration_s * fps)))]
    times, t, i = [], 0.0, 0
    while t < duration_s - 1e-9:
        times.append(t)
        t += (1.0 if i % 2 == 0 else 1.5) / fps
        i += 1
    return times


def write_video(
    path: Path,
    frames: Iterable[tuple[float, av.VideoFrame]],
    *,
    width: int,
    height: int,
    fps: float,
    codec: str | None = None,
    variable_fps: bool = False,
    audio: Audio | None = None,
    options: dict[str, str] | None = None,
) -> None:
    """Encode `frames`, pairs of (presentation time in seconds, frame of any size and pixel
    format), into `path`, atomically.

    `fps` is the nominal rate; with `variable_fps` the time base is 1/90000 s so any time can be
    stamped, otherwise it is 1/fps and times are rounded to whole frames. `audio`, when given,
    becomes a second stream (AAC or Opus by container), interleaved with the video. `codec`
    defaults to the container's (`CONTAINERS`); `options` add to `CODEC_OPTIONS`. Raises
    `OutputError` when the file cannot be written or the encoder refuses the settings.
    """
    container = container_for(path)
    codec = codec or container.video_codec
    width, height = encodable_size(codec, width, height)
    rate = Fraction(fps).limit_denominator(1001)
    time_base = VFR_TIME_BASE if variable_fps else 1 / rate
    with atomic_output(path) as temp:
        try:
            with av.open(str(temp), mode="w", format=container.format) as out:
                video = add_video_stream(
                    out, codec, rate, {**CODEC_OPTIONS.get(codec, {}), **(options or {})}
                )
                _configure_video(video, width, height, time_base)
                feed = None
                if audio is not None:
                    rate_hz = encoder_rate_hz(container.audio_codec, audio.sample_rate_hz)
                    feed = AudioFeed(
                        out,
                        container.audio_codec,
                        resample(audio, rate_hz),
                        bit_rate_bps=AUDIO_BITRATE_BPS,
                    )
                for time_s, frame in frames:
                    if feed is not None:
                        feed.write_until(time_s)
                    if (frame.width, frame.height, frame.format.name) != (width, height, "yuv420p"):
                        frame = frame.reformat(width=width, height=height, format="yuv420p")
                    frame.pts = round(time_s / time_base)
                    frame.time_base = time_base
                    out.mux(video.encode(frame))
                out.mux(video.encode(None))
                if feed is not None:
                    feed.finish()
        except av.error.FFmpegError as exc:
            raise OutputError(
                f"Cannot write {path} with {codec} at {width}x{height}: {exc}.",
                code="output_unwritable",
            ) from exc


def _configure_video(stream: VideoStream, width: int, height: int, time_base: Fraction) -> None:
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if stream.codec_context.name == "mpeg4":
        # mpeg4's default 200 kb/s turns a moving ball into blocks.
        stream.bit_rate = max(1_000_000, width * height * 8)
