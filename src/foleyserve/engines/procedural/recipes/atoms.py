"""Sound atoms: the short physical gestures that hits are assembled from.

Each atom is a mono float64 signal whose attack is at sample 0 (filters are causal, so nothing
sounds before it) and whose length covers its decay. `rng` draws only what the atom needs, so a
recipe built from atoms is deterministic for a given generator state.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp

_MAX_RING_S = 6.0
"""Longest ring rendered; longer modes are faded out over its last quarter."""


def thump(
    rng: np.random.Generator, sr: int, freq_hz: float, tau_s: float, drop: float = 0.6
) -> dsp.Signal:
    """A body hitting something soft: a low sine whose pitch falls by `drop` (relative) in the
    first ~30 ms, with a little low-passed noise for texture."""
    n = dsp.samples(7 * tau_s + 0.01, sr)
    t = dsp.time_axis(n, sr)
    freq = freq_hz * (1 + drop * np.exp(-t / 0.03)) * rng.uniform(0.92, 1.08)
    tone = np.sin(2 * np.pi * dsp.phase_cycles(freq, sr))
    grit = dsp.lowpass(dsp.white(rng, n), freq_hz * 4, sr) * 0.6
    return (tone + grit) * dsp.attack_decay(n, 0.0015, tau_s, sr)


def click(
    rng: np.random.Generator, sr: int, low_hz: float, high_hz: float, tau_s: float
) -> dsp.Signal:
    """A hard contact: a band-passed noise burst decaying with `tau_s`."""
    n = dsp.samples(7 * tau_s + 0.004, sr)
    burst = dsp.white(rng, n) * dsp.decay(n, tau_s, sr)
    return dsp.bandpass(burst, low_hz, high_hz, sr)


def ring(
    rng: np.random.Generator,
    sr: int,
    freqs_hz: list[float],
    taus_s: list[float],
    amps: list[float],
    spread: float = 0.04,
) -> dsp.Signal:
    """A struck resonant object: its modes, each detuned and damped a little differently per
    call (`spread` is the relative jitter), so repeated strikes never sound identical."""
    count = len(freqs_hz)
    freqs = np.asarray(freqs_hz) * (1 + spread * rng.standard_normal(count))
    taus = np.asarray(taus_s) * rng.uniform(0.8, 1.2, count)
    gains = np.asarray(amps) * rng.uniform(0.7, 1.0, count)
    ring_s = min(6 * float(np.max(taus)), _MAX_RING_S)
    rung = dsp.modal(freqs, taus, gains, dsp.samples(ring_s, sr), sr)
    return dsp.fade_out(rung, ring_s / 4, sr)


def crunch(
    rng: np.random.Generator,
    sr: int,
    duration_s: float,
    grains_per_s: float,
    band_hz: tuple[float, float],
    grain_tau_s: float,
    envelope_tau_s: float,
) -> dsp.Signal:
    """Granular breaking-up (gravel, snow, dry leaves): many tiny noise ticks whose density
    thins out with `envelope_tau_s`, the first one on sample 0, band-passed to `band_hz`."""
    n = dsp.samples(duration_s, sr)
    count = max(2, rng.poisson(grains_per_s * duration_s))
    times_s = np.minimum(rng.exponential(envelope_tau_s, count), duration_s * 0.9)
    times_s[0] = 0.0
    length = dsp.samples(6 * grain_tau_s, sr)
    levels = rng.lognormal(0.0, 0.7, count)
    levels[0] = float(np.max(levels))
    grains = dsp.white(rng, count * length).reshape(count, length)
    grains *= levels[:, None] * dsp.decay(length, grain_tau_s, sr)[None, :]
    starts = np.round(times_s * sr).astype(np.int64)
    return dsp.bandpass(dsp.scatter(n, starts, grains), band_hz[0], band_hz[1], sr)


def noise_tail(
    rng: np.random.Generator, sr: int, band_hz: tuple[float, float], tau_s: float
) -> dsp.Signal:
    """A short diffuse tail (the room answering a hit): band-passed decaying noise."""
    n = dsp.samples(7 * tau_s, sr)
    return dsp.bandpass(dsp.white(rng, n) * dsp.decay(n, tau_s, sr), band_hz[0], band_hz[1], sr)


def mix(*parts: tuple[dsp.Signal, float, float], sr: int) -> dsp.Signal:
    """Sum `(signal, peak, offset_s)` parts into one signal long enough for all of them; each
    part is scaled to the given peak first, so the numbers read as relative loudness."""
    starts = [round(offset_s * sr) for _, _, offset_s in parts]
    n = max(start + part.size for (part, _, _), start in zip(parts, starts, strict=True))
    out = np.zeros(n)
    for (part, gain, _), start in zip(parts, starts, strict=True):
        out[start : start + part.size] += dsp.normalise_peak(part, gain)
    return out
