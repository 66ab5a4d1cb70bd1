"""Encoding `Audio` to files and decoding files back, through PyAV.

Round trips keep the exact sample count in every format (measured with PyAV 18.1 / FFmpeg 8):

    wav   pcm_s16le in WAV                exact (lossless up to 16-bit quantisation)
    flac  FLAC, 16 bit                    exact (lossless up to 16-bit quantisation)
    mp3   libmp3lame in MP3               exact: the LAME header records the encoder delay and
                                          padding, and FFmpeg's demuxer trims both
    m4a   AAC in an MP4 (ipod) container  exact: the edit list skips the 1024 priming samples;
                                          the end padding (up to 1023 samples) is trimmed by
                                          `decode_audio` from the last packet's duration, which
                                          the muxer records exactly
    opus  libopus in Ogg, 48 kHz          exact: pre-skip and the last page's granule position

Lossy formats change the samples, not their count or timing. Samples are clipped to [-1, 1]
when encoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

import av
import av.codec
import av.error
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler

from foleyserve.errors import InvalidInput, OutputError
from foleyserve.media.container import add_audio_stream, exc_text, open_input
from foleyserve.media.output import atomic_output
from foleyserve.media.pcm import Audio

__all__ = ["Audio", "AudioFormat", "decode_audio", "encode_audio"]

CHUNK_SAMPLES = 8192
"""Samples per frame handed to PyAV when encoding or resampling."""


class AudioFormat(StrEnum):
    """Audio file formats we write. The value is the usual file suffix without the dot."""

    wav = "wav"  # PCM 16 bit in WAV
    flac = "flac"  # FLAC 16 bit
    mp3 = "mp3"  # MPEG-1 Layer III (libmp3lame)
    m4a = "m4a"  # AAC in an MP4 (ipod) container
    opus = "opus"  # Opus in Ogg, always 48 kHz


@dataclass(frozen=True)
class _Codec:
    container: str
    codec: str
    sample_format: str
    max_channels: int
    lossy: bool


_CODECS: dict[AudioFormat, _Codec] = {
    AudioFormat.wav: _Codec("wav", "pcm_s16le", "s16", 8, lossy=False),
    AudioFormat.flac: _Codec("flac", "flac", "s16", 8, lossy=False),
    AudioFormat.mp3: _Codec("mp3", "libmp3lame", "fltp", 2, lossy=True),
    AudioFormat.m4a: _Codec("ipod", "aac", "fltp", 8, lossy=True),
    AudioFormat.opus: _Codec("opus", "libopus", "flt", 8, lossy=True),
}
OPUS_RATE_HZ = 48_000
DEFAULT_LAYOUTS = {
    1: "mono",
    2: "stereo",
    3: "2.1",
    4: "4.0",
    5: "5.0",
    6: "5.1",
    7: "6.1",
    8: "7.1",
}


def suffix_for(fmt: AudioFormat) -> str:
    """The file suffix for `fmt`, with the dot: ".wav", ".m4a", ..."""
    return f".{fmt.value}"


def format_from_path(path: Path) -> AudioFormat:
    """The format a path's suffix names (case-insensitive; ".ogg" counts as Opus). Raises
    `OutputError` (code `unsupported_format`) for any other suffix."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "ogg":
        return AudioFormat.opus
    try:
        return AudioFormat(suffix)
    except ValueError:
        known = ", ".join(suffix_for(f) for f in AudioFormat)
        raise OutputError(
            f"{path.name}: {path.suffix or 'no suffix'} is not an audio format we write. "
            f"Use one of {known}.",
            code="unsupported_format",
        ) from None


def channel_layout(channels: int) -> str:
    """FFmpeg's default layout name for a channel count (1 to 8): "mono", "stereo", "5.1", ...
    `ValueError` for other counts."""
    try:
        return DEFAULT_LAYOUTS[channels]
    except KeyError:
        raise ValueError(f"no default channel layout for {channels} channels (1 to 8)") from None


def encoder_rate_hz(codec: str, rate_hz: int) -> int:
    """The sample rate to give encoder `codec` for audio at `rate_hz`: the same when it
    takes it, else the next higher rate it takes (its highest if none is higher). libopus
    always gets 48 kHz, Opus's native rate."""
    if codec == "libopus":
        return OPUS_RATE_HZ
    rates = av.codec.Codec(codec, "w").audio_rates
    if not rates or rate_hz in rates:
        return rate_hz
    higher = [r for r in rates if r > rate_hz]
    return min(higher) if higher else max(rates)


def resample(audio: Audio, sample_rate_hz: int) -> Audio:
    """`audio` at another rate, through PyAV's resampler (libswresample).

    The result has exactly `round(n_samples * new / old)` samples: the resampler's flushed
    output is cut or zero-padded at the end by the few samples it differs from that.
    """
    if sample_rate_hz == audio.sample_rate_hz:
        return audio
    n_out = round(audio.n_samples * sample_rate_hz / audio.sample_rate_hz)
    layout = channel_layout(audio.channels)
    resampler = AudioResampler(format="fltp", layout=layout, rate=sample_rate_hz)
    chunks = [
        _frame_samples(f)
        for frame in _frames(audio.samples, audio.sample_rate_hz, layout)
        for f in resampler.resample(frame)
    ]
    chunks += [_frame_samples(f) for f in resampler.resample(None) if f is not None]
    return Audio(_fit_length(chunks, audio.channels, n_out), sample_rate_hz)


