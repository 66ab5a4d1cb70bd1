"""Signal-processing primitives the recipes are built from.

Everything here is vectorised numpy/scipy (no per-sample Python loops) and deterministic: all
randomness comes from the `np.random.Generator` passed in. Signals are float64 while a recipe
builds them (`Signal`); `to_output` turns the final stereo mix into float32.

Conventions: mono signals are `[n]`, stereo `[2, n]`; `tau_s` is an exponential time constant
(amplitude falls to 1/e after `tau_s`, to -60 dB after about 6.9 `tau_s`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import signal

Signal = npt.NDArray[np.float64]
Output = npt.NDArray[np.float32]
SpectralGain = Callable[[Signal, Signal], Signal]
"""`gain(freqs_hz [F], times_s [T]) -> [T, F]` (or broadcastable): amplitude per frame and bin."""

OUTPUT_CEILING = 0.98
"""Peak that `to_output` never exceeds."""

_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])


def as_signal(x: object) -> Signal:
    """`x` as a float64 array (numpy's annotations often widen results to `Any`)."""
    return np.asarray(x, np.float64)


def samples(duration_s: float, sample_rate_hz: int) -> int:
    """Number of samples in `duration_s`, at least 1."""
    return max(1, round(duration_s * sample_rate_hz))


def time_axis(n: int, sample_rate_hz: int) -> Signal:
    return np.arange(n) / sample_rate_hz


# --- noise -------------------------------------------------------------------------------------


def white(rng: np.random.Generator, n: int, channels: int | None = None) -> Signal:
    """Unit-variance Gaussian noise, `[n]` or `[channels, n]`."""
    return rng.standard_normal(n if channels is None else (channels, n))


def pink(rng: np.random.Generator, n: int, channels: int | None = None) -> Signal:
    """Noise with a -3 dB/octave slope (Kellet's filter), roughly unit variance."""
    shaped = signal.lfilter(_PINK_B, _PINK_A, white(rng, n, channels), axis=-1)
    return np.asarray(shaped, np.float64) * 11.6


def brown(rng: np.random.Generator, n: int, sample_rate_hz: int, corner_hz: float = 20.0) -> Signal:
    """-6 dB/octave noise above `corner_hz` (a leaky integrator), normalised to unit RMS."""
    pole = math.exp(-2 * math.pi * corner_hz / sample_rate_hz)
    shaped = signal.lfilter([1.0], [1.0, -pole], white(rng, n))
    return normalise_rms(np.asarray(shaped, np.float64), 1.0)


# --- filters -----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _butter(
    kind: Literal["lowpass", "highpass", "bandpass"],
    corners_hz: tuple[float, ...],
    sample_rate_hz: int,
    order: int,
) -> Signal:
    nyquist_hz = sample_rate_hz / 2
    clipped = [min(max(c, 1.0), nyquist_hz * 0.98) for c in corners_hz]
    wn = clipped[0] if len(clipped) == 1 else clipped
    return np.asarray(signal.butter(order, wn, btype=kind, fs=sample_rate_hz, output="sos"))


def lowpass(x: Signal, cutoff_hz: float, sample_rate_hz: int, order: int = 2) -> Signal:
    """Butterworth low-pass along the last axis (causal: nothing moves earlier in time)."""
    sos = _butter("lowpass", (round(cutoff_hz, 3),), sample_rate_hz, order)
    return np.asarray(signal.sosfilt(sos, x, axis=-1), np.float64)


def highpass(x: Signal, cutoff_hz: float, sample_rate_hz: int, order: int = 2) -> Signal:
    sos = _butter("highpass", (round(cutoff_hz, 3),), sample_rate_hz, order)
    return np.asarray(signal.sosfilt(sos, x, axis=-1), np.float64)


def bandpass(
    x: Signal, low_hz: float, high_hz: float, sample_rate_hz: int, order: int = 2
) -> Signal:
    """Butterworth band-pass; `order` 1 gives a single resonant 2-pole section."""
    sos = _butter("bandpass", (round(low_hz, 3), round(high_hz, 3)), sample_rate_hz, order)
    return np.asarray(signal.sosfilt(sos, x, axis=-1), np.float64)


