"""Probe a media file: what it is, how long, which streams; and refuse what we cannot use.

`probe` reads the container header and then demuxes every packet (reads, never decodes), which
costs one pass of file I/O and no decoding. The packet scan is what finds truncated files (the
header promises more than the file holds), single-frame "videos" (images) and variable frame
rates.

Refusals, each an `InvalidInput` with a stable code; the message names what was found, the limit,
and what to do:

    file_not_found     the path does not exist (or is not a regular file)
    empty_file         zero bytes
    file_too_large     over `MediaLimits.max_file_bytes`
    file_unreadable    no permission to read it
    image_not_video    a still image (PNG, JPEG, ... or a video stream with a single frame)
    not_a_video        PyAV cannot open it (text, random bytes)
    no_video_stream    opens, but has no video stream (e.g. an audio-only file)
    unsupported_codec  the video codec has no decoder in this build
    invalid_dimensions width/height over the maxima or under `min_side`
    truncated_file     the file ends before its header says it does
    invalid_duration   zero, negative or unknown duration
    video_too_long     over `MediaLimits.max_duration_s`
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import av.codec
import av.error
from av.audio.codeccontext import AudioCodecContext
from av.codec.context import CodecContext
from av.container import InputContainer
from av.stream import Stream
from av.video.codeccontext import VideoCodecContext
from av.video.stream import VideoStream

from foleyserve.errors import InvalidInput
from foleyserve.media.container import (
    check_readable_file,
    exc_text,
    first_video_stream,
    open_input,
    read_header,
)


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


IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"qoif", "QOI"),
)
IMAGE_DEMUXERS = frozenset({"image2", "webp", "apng"})
"""Besides these, every demuxer named `*_pipe` (png_pipe, jpeg_pipe, ...) reads images."""

VFR_SAMPLE_PACKETS = 240
"""How many leading video timestamps the variable-frame-rate check compares."""
VFR_RELATIVE_SPREAD = 0.1
"""Frame gaps differing by more than this fraction of the typical gap make a variable rate."""
TRUNCATION_TOLERANCE_FRAMES = 2.5
TRUNCATION_TOLERANCE_FRACTION = 0.02


def probe(path: Path, limits: MediaLimits = MediaLimits()) -> VideoInfo:
    """Describe the video at `path`, or raise `InvalidInput` saying why it cannot be used.

    Cheap checks run first (size, image signatures, header fields), then one demux pass over
    all packets. `duration_s` is the video stream's own duration (an audio track that runs
    longer does not count); `fps` is the stream's average rate.
    """
    size_bytes = check_readable_file(path)
    if size_bytes > limits.max_file_bytes:
        raise InvalidInput(
            f"{path.name} is {size_bytes / 1e6:.1f} MB; the limit is "
            f"{limits.max_file_bytes / 1e6:.1f} MB. Send a shorter or more compressed video.",
            code="file_too_large",
        )
    image = _image_signature(read_header(path))
    if image is not None:
        raise _image_error(path, f"a {image} image")
    with open_input(path) as container:
        return _probe_open(path, container, size_bytes, limits)


def _probe_open(
    path: Path, container: InputContainer, size_bytes: int, limits: MediaLimits
) -> VideoInfo:
    format_name = container.format.name
    if format_name in IMAGE_DEMUXERS or format_name.endswith("_pipe"):
        raise _image_error(path, f"an image (read as {format_name})")
    stream = first_video_stream(container)
    if stream is None:
        raise _no_video_error(path, container)
    ctx = _check_codec(path, stream)
    _check_dimensions(path, ctx.width, ctx.height, limits)
    own_s = _stream_duration_s(stream)
    if own_s is not None and own_s > limits.max_duration_s:
        raise _too_long_error(path, own_s, limits)  # before reading the whole file
    scan = _scan_packets(path, container, stream)
    if scan.video_packets <= 1 and stream.frames <= 1:
        raise _image_error(path, "a single frame (a still image)")
    fps = _average_fps(stream)
    _check_truncated(path, container, stream, scan, fps)
    duration_s = _video_duration_s(container, stream, scan, fps)
    if duration_s is None or not math.isfinite(duration_s) or duration_s <= 0:
        raise InvalidInput(
            f"{path.name} has no usable duration (found {duration_s}). The file may be damaged "
            "or a live stream dump; re-export it as an MP4 and send it again.",
            code="invalid_duration",
        )
    if duration_s > limits.max_duration_s:
        raise _too_long_error(path, duration_s, limits)
    if fps <= 0:
        fps = scan.video_packets / duration_s
    audio = container.streams.audio[0] if container.streams.audio else None
    audio_ctx = None if audio is None else cast("AudioCodecContext | None", _codec_context(audio))
    return VideoInfo(
        container=format_name,
        size_bytes=size_bytes,
        duration_s=duration_s,
        width=ctx.width,
        height=ctx.height,
        fps=fps,
        variable_fps=scan.is_variable_rate(),
        video_codec=ctx.name,
        frame_count=stream.frames or None,
        audio_codec=None if audio is None else _codec_name(audio),
        audio_sample_rate_hz=None if audio_ctx is None else audio_ctx.sample_rate,
        audio_channels=None if audio_ctx is None else audio_ctx.channels,
        streams=tuple(
            StreamInfo(index=s.index, kind=s.type, codec=_codec_name(s)) for s in container.streams
        ),
    )


def _image_signature(header: bytes) -> str | None:
    for magic, name in IMAGE_SIGNATURES:
        if header.startswith(magic):
            return name
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return "WebP"
    return None


def _image_error(path: Path, found: str) -> InvalidInput:
    return InvalidInput(
        f"{path.name} is {found}, not a video: at least two frames are needed. "
        "Send a video clip (MP4, WebM, MOV).",
        code="image_not_video",
    )


def _no_video_error(path: Path, container: InputContainer) -> InvalidInput:
    audio = [_codec_name(s) for s in container.streams.audio]
    if audio:
        found = f"an audio-only file (audio codec {', '.join(audio)})"
    else:
        kinds: list[str] = [s.type for s in container.streams] or ["no streams at all"]
        found = f"a file without video (streams: {', '.join(kinds)})"
    return InvalidInput(
        f"{path.name} is {found}; a video stream is needed. Send the video, not its sound track.",
        code="no_video_stream",
    )


def _codec_context(stream: Stream) -> CodecContext | None:
    # PyAV's stubs say `codec_context` is always set; it is None when the build has no decoder
    # for the stream's codec (or the codec is unknown).
    return cast("CodecContext | None", stream.codec_context)


def _codec_name(stream: Stream) -> str:
    ctx = _codec_context(stream)
    return "unknown" if ctx is None else ctx.name


def _check_codec(path: Path, stream: VideoStream) -> VideoCodecContext:
    ctx = cast("VideoCodecContext | None", _codec_context(stream))
    if ctx is not None and _has_decoder(ctx.name):
        return ctx
    found = "an unknown codec" if ctx is None else f"codec {ctx.name}"
    raise InvalidInput(
        f"{path.name}'s video uses {found}, which this server cannot decode. "
        "Re-encode it as H.264 (MP4) or VP9 (WebM) and send it again.",
        code="unsupported_codec",
    )


def _has_decoder(codec_name: str) -> bool:
    try:
        av.codec.Codec(codec_name, "r")
    except av.codec.codec.UnknownCodecError:
        return False
    return True


def _check_dimensions(path: Path, width: int, height: int, limits: MediaLimits) -> None:
    too_big = width > limits.max_width or height > limits.max_height
    too_small = min(width, height) < limits.min_side
    if too_big or too_small:
        bound = (
            f"the maximum is {limits.max_width}x{limits.max_height}"
            if too_big
            else f"each side must be at least {limits.min_side} pixels"
        )
        raise InvalidInput(
            f"{path.name} is {width}x{height} pixels; {bound}. Resize the video and send it again.",
            code="invalid_dimensions",
        )


def _too_long_error(path: Path, duration_s: float, limits: MediaLimits) -> InvalidInput:
    return InvalidInput(
        f"{path.name} lasts {duration_s:.2f} s; the limit is {limits.max_duration_s:g} s. "
        "Trim the video and send the part you need.",
        code="video_too_long",
    )


def _stream_duration_s(stream: VideoStream) -> float | None:
    """The video stream's own duration from the header (MP4 and MOV have one)."""
    if stream.duration and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _video_duration_s(
    container: InputContainer, stream: VideoStream, scan: _PacketScan, fps: float
) -> float | None:
    """The video stream's own duration from its header (MP4, MOV), else the span of its
    packets (Matroska/WebM give no per-stream duration; the container's may include a longer
    audio track), else the container's."""
    own_s = _stream_duration_s(stream)
    if own_s is not None:
        return own_s
    extent_s = scan.video_extent_s(fps)
    if extent_s is not None:
        return extent_s
    return container.duration / 1_000_000 if container.duration else None


