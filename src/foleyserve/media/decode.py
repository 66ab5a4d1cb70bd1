"""Decode a video once, streaming, into several frame rates and sizes in one pass.

A model wants the same video at, say, 8 fps 512x512 (SigLIP2) and 25 fps 224x224 (Synchformer).
`iter_frames` decodes every source frame once and hands each to every `FrameSpec`; a spec with a
frame rate picks frames with HunyuanVideo-Foley's rule (`get_frames_av`): output k is the first
decoded frame whose time is >= `next`, where `next` starts at the start time and grows by
`1/fps` accumulated in float64 (not k/fps: the two differ in the last bit, and that changes
which frame is picked). When one source frame satisfies several targets (a source slower than
the spec), it is output several times. Frames later than the spec's `max_time_s` are skipped.

Resizing is swscale's (`VideoFrame.reformat`), whose kernels widen when shrinking, so they do
not alias. RGB output is converted at the source size and then resized in RGB. Measured against
HunyuanVideo-Foley's own preprocessing (shared/golden/preprocess, clip30, relative error of the
normalised pixels): SigLIP2's PIL bilinear 512x512 is 3.8e-3 away with "bilinear"; Synchformer's
torch antialiased bicubic (shorter side 224, centre crop) is 7.1e-3 away with "bicubic". Close,
not identical: swscale's kernels are not PIL's or torch's.

The generator holds O(1) frames: the source frame being distributed and one converted array per
distinct output geometry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.container import InputContainer
from av.video.stream import VideoStream

from foleyserve.errors import InvalidInput
from foleyserve.media.container import exc_text, first_video_stream, open_input

INTERPOLATIONS = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "area": "AREA"}
"""`FrameSpec.interpolation` to swscale's flag names."""
TRUNCATED_BELOW_FRACTION = 0.9
"""A decode that fails before this fraction of the expected span is reported as truncated."""

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FrameSpec:
    """One view of the video that a consumer wants.

    `fps` None means every source frame at its own time (variable rates keep their true
    times). `fit` "stretch" squashes to `width` x `height` (aspect not kept); "crop" scales
    the shorter side to fit and centre-crops the longer one. `max_time_s` skips frames later
    than it (HunyuanVideo-Foley cuts at 15 s). `interpolation` is swscale's kernel (see the
    module docstring for how close each comes to the reference resizes).
    """

    name: str
    fps: float | None
    width: int
    height: int
    fit: Literal["stretch", "crop"] = "stretch"
    pix_fmt: Literal["rgb24", "gray"] = "rgb24"
    max_time_s: float | None = None
    interpolation: Literal["bilinear", "bicubic", "area"] = "bilinear"

    def __post_init__(self) -> None:
        problem = None
        if not self.name:
            problem = "name must not be empty"
        elif self.fps is not None and not self.fps > 0:
            problem = f"fps must be positive or None, got {self.fps}"
        elif self.width < 1 or self.height < 1:
            problem = f"size must be positive, got {self.width}x{self.height}"
        elif self.max_time_s is not None and self.max_time_s < 0:
            problem = f"max_time_s must be >= 0, got {self.max_time_s}"
        if problem is not None:
            raise ValueError(f"FrameSpec {self.name!r}: {problem}")


@dataclass(frozen=True)
class Frame:
    """One output frame. `pixels` is read-only: a duplicated frame shares one array."""

    spec: str
    """`FrameSpec.name`."""
    index: int
    """0-based output index within that spec."""
    time_s: float
    """The source frame's presentation time (PyAV `frame.time`)."""
    source_index: int
    """0-based index of the source frame among those this call decoded (with `start_s` > 0,
    counted from the first frame at or after `start_s`)."""
    pixels: Pixels
    """`[H, W, 3]` for rgb24, `[H, W]` for gray."""