def encode_audio(audio: Audio, path: Path, fmt: AudioFormat, *, bitrate_kbps: int = 128) -> None:
    """Write `audio` to `path` in `fmt`, atomically (a temporary file, then a rename).

    The sample rate is kept when the codec takes it; otherwise the next higher rate it takes
    (the highest if none is higher); Opus is always 48 kHz. `bitrate_kbps` applies to the lossy
    formats. Raises `OutputError`: `output_unwritable` (directory missing or not writable, or
    the encoder failed), `unsupported_channels` (e.g. more than 2 channels in MP3).
    """
    spec = _CODECS[fmt]
    if audio.channels > spec.max_channels:
        raise OutputError(
            f"{fmt.value} holds at most {spec.max_channels} channels; this audio has "
            f"{audio.channels}. Choose wav, flac, m4a or opus.",
            code="unsupported_channels",
        )
    audio = resample(audio, encoder_rate_hz(spec.codec, audio.sample_rate_hz))
    layout = channel_layout(audio.channels)
    with atomic_output(path) as temp:
        try:
            with av.open(str(temp), mode="w", format=spec.container) as out:
                stream = add_audio_stream(out, spec.codec, audio.sample_rate_hz)
                stream.layout = layout
                stream.format = spec.sample_format
                if spec.lossy:
                    stream.bit_rate = bitrate_kbps * 1000
                # Same rate in and out: this converts the sample format only, sample for sample.
                to_codec = AudioResampler(format=spec.sample_format, layout=layout)
                clipped = np.clip(audio.samples, -1.0, 1.0)
                for frame in _frames(clipped, audio.sample_rate_hz, layout):
                    for converted in to_codec.resample(frame):
                        out.mux(stream.encode(converted))
                for converted in to_codec.resample(None):
                    if converted is not None:
                        out.mux(stream.encode(converted))
                out.mux(stream.encode(None))
        except av.error.FFmpegError as exc:
            raise OutputError(
                f"Cannot write {path} as {fmt.value}: {exc_text(exc)}.", code="output_unwritable"
            ) from exc


def decode_audio(
    path: Path, *, sample_rate_hz: int | None = None, channels: int | None = None
) -> Audio:
    """Decode the first audio stream of `path` (an audio file or a video) to float32.

    `sample_rate_hz` and `channels`, when given, convert (libswresample's default up/down-mix).
    The last frame is cut to its packet's duration, which removes an AAC encoder's end padding
    (see the module docstring). Raises `InvalidInput`: the codes of `open_input` (kind
    "audio"), `no_audio_stream`, `unsupported_codec`, `truncated_file` (decoding failed).
    """
    with open_input(path, kind="audio") as container:
        if not container.streams.audio:
            kinds = ", ".join(s.type for s in container.streams) or "none"
            raise InvalidInput(
                f"{path.name} has no audio stream (streams found: {kinds}). "
                "Send a file with a sound track.",
                code="no_audio_stream",
            )
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            raise InvalidInput(
                f"{path.name}'s audio uses a codec this server cannot decode. "
                "Re-encode it as AAC, MP3, Opus, FLAC or WAV.",
                code="unsupported_codec",
            )
        try:
            source = _decode_stream(container.decode(stream), channels)
        except av.error.FFmpegError as exc:
            raise InvalidInput(
                f"{path.name}'s audio could not be decoded to the end ({exc_text(exc)}). "
                "The file is truncated or damaged; send the complete file.",
                code="truncated_file",
            ) from exc
    if source is None:
        return Audio.silence(0, sample_rate_hz or 48_000, channels or 2)
    return resample(source, sample_rate_hz or source.sample_rate_hz)


def _frames(samples: npt.NDArray[np.float32], rate_hz: int, layout: str) -> Iterator[AudioFrame]:
    """`samples` as planar float frames of `CHUNK_SAMPLES`, stamped in samples."""
    for start in range(0, samples.shape[1], CHUNK_SAMPLES):
        chunk = np.ascontiguousarray(samples[:, start : start + CHUNK_SAMPLES])
        frame = AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = rate_hz
        frame.pts = start
        frame.time_base = Fraction(1, rate_hz)
        yield frame


def _frame_samples(frame: AudioFrame) -> npt.NDArray[np.float32]:
    """A planar float frame as `[channels, n]` float32."""
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1, frame.samples)


def _fit_length(
    chunks: list[npt.NDArray[np.float32]], channels: int, n_samples: int
) -> npt.NDArray[np.float32]:
    """Join `chunks` and cut or zero-pad the end to exactly `n_samples`."""
    joined = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    if joined.shape[1] >= n_samples:
        return np.ascontiguousarray(joined[:, :n_samples])
    return np.pad(joined, ((0, 0), (0, n_samples - joined.shape[1])))


def _decode_stream(frames: Iterator[AudioFrame], channels: int | None) -> Audio | None:
    """Decoded frames as one `Audio` (None when there are none), the last frame cut to its
    packet's duration."""
    resampler: AudioResampler | None = None
    chunks: list[npt.NDArray[np.float32]] = []
    total, rate_hz, last = 0, 0, None
    for frame in frames:
        if resampler is None:
            rate_hz = frame.sample_rate
            # The source's own layout when no count is asked: no remixing at all.
            layout = frame.layout if channels is None else channel_layout(channels)
            resampler = AudioResampler(format="fltp", layout=layout)
        chunks += [_frame_samples(f) for f in resampler.resample(frame)]
        total += frame.samples
        last = frame
    if resampler is None or last is None:
        return None
    chunks += [_frame_samples(f) for f in resampler.resample(None) if f is not None]
    keep = _duration_samples(last)
    if keep is not None and 0 < keep < last.samples:
        total -= last.samples - keep
    return Audio(_fit_length(chunks, channels or last.layout.nb_channels, total), rate_hz)


def _duration_samples(frame: AudioFrame) -> int | None:
    """The frame's duration as its packet recorded it, in samples; None when not recorded."""
    if not frame.duration or frame.time_base is None:
        return None
    return round(frame.duration * frame.time_base * frame.sample_rate)