def _average_fps(stream: VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return 0.0


@dataclass
class _PacketScan:
    """What one demux pass found."""

    time_base: Fraction
    video_packets: int = 0
    video_first_pts: int | None = None
    video_end_pts: int | None = None
    video_pts_sample: list[int] = field(default_factory=list)
    stream_extent_s: dict[int, tuple[float, float]] = field(default_factory=dict)
    """stream index -> (first time, end time) in seconds."""

    def video_extent_s(self, fps: float) -> float | None:
        if self.video_first_pts is None or self.video_end_pts is None:
            return None
        extent_s = float((self.video_end_pts - self.video_first_pts) * self.time_base)
        return extent_s if extent_s > 0 or fps <= 0 else 1 / fps

    def file_extent_s(self) -> float:
        return max((end - start for start, end in self.stream_extent_s.values()), default=0.0)

    def is_variable_rate(self) -> bool:
        """True when the gaps between the first frames' timestamps differ by more than
        `VFR_RELATIVE_SPREAD` of the median gap (and by more than 2 time-base ticks, which
        absorbs the rounding of a constant rate to a coarse time base such as 1/1000)."""
        pts = sorted(set(self.video_pts_sample))
        gaps = [b - a for a, b in itertools.pairwise(pts)]
        if len(gaps) < 2:
            return False
        median = sorted(gaps)[len(gaps) // 2]
        return max(gaps) - min(gaps) > max(2, VFR_RELATIVE_SPREAD * median)


def _scan_packets(path: Path, container: InputContainer, video: VideoStream) -> _PacketScan:
    scan = _PacketScan(time_base=video.time_base or Fraction(1, 1))
    try:
        for packet in container.demux():
            if packet.size == 0:
                continue
            if packet.stream.index == video.index:
                # Counted even without timestamps (raw elementary streams have none), so such
                # a file is refused for its unknown duration, not mistaken for a still image.
                scan.video_packets += 1
            if packet.pts is None or packet.time_base is None:
                continue
            end_pts = packet.pts + (packet.duration or 0)
            first_s, end_s = float(packet.pts * packet.time_base), float(end_pts * packet.time_base)
            index = packet.stream.index
            old = scan.stream_extent_s.get(index, (first_s, end_s))
            scan.stream_extent_s[index] = (min(old[0], first_s), max(old[1], end_s))
            if index != video.index:
                continue
            if len(scan.video_pts_sample) < VFR_SAMPLE_PACKETS:
                scan.video_pts_sample.append(packet.pts)
            if scan.video_first_pts is None or packet.pts < scan.video_first_pts:
                scan.video_first_pts = packet.pts
            if scan.video_end_pts is None or end_pts > scan.video_end_pts:
                scan.video_end_pts = end_pts
    except av.error.FFmpegError as exc:
        raise InvalidInput(
            f"{path.name} could not be read to the end: reading stopped after "
            f"{scan.file_extent_s():.2f} s ({exc_text(exc)}). The file is truncated or damaged; "
            "send the complete file.",
            code="truncated_file",
        ) from exc
    return scan


def _check_truncated(
    path: Path, container: InputContainer, stream: VideoStream, scan: _PacketScan, fps: float
) -> None:
    """Refuse a file whose packets stop before its header says: fewer video frames than the
    header counts, or packets ending well before the declared duration (by more than
    `TRUNCATION_TOLERANCE_FRAMES` frames and `TRUNCATION_TOLERANCE_FRACTION` of it)."""
    declared_frames = stream.frames
    if declared_frames > 0 and scan.video_packets < declared_frames:
        found = f"{scan.video_packets} of the {declared_frames} frames its header lists"
    else:
        declared_s = (container.duration or 0) / 1_000_000
        found_s = scan.file_extent_s()
        frame_s = 1 / fps if fps > 0 else 0.0
        tolerance_s = max(
            TRUNCATION_TOLERANCE_FRAMES * frame_s, TRUNCATION_TOLERANCE_FRACTION * declared_s
        )
        if declared_s <= 0 or found_s >= declared_s - tolerance_s:
            return
        found = f"{found_s:.2f} s of the {declared_s:.2f} s its header declares"
    raise InvalidInput(
        f"{path.name} holds only {found}: it is truncated (an incomplete upload or copy). "
        "Send the complete file.",
        code="truncated_file",
    )