class _Selector:
    """The frame-picking state of one spec."""

    def __init__(self, spec: FrameSpec, start_s: float) -> None:
        self.spec = spec
        self.next_time_s = start_s
        self.step_s = 1.0 / spec.fps if spec.fps is not None else 0.0
        self.emitted = 0

    def repeats(self, time_s: float) -> int:
        """How many outputs the source frame at `time_s` makes (0, 1, or more to fill a gap)."""
        if self.done(time_s):
            return 0
        if self.spec.fps is None:
            return 1
        count = 0
        while time_s >= self.next_time_s:
            count += 1
            self.next_time_s += self.step_s
        return count

    def done(self, time_s: float) -> bool:
        return self.spec.max_time_s is not None and time_s > self.spec.max_time_s


def iter_frames(
    path: Path, specs: Sequence[FrameSpec], *, start_s: float = 0.0, end_s: float | None = None
) -> Iterator[Frame]:
    """Decode `path` once and yield the frames of every spec, in source order (for one source
    frame, specs in the order given).

    Only frames with `start_s <= time < end_s` are used; when `start_s` > 0 the decoder seeks
    to the key frame before it first. Decoding stops early once every spec is past its
    `max_time_s`.

    Broken input: a packet that fails to decode is skipped. If the stream then ends (or
    demuxing fails) before `TRUNCATED_BELOW_FRACTION` of the expected span was decoded, the
    frames decoded so far have been yielded and `InvalidInput(code="truncated_file")` is
    raised: the user sent a broken file, and a result silently missing its end would be worse.
    The expected span runs to `end_s` or the header's duration: the video stream's own (MP4,
    MOV), or, only after a decode or demux error, the container's (Matroska has no other; a
    clean early end there passes, `probe` catches it). A shortfall within the last 10% (a few
    missing frames at the end) ends quietly. Opening errors are `open_input`'s.
    """
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"FrameSpec names must be unique, got {names}")
    if end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s ({end_s}) must be after start_s ({start_s})")
    with open_input(path) as container:
        stream = first_video_stream(container)
        if stream is None:
            raise InvalidInput(
                f"{path.name} has no video stream. Send a video file.", code="no_video_stream"
            )
        stream.codec_context.thread_type = "AUTO"
        if start_s > 0:
            _seek(container, stream, start_s)
        yield from _distribute(path, container, stream, specs, start_s, end_s)


def _distribute(
    path: Path,
    container: InputContainer,
    stream: VideoStream,
    specs: Sequence[FrameSpec],
    start_s: float,
    end_s: float | None,
) -> Iterator[Frame]:
    selectors = [_Selector(spec, start_s) for spec in specs]
    frame_s = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
    source_index = 0
    last_time_s: float | None = None
    decoded = _Decoded(container, stream)
    for frame in decoded:
        time_s = _frame_time_s(frame, last_time_s, frame_s)
        if time_s < start_s:
            continue
        if (end_s is not None and time_s >= end_s) or all(s.done(time_s) for s in selectors):
            return
        last_time_s = time_s
        converted = _Conversions(frame)
        for selector in selectors:
            spec = selector.spec
            for _ in range(selector.repeats(time_s)):
                yield Frame(
                    spec.name, selector.emitted, time_s, source_index, converted.pixels(spec)
                )
                selector.emitted += 1
        source_index += 1
    decoded_end_s = start_s if last_time_s is None else last_time_s + frame_s
    # Without an error, only the video stream's own duration is trusted: a container's may
    # include a longer audio track.
    expected_end_s = _expected_end_s(
        container, stream, end_s, trust_container=decoded.failure is not None
    )
    _check_coverage(path, start_s, decoded_end_s, expected_end_s, decoded.failure)


class _Decoded:
    """Frames of one stream; a packet that fails to decode is skipped, and a demux failure
    ends the stream. `failure` describes the first problem (None when there was none)."""

    def __init__(self, container: InputContainer, stream: VideoStream) -> None:
        self.container, self.stream = container, stream
        self.failure: str | None = None

    def __iter__(self) -> Iterator[av.VideoFrame]:
        packets = self.container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                self.failure = self.failure or exc_text(exc)
                yield from self._flush()
                return
            try:
                yield from packet.decode()
            except av.error.FFmpegError as exc:
                self.failure = self.failure or exc_text(exc)

    def _flush(self) -> Iterator[av.VideoFrame]:
        try:
            yield from self.stream.decode(None)
        except av.error.FFmpegError:
            return