def resonate(x: Signal, centre_hz: float, q: float, sample_rate_hz: int) -> Signal:
    """A single resonance at `centre_hz` with quality `q` (bandwidth `centre_hz / q`)."""
    half_bw = centre_hz / (2 * q)
    low = max(centre_hz - half_bw, 5.0)
    return bandpass(x, low, centre_hz + half_bw, sample_rate_hz, order=1)


def one_pole_smooth(x: Signal, time_s: float, sample_rate_hz: int) -> Signal:
    """Exponential smoothing with time constant `time_s` (a control-signal slew limiter)."""
    pole = math.exp(-1.0 / max(time_s * sample_rate_hz, 1.0))
    zi = signal.lfilter_zi([1 - pole], [1.0, -pole]) * (x[..., :1] if x.ndim else x)
    y, _ = signal.lfilter([1 - pole], [1.0, -pole], x, axis=-1, zi=zi)
    return np.asarray(y, np.float64)


# --- envelopes and curves ----------------------------------------------------------------------


def decay(n: int, tau_s: float, sample_rate_hz: int) -> Signal:
    """`exp(-t / tau_s)` over `n` samples."""
    return np.exp(-time_axis(n, sample_rate_hz) / tau_s)


def attack_decay(n: int, attack_s: float, tau_s: float, sample_rate_hz: int) -> Signal:
    """A linear rise over `attack_s` into an exponential decay; starts at the first sample."""
    t = time_axis(n, sample_rate_hz)
    rise = np.minimum(1.0, (t + 1.0 / sample_rate_hz) / max(attack_s, 1e-6))
    return rise * np.exp(-np.maximum(t - attack_s, 0.0) / tau_s)


def random_knots(rng: np.random.Generator, duration_s: float, rate_hz: float) -> Signal:
    """Uniform 0..1 values every `1 / rate_hz` s covering `duration_s`: see `knot_curve`."""
    return rng.random(int(duration_s * rate_hz) + 2)


def knot_curve(knots: Signal, times_s: Signal, rate_hz: float) -> Signal:
    """The smooth curve through `knots` (spaced `1 / rate_hz` s, cosine-blended) at `times_s`;
    times past the last knot hold its value."""
    position = np.clip(times_s * rate_hz, 0.0, knots.size - 1.0)
    index = np.minimum(position.astype(np.int64), knots.size - 2)
    blend = (1 - np.cos(np.pi * (position - index))) / 2
    return as_signal(knots[index] * (1 - blend) + knots[index + 1] * blend)


def smooth_random(rng: np.random.Generator, n: int, sample_rate_hz: int, rate_hz: float) -> Signal:
    """A smooth random curve in [0, 1] over `n` samples, changing course about `rate_hz` times
    a second."""
    knots = random_knots(rng, n / sample_rate_hz, rate_hz)
    return knot_curve(knots, time_axis(n, sample_rate_hz), rate_hz)


def normalise_rms(x: Signal, target_rms: float) -> Signal:
    rms = float(np.sqrt(np.mean(np.square(x))))
    return x * (target_rms / rms) if rms > 1e-12 else x


def normalise_percentile(x: Signal, target: float, percentile: float = 99.9) -> Signal:
    """`x` scaled so that its `percentile` of absolute values is `target`: sets the level of
    spiky textures (crackle, drops) by their typical peaks, not by rare outliers or RMS."""
    level = float(np.percentile(np.abs(x), percentile)) if x.size else 0.0
    return x * (target / level) if level > 1e-12 else x


def soft_limit(x: Signal, knee: float, ceiling: float) -> Signal:
    """Unchanged below `knee`; above it, bent smoothly (tanh) towards `ceiling`, never past
    it. Tames the rare outlier in a spiky texture without touching the rest."""
    magnitude = np.abs(x)
    room = ceiling - knee
    bent = knee + room * np.tanh((magnitude - knee) / room)
    return as_signal(np.where(magnitude > knee, np.sign(x) * bent, x))


def normalise_peak(x: Signal, target_peak: float) -> Signal:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (target_peak / peak) if peak > 1e-12 else x


