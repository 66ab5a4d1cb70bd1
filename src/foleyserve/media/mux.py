"""Put new audio under a video: the video stream is copied packet for packet (never re-encoded),
the audio is encoded (AAC in MP4/MOV, Opus in WebM/Matroska) and the file written atomically.

The output's container: the one `out_path`'s suffix names (.mp4, .m4v, .mov, .mkv, .webm), as a
file's name must match its format; for any other suffix, the input's own container type, or MP4
when that is not one we write, or Matroska when MP4 cannot hold the video codec. Other streams of
the input (subtitles, data, extra audio) are not copied.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from foleyserve.errors import InvalidInput, OutputError
from foleyserve.media.audio import Audio, decode_audio, encoder_rate_hz, resample
from foleyserve.media.audio_feed import AudioFeed
from foleyserve.media.container import exc_text, first_video_stream, open_input, read_header
from foleyserve.media.output import atomic_output

SUFFIX_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
AUDIO_CODECS = {"mp4": "aac", "mov": "aac", "matroska": "libopus", "webm": "libopus"}
WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1"})
FORMAT_OPTIONS = {"mp4": {"movflags": "+faststart"}, "mov": {"movflags": "+faststart"}}
"""The index (moov) goes first, so players can start before the whole file has arrived."""


def mux_audio(
    video_path: Path,
    audio: Audio,
    out_path: Path,
    *,
    original_gain_db: float | None = None,
    audio_bitrate_kbps: int = 192,
) -> None:
    """Write `video_path`'s video with `audio` as its sound to `out_path`.

    The audio is cut or zero-padded to the video stream's duration (`probe`'s) and starts where
    the video starts. `original_gain_db` None replaces the original sound; a number mixes the
    input's first audio track (decoded, converted to `audio`'s rate and channels, its first
    sample at the video's start) under the new audio at that gain in dB (e.g. -12); the sum is
    not limited, samples over full scale are clipped. A video without sound mixes nothing.
    Raises `InvalidInput` for an unusable input (`open_input`'s codes, `no_video_stream`,
    `unsupported_codec`, `truncated_file`) and `OutputError`: `output_unwritable`, or
    `unsupported_container` when `out_path`'s suffix names a container that cannot hold the
    video codec.
    """
    with open_input(video_path) as probe_input:
        video = _video_stream(video_path, probe_input)
        codec = video.codec_context.name
        out_format = output_format(out_path, video_path, probe_input.format.name, codec)
        start_s, span_s = _video_span_s(video_path, probe_input, video)
    audio_codec = AUDIO_CODECS[out_format]
    audio = resample(audio, encoder_rate_hz(audio_codec, audio.sample_rate_hz))
    audio = _fit(audio, round(span_s * audio.sample_rate_hz))
    if original_gain_db is not None:
        audio = _mix_original(video_path, audio, original_gain_db)
    with atomic_output(out_path) as temp, open_input(video_path) as source:
        try:
            _remux(source, temp, out_format, audio, audio_codec, audio_bitrate_kbps, start_s)
        except av.error.FFmpegError as exc:
            raise OutputError(
                f"Cannot write {out_path} ({out_format}): {exc_text(exc)}.",
                code="output_unwritable",
            ) from exc


def output_format(out_path: Path, video_path: Path, input_format: str, codec: str) -> str:
    """The container to write (module docstring); `OutputError` when `out_path`'s suffix names
    one that cannot hold `codec`."""
    asked = SUFFIX_FORMATS.get(out_path.suffix.lower())
    if asked is not None:
        if not _can_hold(asked, codec):
            raise OutputError(
                f"{out_path.name}: a {out_path.suffix} file cannot hold {codec} video. "
                "Use .mkv, or .mp4 for H.264/HEVC/VP9/AV1.",
                code="unsupported_container",
            )
        return asked
    native = _native_format(video_path, input_format, codec)
    for candidate in (native, "mp4", "matroska"):
        if candidate is not None and _can_hold(candidate, codec):
            return candidate
    return "matroska"


def _native_format(video_path: Path, input_format: str, codec: str) -> str | None:
    """The input's own container type, if it is one we write."""
    if input_format.startswith("mov,mp4"):
        is_quicktime = read_header(video_path)[8:12] == b"qt  "
        return "mov" if is_quicktime or video_path.suffix.lower() == ".mov" else "mp4"
    if input_format.startswith("matroska"):
        is_webm = video_path.suffix.lower() == ".webm" or b"webm" in read_header(video_path)
        return "webm" if is_webm and codec in WEBM_VIDEO_CODECS else "matroska"
    return None


