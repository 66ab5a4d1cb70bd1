"""PyAV containers: opening inputs (PyAV's errors translated to ours where they enter) and adding
typed output streams.

Every module of the media layer opens its inputs here, so a missing file, an empty file or bytes
that are not media get one error code everywhere. `probe` then looks closer (image, audio-only,
truncated, limits); this module only answers "can PyAV open it at all".
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.stream import Disposition
from av.video.stream import VideoStream

from foleyserve.errors import InvalidInput

HEADER_BYTES = 64
"""How much of a file's start `read_header` returns: enough for every signature we check."""


def read_header(path: Path) -> bytes:
    """The first `HEADER_BYTES` bytes of `path` (fewer for a shorter file). Raises
    `InvalidInput` (`file_unreadable`) when the file cannot be read."""
    try:
        with path.open("rb") as f:
            return f.read(HEADER_BYTES)
    except OSError as exc:
        raise InvalidInput(
            f"{path.name} cannot be read ({exc.strerror}). Check the file's permissions.",
            code="file_unreadable",
        ) from exc


def looks_like_iso_bmff(header: bytes) -> bool:
    """An MP4/MOV/M4A/3GP file starts with a box whose type is `ftyp` (or, in old QuickTime
    files, `moov`/`mdat`/`wide`/`free` at offset 4)."""
    return len(header) >= 8 and header[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")


def looks_like_matroska(header: bytes) -> bool:
    """Matroska and WebM start with the EBML magic number."""
    return header.startswith(b"\x1a\x45\xdf\xa3")


def check_readable_file(path: Path) -> int:
    """The size of `path` in bytes; raises `file_not_found` or `empty_file`."""
    if not path.exists():
        raise InvalidInput(
            f"{path} does not exist. Check the path and upload the file again.",
            code="file_not_found",
        )
    if not path.is_file():
        raise InvalidInput(
            f"{path} is not a regular file (found a directory or a device). Send a media file.",
            code="file_not_found",
        )
    size_bytes = path.stat().st_size
    if size_bytes == 0:
        raise InvalidInput(
            f"{path.name} is empty (0 bytes). The upload may have failed; send the file again.",
            code="empty_file",
        )
    return size_bytes


def open_input(path: Path, *, kind: Literal["video", "audio"] = "video") -> InputContainer:
    """Open `path` for reading. The caller closes the container (use it as a context manager).

    Raises `InvalidInput` with code `file_not_found`, `empty_file`, `file_unreadable` (no
    permission), `truncated_file` (an MP4 or Matroska header but PyAV cannot open the rest, e.g.
    an MP4 cut before its `moov` index) or, when PyAV cannot open it at all, `not_a_video`
    (kind "video") or `not_a_media_file` (kind "audio").
    """
    check_readable_file(path)
    try:
        # "replace": a tag in a broken text encoding must not make a playable file unreadable.
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.PermissionError as exc:
        raise InvalidInput(
            f"{path.name} cannot be read (permission denied). Check the file's permissions.",
            code="file_unreadable",
        ) from exc
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise _open_failure(path, kind, exc) from exc


def _open_failure(path: Path, kind: Literal["video", "audio"], exc: Exception) -> InvalidInput:
    header = read_header(path)
    if looks_like_iso_bmff(header) or looks_like_matroska(header):
        container = "MP4/MOV" if looks_like_iso_bmff(header) else "Matroska/WebM"
        return InvalidInput(
            f"{path.name} starts like a {container} file but cannot be opened ({exc_text(exc)}): "
            "it is probably truncated (an incomplete upload or copy). Send the complete file.",
            code="truncated_file",
        )
    if kind == "video":
        return InvalidInput(
            f"{path.name} is not a video file that can be read ({exc_text(exc)}). "
            "Send a video such as MP4 (H.264), WebM or MOV.",
            code="not_a_video",
        )
    return InvalidInput(
        f"{path.name} is not a media file that can be read ({exc_text(exc)}). "
        "Send an audio file (WAV, FLAC, MP3, M4A, Opus) or a video with a sound track.",
        code="not_a_media_file",
    )


def exc_text(exc: BaseException) -> str:
    """A short, user-safe description of a PyAV error: its message without the file path."""
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


def first_video_stream(container: InputContainer) -> VideoStream | None:
    """The first real video stream: cover art (an `attached_pic`, as in MP3 or M4A files) is
    not video and is skipped."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def add_audio_stream(out: OutputContainer, codec: str, rate_hz: int) -> AudioStream:
    """`out.add_stream` for an audio codec, typed as such."""
    stream = out.add_stream(codec, rate=rate_hz)
    if not isinstance(stream, AudioStream):
        raise TypeError(f"{codec} is not an audio codec")
    return stream


def add_video_stream(
    out: OutputContainer, codec: str, rate: Fraction, options: dict[str, str]
) -> VideoStream:
    """`out.add_stream` for a video codec, typed as such."""
    stream = out.add_stream(codec, rate=rate, options=options)
    if not isinstance(stream, VideoStream):
        raise TypeError(f"{codec} is not a video codec")
    return stream