# --- oscillators and resonators ----------------------------------------------------------------


def phase_cycles(freq_hz: Signal, sample_rate_hz: int) -> Signal:
    """Running phase in cycles of an oscillator whose frequency follows `freq_hz` (last axis);
    starts at 0 on the first sample."""
    cycles = np.cumsum(freq_hz, axis=-1) / sample_rate_hz
    return cycles - cycles[..., :1]


def ring_modes(excitation: Signal, freqs_hz: Signal, taus_s: Signal, sample_rate_hz: int) -> Signal:
    """A bank of resonant modes, mode `k` driven by `excitation[k]` (`[K, n]`), summed: `[n]`.

    Each mode is a two-pole resonator whose impulse response is `r^t sin(w t)` (an
    exponentially damped sine with time constant `taus_s[k]`), run through `lfilter`: several
    times cheaper than evaluating `exp` and `sin`, and any number of strikes per mode is free.
    Modes above 0.45 x the sample rate are skipped (they would alias).
    """
    out = np.zeros(excitation.shape[-1])
    for drive, freq_hz, tau_s in zip(excitation, freqs_hz, taus_s, strict=True):
        if freq_hz >= 0.45 * sample_rate_hz:
            continue
        radius = math.exp(-1.0 / (tau_s * sample_rate_hz))
        omega = 2 * math.pi * freq_hz / sample_rate_hz
        b = [0.0, radius * math.sin(omega)]
        a = [1.0, -2 * radius * math.cos(omega), radius * radius]
        out += signal.lfilter(b, a, drive)
    return out


def modal(
    freqs_hz: Signal,
    taus_s: Signal,
    amps: Signal,
    n: int,
    sample_rate_hz: int,
) -> Signal:
    """A struck object: its damped modes (`amps[k]` each), all starting in sine phase at sample
    0, over `n` samples."""
    excitation = np.zeros((freqs_hz.size, n))
    excitation[:, 0] = amps
    return ring_modes(excitation, freqs_hz, taus_s, sample_rate_hz)


def fade_out(x: Signal, fade_s: float, sample_rate_hz: int) -> Signal:
    """`x` with its last `fade_s` tapered to zero by a half cosine (no click where it ends)."""
    length = min(x.shape[-1], samples(fade_s, sample_rate_hz))
    taper = np.ones(x.shape[-1])
    taper[x.shape[-1] - length :] = (1 + np.cos(np.linspace(0, np.pi, length))) / 2
    return x * taper


def fit_level(x: Signal, target_rms: float, max_peak: float) -> Signal:
    """`x` scaled to `target_rms`, or less where that would push its peak past `max_peak`
    (sparse, spiky textures like light rain end up quieter rather than clipped)."""
    rms = float(np.sqrt(np.mean(np.square(x))))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if rms <= 1e-12:
        return x
    return x * min(target_rms / rms, max_peak / peak)


def chirp(
    start_hz: Signal, end_hz: Signal, length: int, sample_rate_hz: int, curve: float = 1.0
) -> Signal:
    """Sine sweeps, one per row: `[G, length]` from `start_hz[g]` to `end_hz[g]`. `curve` bends
    the sweep in time (1 linear, >1 slow start, <1 fast start)."""
    shape = np.linspace(0.0, 1.0, length)[None, :] ** curve
    freq = start_hz[:, None] + (end_hz - start_hz)[:, None] * shape
    return np.sin(2 * np.pi * phase_cycles(freq, sample_rate_hz))


# --- placement ---------------------------------------------------------------------------------


def pan_gains(pan: Signal | float) -> tuple[Signal, Signal]:
    """Equal-power (sin/cos) gains for `pan` in -1 (left) .. 1 (right); -3 dB each at centre."""
    angle = (np.clip(pan, -1.0, 1.0) + 1.0) * (np.pi / 4)
    return np.cos(angle), np.sin(angle)


def pan_mono(x: Signal, pan: Signal | float) -> Signal:
    """`[2, n]`: mono `x` panned by a constant or a per-sample `pan`."""
    left, right = pan_gains(pan)
    return np.stack([x * left, x * right])