def _can_hold(out_format: str, codec: str) -> bool:
    if out_format == "webm":
        return codec in WEBM_VIDEO_CODECS
    # An in-memory container: asking what it holds writes nothing.
    with av.open(io.BytesIO(), mode="w", format=out_format) as out:
        return codec in out.supported_codecs


def _video_stream(video_path: Path, container: InputContainer) -> VideoStream:
    video = first_video_stream(container)
    if video is None:
        raise InvalidInput(
            f"{video_path.name} has no video stream to put the sound under. Send a video file.",
            code="no_video_stream",
        )
    if video.codec_context is None:
        raise InvalidInput(
            f"{video_path.name}'s video codec is unknown to this server. "
            "Re-encode it as H.264 (MP4) or VP9 (WebM) and send it again.",
            code="unsupported_codec",
        )
    return video


def _video_span_s(
    video_path: Path, container: InputContainer, video: VideoStream
) -> tuple[float, float]:
    """(start, duration) of the video stream in seconds: it starts at its first packet, and
    lasts what its header says (MP4, MOV; as `probe` reports it), else to the end of its last
    packet (Matroska; MP4 packet durations are not trusted, B-frame reordering blurs them)."""
    start, end = None, None
    try:
        for packet in container.demux(video):
            if packet.pts is None or packet.size == 0:
                continue
            start = packet.pts if start is None else min(start, packet.pts)
            packet_end = packet.pts + (packet.duration or 0)
            end = packet_end if end is None else max(end, packet_end)
    except av.error.FFmpegError as exc:
        raise InvalidInput(
            f"{video_path.name} could not be read to the end ({exc_text(exc)}): it is "
            "truncated or damaged. Send the complete file.",
            code="truncated_file",
        ) from exc
    if start is None or end is None or end <= start:
        raise InvalidInput(
            f"{video_path.name} has no video frames. Send a video with at least two frames.",
            code="invalid_duration",
        )
    time_base = video.time_base or Fraction(1)
    duration = video.duration if video.duration else end - start
    return float(start * time_base), float(duration * time_base)


def _fit(audio: Audio, n_samples: int) -> Audio:
    samples = audio.samples[:, :n_samples]
    if samples.shape[1] < n_samples:
        samples = np.pad(samples, ((0, 0), (0, n_samples - samples.shape[1])))
    return Audio(np.ascontiguousarray(samples), audio.sample_rate_hz)


def _mix_original(video_path: Path, audio: Audio, gain_db: float) -> Audio:
    try:
        original = decode_audio(
            video_path, sample_rate_hz=audio.sample_rate_hz, channels=audio.channels
        )
    except InvalidInput as exc:
        if exc.code == "no_audio_stream":
            return audio
        raise
    gain = np.float32(10.0 ** (gain_db / 20.0))
    under = _fit(original, audio.n_samples).samples
    return Audio(audio.samples + gain * under, audio.sample_rate_hz)


def _remux(
    source: InputContainer,
    temp: Path,
    out_format: str,
    audio: Audio,
    audio_codec: str,
    bitrate_kbps: int,
    start_s: float,
) -> None:
    """Copy the video packets of `source` and encode `audio` into `temp`, interleaved."""
    video = first_video_stream(source)
    assert video is not None  # checked by the caller on the same file
    options = FORMAT_OPTIONS.get(out_format)
    with av.open(str(temp), mode="w", format=out_format, options=options) as out:
        video_out = out.add_stream_from_template(video)
        feed = AudioFeed(
            out,
            audio_codec,
            audio,
            bit_rate_bps=bitrate_kbps * 1000,
            start_pts=round(start_s * audio.sample_rate_hz),
        )
        for packet in source.demux(video):
            if packet.dts is None and packet.pts is None:
                continue  # the demuxer's end-of-stream marker, not data
            timestamp = packet.dts if packet.dts is not None else packet.pts
            assert timestamp is not None and packet.time_base is not None
            feed.write_until(float(timestamp * packet.time_base))
            packet.stream = video_out
            out.mux(packet)
        feed.finish()
