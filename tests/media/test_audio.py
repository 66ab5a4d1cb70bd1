from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from foleyserve.errors import InvalidInput, OutputError
from foleyserve.media.audio import (
    Audio,
    AudioFormat,
    decode_audio,
    encode_audio,
    encoder_rate_hz,
    format_from_path,
    resample,
    suffix_for,
)


def _tone(n_samples: int, rate_hz: int = 48_000, channels: int = 2) -> Audio:
    t = np.arange(n_samples) / rate_hz
    rng = np.random.default_rng(n_samples)
    left = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(n_samples)
    right = 0.3 * np.sin(2 * np.pi * 660 * t)
    return Audio(np.stack([left, right][:channels]).astype(np.float32), rate_hz)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("fmt", list(AudioFormat))
@pytest.mark.parametrize("n_samples", [1000, 2 * 48_000 + 123])
def test_round_trip_keeps_rate_and_exact_length(
    tmp_path: Path, fmt: AudioFormat, n_samples: int
) -> None:
    """Every format gives back exactly the samples it was given, in number (module docstring
    of `audio` says how for the lossy ones)."""
    audio = _tone(n_samples)
    path = tmp_path / f"out{suffix_for(fmt)}"
    encode_audio(audio, path, fmt)
    back = decode_audio(path)
    assert back.sample_rate_hz == 48_000 and back.channels == 2
    assert back.n_samples == n_samples
    if fmt in (AudioFormat.wav, AudioFormat.flac):
        assert np.abs(back.samples - audio.samples).max() <= 1 / 32768 + 1e-6
    elif n_samples > 10_000:
        # Lossy, but the waveform and its timing are kept: no offset, high correlation.
        assert _correlation(back.samples[:, 2000:-2000], audio.samples[:, 2000:-2000]) > 0.98


@pytest.mark.parametrize("fmt", [AudioFormat.mp3, AudioFormat.m4a, AudioFormat.flac])
def test_44100_is_kept(tmp_path: Path, fmt: AudioFormat) -> None:
    path = tmp_path / f"cd{suffix_for(fmt)}"
    encode_audio(_tone(44_100, rate_hz=44_100, channels=1), path, fmt)
    back = decode_audio(path)
    assert (back.sample_rate_hz, back.n_samples, back.channels) == (44_100, 44_100, 1)


def test_opus_is_always_48k(tmp_path: Path) -> None:
    path = tmp_path / "cd.opus"
    encode_audio(_tone(44_100, rate_hz=44_100), path, AudioFormat.opus)
    back = decode_audio(path)
    assert back.sample_rate_hz == 48_000 and back.n_samples == 48_000


def test_encoder_rates() -> None:
    assert encoder_rate_hz("libopus", 16_000) == 48_000
    assert encoder_rate_hz("libmp3lame", 44_100) == 44_100
    assert encoder_rate_hz("libmp3lame", 96_000) == 48_000
    assert encoder_rate_hz("aac", 50_000) == 64_000
    assert encoder_rate_hz("flac", 50_000) == 50_000


def test_resample_has_exact_length_and_keeps_the_tone() -> None:
    audio = _tone(48_000 + 7)
    down = resample(audio, 16_000)
    assert down.n_samples == round((48_000 + 7) / 3) and down.sample_rate_hz == 16_000
    spectrum = np.abs(np.fft.rfft(down.samples[1]))
    assert np.argmax(spectrum) * 16_000 / down.n_samples == pytest.approx(660, abs=2)
    assert resample(audio, 48_000) is audio


@pytest.mark.parametrize("fmt", [AudioFormat.flac, AudioFormat.wav, AudioFormat.m4a])
def test_surround_round_trip(tmp_path: Path, fmt: AudioFormat) -> None:
    rng = np.random.default_rng(6)
    audio = Audio((0.1 * rng.standard_normal((6, 4800))).astype(np.float32), 48_000)
    path = tmp_path / f"six{suffix_for(fmt)}"
    encode_audio(audio, path, fmt)
    back = decode_audio(path)
    assert (back.channels, back.n_samples) == (6, 4800)
    if fmt is not AudioFormat.m4a:  # channel order is kept, not just the count
        assert np.abs(back.samples - audio.samples).max() <= 1 / 32768 + 1e-6


def test_decode_converts_rate_and_channels(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    encode_audio(_tone(48_000), path, AudioFormat.flac)
    mono = decode_audio(path, sample_rate_hz=24_000, channels=1)
    assert (mono.channels, mono.sample_rate_hz, mono.n_samples) == (1, 24_000, 24_000)


def test_decode_the_sound_of_a_video(mp4_video: Path, webm_video: Path) -> None:
    for video in (mp4_video, webm_video):
        audio = decode_audio(video)
        assert audio.sample_rate_hz == 48_000 and audio.n_samples == 96_000
        rms = float(np.sqrt(np.mean(audio.samples**2)))
        assert 0.02 < rms < 0.06  # the synthetic bed: a sine at amplitude 0.05 plus faint noise


def test_no_audio_stream(mov_video: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_audio(mov_video)
    assert caught.value.code == "no_audio_stream" and "video" in caught.value.message


def test_not_media(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("not audio at all\n" * 100)
    with pytest.raises(InvalidInput) as caught:
        decode_audio(path)
    assert caught.value.code == "not_a_media_file"


def test_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "out.wav"
    with pytest.raises(OutputError) as caught:
        encode_audio(_tone(100), target, AudioFormat.wav)
    assert caught.value.code == "output_unwritable"
    assert str(target) in caught.value.message and "does not exist" in caught.value.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError) as caught:
            encode_audio(_tone(100), locked / "out.wav", AudioFormat.wav)
        assert caught.value.code == "output_unwritable" and "not writable" in caught.value.message
    finally:
        locked.chmod(0o700)


def test_failed_write_leaves_the_old_file_and_no_debris(tmp_path: Path) -> None:
    path = tmp_path / "out.mp3"
    path.write_bytes(b"old")
    three_channels = Audio(np.zeros((3, 100), np.float32), 48_000)
    with pytest.raises(OutputError) as caught:
        encode_audio(three_channels, path, AudioFormat.mp3)
    assert caught.value.code == "unsupported_channels"
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp3"]


def test_write_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    path.write_bytes(b"old")
    encode_audio(_tone(480), path, AudioFormat.wav)
    assert decode_audio(path).n_samples == 480
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not a temporary file's 0600


def test_suffixes_and_formats() -> None:
    assert [suffix_for(f) for f in AudioFormat] == [".wav", ".flac", ".mp3", ".m4a", ".opus"]
    assert format_from_path(Path("a/B.FLAC")) is AudioFormat.flac
    assert format_from_path(Path("x.ogg")) is AudioFormat.opus
    with pytest.raises(OutputError) as caught:
        format_from_path(Path("x.aiff"))
    assert caught.value.code == "unsupported_format" and ".aiff" in caught.value.message