def add_at(out: Signal, sound: Signal, start: int) -> None:
    """Mix `sound` (`[n]` or `[channels, n]`) into `out` from sample `start`, cut at the end."""
    if start >= out.shape[-1]:
        return
    length = min(sound.shape[-1], out.shape[-1] - start)
    out[..., start : start + length] += sound[..., :length]


def scatter(n: int, starts: npt.NDArray[np.int64], grains: Signal) -> Signal:
    """Sum grains `[G, L]` into a `[n]` signal, grain `g` starting at `starts[g]` (>= 0); what
    falls past `n` is dropped. One `bincount`, however many grains."""
    return as_signal(scatter_panned(n, starts, grains, None)[0])


def scatter_panned(
    n: int, starts: npt.NDArray[np.int64], grains: Signal, pans: Signal | None
) -> Signal:
    """Like `scatter`, but each grain panned by `pans[g]` (equal power): `[2, n]`. With `pans`
    None, one unpanned channel: `[1, n]`."""
    length = grains.shape[1] if grains.ndim == 2 else 0
    index = (np.clip(starts, 0, n)[:, None] + np.arange(length)[None, :]).ravel()
    if pans is None:
        gains: list[Signal] = [np.ones(starts.size)]
    else:
        gains = list(pan_gains(pans))
    channels = [
        np.bincount(index, weights=(grains * g[:, None]).ravel(), minlength=n + length)[:n]
        for g in gains
    ]
    return np.stack(channels) if channels else np.zeros((len(gains), n))


def poisson_times(rng: np.random.Generator, rate_hz: float, duration_s: float) -> Signal:
    """Sorted event times of a Poisson process of `rate_hz` over `[0, duration_s)`."""
    count = rng.poisson(max(rate_hz, 0.0) * duration_s)
    return np.sort(rng.random(count) * duration_s)


# --- spectral shaping --------------------------------------------------------------------------


def shaped_noise(
    rng: np.random.Generator,
    n: int,
    sample_rate_hz: int,
    gain: SpectralGain,
    channels: int = 2,
    fft_size: int = 2048,
) -> Signal:
    """Noise whose spectrum follows `gain(freqs_hz, times_s)` frame by frame: `[channels, n]`.

    Built straight in the short-time Fourier domain (random complex spectra times the gain,
    inverse FFT, Hann overlap-add at 75%), so a time-varying filter of any shape costs one
    inverse FFT per frame. White gain 1 gives about unit-variance noise. Channels get
    independent noise through the same gain (a decorrelated, wide stereo bed).
    """
    hop = fft_size // 4
    frames = -(-n // hop) + fft_size // hop + 1
    freqs_hz = as_signal(np.fft.rfftfreq(fft_size, 1.0 / sample_rate_hz))
    times_s = (np.arange(frames) * hop - fft_size // 2) / sample_rate_hz
    shape = np.broadcast_to(
        gain(freqs_hz, as_signal(np.maximum(times_s, 0.0))), (frames, freqs_hz.size)
    )
    spectra = rng.standard_normal((channels, frames, freqs_hz.size, 2)).view(np.complex128)
    grains = np.fft.irfft(spectra[..., 0] * shape, n=fft_size, axis=-1)
    grains *= np.hanning(fft_size) * math.sqrt(fft_size / 3.0)
    out = np.zeros((channels, (frames + fft_size // hop - 1) * hop))
    for part in range(fft_size // hop):
        block = grains[..., part * hop : (part + 1) * hop].reshape(channels, -1)
        out[:, part * hop : part * hop + block.shape[-1]] += block
    return out[:, fft_size // 2 : fft_size // 2 + n]


# --- output ------------------------------------------------------------------------------------


def to_output(stereo: Signal) -> Output:
    """The final `[2, n]` float32 mix, scaled down as a whole if its peak would pass
    `OUTPUT_CEILING` (no clipping, no change in the shape of the sound)."""
    peak = float(np.max(np.abs(stereo))) if stereo.size else 0.0
    if peak > OUTPUT_CEILING:
        stereo = stereo * (OUTPUT_CEILING / peak)
    return np.ascontiguousarray(stereo, dtype=np.float32)
