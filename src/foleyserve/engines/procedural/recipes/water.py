"""Water: flowing beds (stream, bubbles, waves) and splashes on visual events.

Moving water is mostly bubbles: each one rings once at its Minnaert frequency (small bubbles
high, large ones low) with the pitch rising as it nears the surface, which is what makes a
brook "babble". Waves are slow swells of broadband noise that brighten as they break and wash
out darker. A splash is the slap of the surface, the plunge, a burst of bubbles and droplets
falling back.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
from foleyserve.engines.procedural.recipes.base import (
    BED_PEAK,
    BED_RMS,
    BedFn,
    HitFn,
    Recipe,
    RecipeKind,
    continuous,
    impulsive,
)
from foleyserve.engines.procedural.scene import Scene

Rng = np.random.Generator


def _bubbles(
    rng: Rng, n: int, sr: int, times_s: dsp.Signal, band_hz: tuple[float, float], tau_s: float
) -> dsp.Signal:
    """One bubble per entry of `times_s`, `[2, n]`, each at a random pitch in `band_hz`; larger
    (lower) bubbles ring longer, around `tau_s`."""
    count = times_s.size
    length = dsp.samples(10 * tau_s, sr)
    t = dsp.time_axis(length, sr)[None, :]
    start_hz = np.exp(rng.uniform(np.log(band_hz[0]), np.log(band_hz[1]), (count, 1)))
    taus = tau_s * np.sqrt(band_hz[0] / start_hz) * rng.uniform(0.6, 1.4, (count, 1))
    freq_hz = start_hz * (1 + rng.uniform(0.1, 0.5, (count, 1)) * t / taus)
    grains = np.sin(2 * np.pi * dsp.phase_cycles(freq_hz, sr)) * np.exp(-t / taus)
    grains *= rng.lognormal(0.0, 0.6, (count, 1))
    starts = np.round(times_s * sr).astype(np.int64)
    return dsp.scatter_panned(n, starts, grains, rng.uniform(-0.7, 0.7, count))


def _flow_noise(
    rng: Rng, scene: Scene, low_hz: float, high_hz: float, flutter_hz: float
) -> dsp.Signal:
    """Turbulent flow: band noise with a quick irregular flutter in level."""
    knots = dsp.random_knots(rng, scene.duration_s, flutter_hz)

    def gain(freqs_hz: dsp.Signal, times_s: dsp.Signal) -> dsp.Signal:
        band = (freqs_hz / (freqs_hz + low_hz)) ** 2 / (1 + (freqs_hz / high_hz) ** 2)
        flutter = 0.5 + dsp.knot_curve(knots, times_s, flutter_hz)
        return flutter[:, None] * band[None, :]

    return dsp.shaped_noise(rng, scene.n_samples, scene.sample_rate_hz, gain)


def _stream(scene: Scene, rng: Rng) -> dsp.Signal:
    sr = scene.sample_rate_hz
    times_s = dsp.poisson_times(rng, 180, scene.duration_s)
    bubbles = _bubbles(rng, scene.n_samples, sr, times_s, (450, 3200), 0.006)
    flow = _flow_noise(rng, scene, 250, 5000, 6.0)
    mix = dsp.normalise_rms(bubbles, BED_RMS) + dsp.normalise_rms(flow, 0.6 * BED_RMS)
    return dsp.fit_level(mix, BED_RMS, BED_PEAK)


def _bubbling(scene: Scene, rng: Rng) -> dsp.Signal:
    times_s = dsp.poisson_times(rng, 14, scene.duration_s)
    bubbles = _bubbles(rng, scene.n_samples, scene.sample_rate_hz, times_s, (180, 900), 0.02)
    flow = _flow_noise(rng, scene, 150, 1500, 3.0)
    mix = dsp.normalise_rms(bubbles, BED_RMS) + dsp.normalise_rms(flow, 0.15 * BED_RMS)
    return dsp.fit_level(mix, BED_RMS, BED_PEAK)


def _waves(scene: Scene, rng: Rng) -> dsp.Signal:
    """Breaking waves every 6-11 s (the first already rolling in), over a low sea bed."""
    crests_s = [rng.uniform(0.5, 2.5)]
    while crests_s[-1] < scene.duration_s + 3:
        crests_s.append(crests_s[-1] + rng.uniform(6.0, 11.0))
    crests = np.asarray(crests_s)[:, None]
    rises_s = rng.uniform(1.5, 3.0, (crests.size, 1))
    washes_s = rng.uniform(2.0, 3.5, (crests.size, 1))
    heights = rng.uniform(0.6, 1.0, (crests.size, 1))

    def gain(freqs_hz: dsp.Signal, times_s: dsp.Signal) -> dsp.Signal:
        t = times_s[None, :] - crests
        swell = np.where(
            t < 0,
            np.exp(-((np.minimum(t, 0) / rises_s) ** 2)),
            np.exp(-np.maximum(t, 0) / washes_s),
        )
        surge = np.max(heights * swell, axis=0)[:, None]
        cutoff_hz = 400 + 5000 * surge**2  # a breaking crest is bright, the wash dark
        bright = 1 / (1 + (freqs_hz[None, :] / cutoff_hz) ** 2)
        bed = 0.12 / (1 + (freqs_hz[None, :] / 300) ** 2)
        return dsp.as_signal(
            (bed + surge * bright) * (freqs_hz[None, :] / (freqs_hz[None, :] + 40))
        )

    stereo = dsp.shaped_noise(rng, scene.n_samples, scene.sample_rate_hz, gain)
    return dsp.fit_level(stereo, 1.3 * BED_RMS, BED_PEAK)


def _splash(rng: Rng, sr: int) -> dsp.Signal:
    spread_s = rng.uniform(0.3, 0.6)
    n = dsp.samples(spread_s + 0.2, sr)
    bubble_times = np.minimum(rng.exponential(spread_s / 4, int(rng.integers(40, 90))), spread_s)
    bubbles = _bubbles(rng, n, sr, bubble_times, (300, 2500), 0.005).sum(axis=0)
    droplets = atoms.crunch(rng, sr, spread_s + 0.2, 120, (1500, 9000), 0.001, spread_s / 1.5)
    return atoms.mix(
        (atoms.click(rng, sr, 300, 5000, 0.012), 1.0, 0.0),  # the surface slap
        (atoms.thump(rng, sr, 130, 0.04), 0.6, 0.0),  # the plunge
        (atoms.noise_tail(rng, sr, (400, 6000), 0.08), 0.5, 0.0),  # the sheet of water
        (bubbles, 0.5, 0.01),
        (droplets, 0.35, 0.05),
        sr=sr,
    )


def _drip(rng: Rng, sr: int) -> dsp.Signal:
    n = dsp.samples(0.12, sr)
    t = dsp.time_axis(n, sr)
    start_hz = rng.uniform(700, 1300)
    freq_hz = start_hz * (1 + 1.5 * (1 - np.exp(-t / 0.012)))  # the classic rising "bloop"
    plop = np.sin(2 * np.pi * dsp.phase_cycles(freq_hz, sr)) * dsp.attack_decay(n, 0.001, 0.018, sr)
    return atoms.mix((plop, 1.0, 0.0), (atoms.click(rng, sr, 2000, 9000, 0.0008), 0.3, 0.0), sr=sr)


_BEDS: dict[str, BedFn] = {"stream": _stream, "bubbles": _bubbling, "waves": _waves}
_HITS: dict[str, HitFn] = {"splash": _splash, "drip": _drip}

WATER = Recipe(
    family="water",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "stream": "a babbling stream of running water",
        "bubbles": "water bubbling",
        "waves": "ocean waves crashing on the shore",
    },
    descriptions=(
        "running water",
        "a stream flowing",
        "a river",
        "a waterfall",
        "ocean waves",
        "the sea",
        "water bubbling",
        "a fountain",
    ),
    keywords=(
        "water",
        "stream",
        "river",
        "brook",
        "creek",
        "wave",
        "ocean",
        "sea",
        "surf",
        "bubbl",
        "fountain",
        "waterfall",
        "flow",
        "faucet",
        "beach",
    ),
    render=continuous("water", _BEDS),
    variant_keywords={
        "bubbles": ("bubbl", "boil", "underwater", "gurgl"),
        "waves": ("wave", "ocean", "sea", "surf", "shore", "beach", "tide"),
    },
)

SPLASH = Recipe(
    family="splash",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "splash": "something splashing into water",
        "drip": "a single water drop dripping",
    },
    descriptions=(
        "a splash",
        "jumping into a pool",
        "a stone dropped into water",
        "splashing in water",
        "water dripping",
    ),
    keywords=("splash", "plunge", "dive", "drip", "droplet", "plop", "pool", "puddle"),
    render=impulsive("splash", _HITS),
    variant_keywords={"drip": ("drip", "droplet", "plop", "drop")},
)
