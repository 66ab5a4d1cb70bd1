from __future__ import annotations

import math

import numpy as np
import pytest

from foleyserve.media.audio import Audio
from foleyserve.media.loudness import measure_lufs, normalize_loudness, true_peak_dbtp

RATE_HZ = 48_000


def _noise(duration_s: float, channels: int = 2, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    samples = rng.standard_normal((channels, round(duration_s * RATE_HZ)))
    return Audio(samples.astype(np.float32), RATE_HZ)


def _at_lufs(audio: Audio, lufs: float) -> Audio:
    gain = 10 ** ((lufs - measure_lufs(audio)) / 20)
    return Audio((audio.samples * gain).astype(np.float32), audio.sample_rate_hz)


def test_quiet_noise_is_brought_to_the_target() -> None:
    quiet = _at_lufs(_noise(5.0), -30.0)
    assert measure_lufs(quiet) == pytest.approx(-30.0, abs=0.01)
    loud = normalize_loudness(quiet, target_lufs=-23.0, true_peak_dbtp=-1.0)
    assert measure_lufs(loud) == pytest.approx(-23.0, abs=0.1)
    assert loud.samples.dtype == np.float32 and loud.samples.shape == quiet.samples.shape


def test_mono_is_measured_too() -> None:
    mono = _at_lufs(_noise(3.0, channels=1), -20.0)
    assert measure_lufs(normalize_loudness(mono, target_lufs=-16.0)) == pytest.approx(-16, abs=0.1)


def test_high_crest_audio_is_held_under_the_ceiling() -> None:
    """Sparse clicks in faint noise: reaching -16 LUFS would put the peaks far over full
    scale, so the gain stops where the true peak meets the ceiling (and the result is
    quieter than the target)."""
    audio = _noise(4.0, seed=1)
    samples = audio.samples * np.float32(0.001)
    samples[:, ::12_000] = 0.5
    clicks = Audio(samples, RATE_HZ)
    out = normalize_loudness(clicks, target_lufs=-16.0, true_peak_dbtp=-1.0)
    assert true_peak_dbtp(out) == pytest.approx(-1.0, abs=0.01)
    assert np.abs(out.samples).max() < 1.0
    assert measure_lufs(out) < -16.0


def test_true_peak_sees_between_samples() -> None:
    """A sine at a quarter of the sample rate, sampled 45 degrees off its crests: every sample
    is at 0.707 (-3 dB) while the waveform peaks at 1.0 (0 dBTP)."""
    n = 48_000
    t = np.arange(n)
    samples = np.sin(2 * np.pi * t / 4 + np.pi / 4)[None, :].astype(np.float32)
    audio = Audio(samples, RATE_HZ)
    assert 20 * math.log10(np.abs(samples).max()) == pytest.approx(-3.01, abs=0.01)
    # resample_poly's interpolation filter overshoots by about 0.1 dB this close to Nyquist.
    assert true_peak_dbtp(audio) == pytest.approx(0.0, abs=0.2)


def test_true_peak_is_the_same_in_chunks() -> None:
    """The oversampling runs in chunks with context; a peak on a chunk edge is still found."""
    audio = Audio(np.zeros((2, 200_000), np.float32), RATE_HZ)
    audio.samples[1, 65_536] = 0.25
    assert true_peak_dbtp(audio) == pytest.approx(20 * math.log10(0.25), abs=0.05)


def test_silence_stays_silence() -> None:
    silence = Audio.silence(RATE_HZ, RATE_HZ)
    assert measure_lufs(silence) == -math.inf
    assert true_peak_dbtp(silence) == -math.inf
    assert normalize_loudness(silence) is silence
    empty = Audio.silence(0, RATE_HZ)
    assert normalize_loudness(empty) is empty


def test_below_the_absolute_gate_is_left_alone() -> None:
    whisper = _at_lufs(_noise(2.0), -75.0)
    assert measure_lufs(whisper) == -math.inf
    assert normalize_loudness(whisper) is whisper


def test_shorter_than_one_block_is_measured_on_a_repeat() -> None:
    """100 ms of a steady tone measures like a long stretch of it."""
    t = np.arange(RATE_HZ * 2) / RATE_HZ
    tone = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None, :]
    long_lufs = measure_lufs(Audio(tone, RATE_HZ))
    short = Audio(np.ascontiguousarray(tone[:, : RATE_HZ // 10]), RATE_HZ)
    assert measure_lufs(short) == pytest.approx(long_lufs, abs=0.5)
    out = normalize_loudness(short, target_lufs=-23.0)
    assert measure_lufs(out) == pytest.approx(-23.0, abs=0.5)