def _seek(container: InputContainer, stream: VideoStream, start_s: float) -> None:
    """Seek to the key frame at or before `start_s`; on failure decode from the start (the
    frames before `start_s` are skipped either way)."""
    if stream.time_base is None:
        return
    offset = int(start_s / stream.time_base) + (stream.start_time or 0)
    try:
        container.seek(offset, stream=stream, backward=True)
    except av.error.FFmpegError:
        with contextlib.suppress(av.error.FFmpegError):
            container.seek(0)


def _frame_time_s(frame: av.VideoFrame, previous_s: float | None, frame_s: float) -> float:
    """`frame.time`; a frame without a timestamp is placed one nominal frame after the last."""
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.time)
    return 0.0 if previous_s is None else previous_s + frame_s


class _Conversions:
    """The conversions of one source frame, each made once however many specs want it."""

    def __init__(self, frame: av.VideoFrame) -> None:
        self.frame = frame
        self.rgb: av.VideoFrame | None = None
        self.resized: dict[tuple[int, int, str, str, str], Pixels] = {}

    def pixels(self, spec: FrameSpec) -> Pixels:
        key = (spec.width, spec.height, spec.fit, spec.pix_fmt, spec.interpolation)
        if key not in self.resized:
            self.resized[key] = self._convert(spec)
        return self.resized[key]

    def _convert(self, spec: FrameSpec) -> Pixels:
        if spec.fit == "stretch":
            width, height = spec.width, spec.height
        else:
            width, height = cover_size(self.frame.width, self.frame.height, spec.width, spec.height)
        # Gray is the luma plane, so scaling the YUV frame scales in the output space already.
        # RGB is converted at the source size first and resized after: resizing in RGB (as PIL
        # and torch do) rather than in subsampled YUV comes 10x closer to reference resizes.
        source = self.frame if spec.pix_fmt == "gray" else self._full_size_rgb()
        scaled = source.reformat(
            width=width,
            height=height,
            format=spec.pix_fmt,
            interpolation=INTERPOLATIONS[spec.interpolation],
        )
        pixels = np.asarray(scaled.to_ndarray(), dtype=np.uint8)
        if (width, height) != (spec.width, spec.height):
            top, left = (height - spec.height) // 2, (width - spec.width) // 2
            pixels = pixels[top : top + spec.height, left : left + spec.width]
        pixels = np.ascontiguousarray(pixels)
        pixels.flags.writeable = False
        return pixels

    def _full_size_rgb(self) -> av.VideoFrame:
        if self.rgb is None:
            self.rgb = self.frame.reformat(format="rgb24")
        return self.rgb


def cover_size(width: int, height: int, target_width: int, target_height: int) -> tuple[int, int]:
    """The size that covers the target with the aspect ratio kept: the shorter side (relative
    to the target) matches, the other is truncated like torchvision's `Resize(int)` does
    (640x360 to 224 gives 398x224) and never falls below the target."""
    if width * target_height >= height * target_width:
        return max(target_width, int(width * target_height / height)), target_height
    return target_width, max(target_height, int(height * target_width / width))


def _expected_end_s(
    container: InputContainer, stream: VideoStream, end_s: float | None, *, trust_container: bool
) -> float | None:
    """Where decoding should end: the header's duration (the video stream's own, else the
    container's if trusted), bounded by `end_s`; None when unknown."""
    if stream.duration and stream.time_base is not None:
        header_s = float(stream.duration * stream.time_base)
    elif container.duration and trust_container:
        header_s = container.duration / 1_000_000
    else:
        return None
    return header_s if end_s is None else min(header_s, end_s)


def _check_coverage(
    path: Path,
    start_s: float,
    decoded_end_s: float,
    expected_end_s: float | None,
    failure: str | None,
) -> None:
    if expected_end_s is None:
        return
    if decoded_end_s - start_s >= TRUNCATED_BELOW_FRACTION * (expected_end_s - start_s):
        return
    raise InvalidInput(
        f"{path.name} could only be decoded up to {decoded_end_s:.2f} s of "
        f"{expected_end_s:.2f} s ({failure or 'the stream ends early'}): the file is "
        "truncated or damaged. "
        "Send the complete file.",
        code="truncated_file",
    )
