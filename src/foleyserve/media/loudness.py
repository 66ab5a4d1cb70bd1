"""Loudness: measure integrated loudness (EBU R128 / ITU-R BS.1770, via pyloudnorm) and true
peak, and normalise to a target under a true-peak ceiling.

The ceiling is enforced by lowering the whole signal's gain, not by a limiter: it is honest
(the waveform keeps its shape) but a single loud transient can leave the rest quieter than the
target. Loudness is measured over 400 ms blocks, so audio shorter than one block is measured on
a copy repeated to one block's length (its periodic extension: right for steady sounds, an
estimate for anything else). Silence (integrated loudness below the -70 LUFS absolute gate) has
no loudness; it is returned unchanged.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
import pyloudnorm

# scipy-stubs is a dev dependency that an environment may lack; then this import is untyped.
from scipy.signal import resample_poly  # type: ignore[import-untyped, unused-ignore]

from foleyserve.media.audio import Audio

BLOCK_S = 0.4
"""BS.1770's gating block; pyloudnorm refuses shorter input."""
OVERSAMPLE = 4
"""True peak per BS.1770 Annex 2: the peak of the signal oversampled 4x."""
TRUE_PEAK_CHUNK_SAMPLES = 1 << 16
TRUE_PEAK_MARGIN_SAMPLES = 64
"""Context on each side of a chunk, well past the half-length of resample_poly's filter."""


def measure_lufs(audio: Audio) -> float:
    """Integrated loudness in LUFS; `-inf` for silence and for audio with no samples."""
    if audio.n_samples == 0 or not np.any(audio.samples):
        return -math.inf
    data = audio.samples.astype(np.float64)
    block_samples = math.ceil(BLOCK_S * audio.sample_rate_hz) + 1
    if audio.n_samples < block_samples:
        data = np.tile(data, (1, math.ceil(block_samples / audio.n_samples)))
    meter = pyloudnorm.Meter(audio.sample_rate_hz)
    with warnings.catch_warnings():
        # Below the absolute gate pyloudnorm averages an empty set (a numpy warning); we
        # report that as -inf.
        warnings.simplefilter("ignore", RuntimeWarning)
        lufs = float(meter.integrated_loudness(data.T))
    return lufs if math.isfinite(lufs) else -math.inf


def true_peak_dbtp(audio: Audio) -> float:
    """The true peak in dBTP: the largest magnitude of the 4x-oversampled signal (which sees
    the peaks between samples that a DAC reconstructs); `-inf` for silence."""
    return _true_peak_dbtp(audio)


def _true_peak_dbtp(audio: Audio) -> float:
    # Oversampled in chunks (with context at the edges) so memory stays flat for long audio.
    peak = 0.0
    n = audio.n_samples
    for start in range(0, n, TRUE_PEAK_CHUNK_SAMPLES):
        stop = min(n, start + TRUE_PEAK_CHUNK_SAMPLES)
        lo, hi = max(0, start - TRUE_PEAK_MARGIN_SAMPLES), min(n, stop + TRUE_PEAK_MARGIN_SAMPLES)
        chunk = audio.samples[:, lo:hi].astype(np.float64)
        up = resample_poly(chunk, OVERSAMPLE, 1, axis=1)
        core = up[:, (start - lo) * OVERSAMPLE : (stop - lo) * OVERSAMPLE]
        peak = max(peak, float(np.max(np.abs(core), initial=0.0)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def normalize_loudness(
    audio: Audio, *, target_lufs: float = -23.0, true_peak_dbtp: float = -1.0
) -> Audio:
    """`audio` with one gain applied: the one that brings it to `target_lufs`, lowered as far
    as needed to keep the true peak at or under `true_peak_dbtp` (then the result is quieter
    than the target). Silence comes back unchanged (module docstring)."""
    lufs = measure_lufs(audio)
    if not math.isfinite(lufs):
        return audio
    gain_db = target_lufs - lufs
    # Oversampling is linear, so the peak moves with the gain exactly.
    peak_db = _true_peak_dbtp(audio) + gain_db
    if peak_db > true_peak_dbtp:
        gain_db -= peak_db - true_peak_dbtp
    return Audio(_apply_gain(audio.samples, gain_db), audio.sample_rate_hz)


def _apply_gain(samples: npt.NDArray[np.float32], gain_db: float) -> npt.NDArray[np.float32]:
    return (samples * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)
