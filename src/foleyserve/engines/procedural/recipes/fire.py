"""Fire: crackle (wood and sap bursting) over a roar (turbulent combustion).

Crackles come in clusters (a pocket of sap giving way sets off its neighbours), with a
heavy-tailed spread of loudness: mostly tiny ticks, now and then a sharp pop that rings the
burning log a little. The roar is low noise whose level flickers irregularly a few times a
second, with a faint hiss of gas above it.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes.base import (
    BED_PEAK,
    BED_RMS,
    BedFn,
    Recipe,
    RecipeKind,
    continuous,
)
from foleyserve.engines.procedural.scene import Scene

Rng = np.random.Generator

_CRACKLE_LENGTH_S = 0.012


def _crackle_times_s(rng: Rng, duration_s: float, clusters_per_s: float) -> dsp.Signal:
    """Clustered crackle times: a Poisson process of clusters, 1-7 crackles each within ~60 ms."""
    cluster_times_s = dsp.poisson_times(rng, clusters_per_s, duration_s)
    sizes = rng.integers(1, 8, cluster_times_s.size)
    times_s = np.repeat(cluster_times_s, sizes) + rng.exponential(0.02, int(sizes.sum()))
    return np.sort(times_s[times_s < duration_s])


def _crackles(rng: Rng, n: int, sr: int, clusters_per_s: float) -> dsp.Signal:
    """`[2, n]`: broadband ticks, a few of them pops that ring at a low-mid resonance."""
    times_s = _crackle_times_s(rng, n / sr, clusters_per_s)
    count = times_s.size
    length = dsp.samples(_CRACKLE_LENGTH_S, sr)
    t = dsp.time_axis(length, sr)[None, :]
    ticks = dsp.white(rng, count * length).reshape(count, length)
    ticks *= np.exp(-t / rng.uniform(0.0002, 0.0015, (count, 1)))
    pop_hz = rng.uniform(500, 2200, (count, 1))
    pops = np.sin(2 * np.pi * pop_hz * t) * np.exp(-t / 0.003) * (rng.random((count, 1)) < 0.15)
    levels = np.minimum(rng.pareto(2.5, (count, 1)) + 0.1, 3.0)
    grains = (ticks + 1.5 * pops) * levels
    starts = np.round(times_s * sr).astype(np.int64)
    stereo = dsp.scatter_panned(n, starts, grains, rng.uniform(-0.6, 0.6, count))
    return dsp.highpass(stereo, 700, sr)


def _roar(rng: Rng, scene: Scene, cutoff_hz: float, hiss: float) -> dsp.Signal:
    flicker_hz = 5.0
    knots = dsp.random_knots(rng, scene.duration_s, flicker_hz)

    def gain(freqs_hz: dsp.Signal, times_s: dsp.Signal) -> dsp.Signal:
        body = (freqs_hz / (freqs_hz + 40)) / (1 + (freqs_hz / cutoff_hz) ** 2)
        gas = hiss * (freqs_hz / (freqs_hz + 3000)) / (1 + (freqs_hz / 9000) ** 2)
        flicker = 0.4 + dsp.knot_curve(knots, times_s, flicker_hz) ** 2
        return flicker[:, None] * (body + gas)[None, :]

    return dsp.shaped_noise(rng, scene.n_samples, scene.sample_rate_hz, gain)


def _fire(clusters_per_s: float, crackle_peak: float, roar: float, cutoff_hz: float) -> BedFn:
    """Crackles whose typical peak is `crackle_peak` x `BED_RMS` over a roar at `roar` x
    `BED_RMS` (darker below `cutoff_hz`); then the whole bed fitted to `BED_RMS`/`BED_PEAK`."""

    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        crackle = _crackles(rng, scene.n_samples, scene.sample_rate_hz, clusters_per_s)
        body = _roar(rng, scene, cutoff_hz, hiss=cutoff_hz / 5000)
        crackle = dsp.normalise_percentile(crackle, crackle_peak * BED_RMS)
        crackle = dsp.soft_limit(crackle, crackle_peak * BED_RMS, 2 * crackle_peak * BED_RMS)
        mix = crackle + dsp.normalise_rms(body, roar * BED_RMS)
        return dsp.fit_level(mix, BED_RMS, BED_PEAK)

    return bed


FIRE = Recipe(
    family="fire",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "campfire": "a crackling campfire",
        "blaze": "a big roaring fire, a burning building",
        "fireplace": "a quiet fireplace with logs burning",
    },
    descriptions=(
        "fire",
        "fire crackling",
        "flames burning",
        "a bonfire",
        "a burning house",
        "wood burning in a fireplace",
    ),
    keywords=(
        "fire",
        "crackl",
        "flame",
        "burn",
        "blaze",
        "bonfire",
        "campfire",
        "fireplace",
        "inferno",
        "torch",
        "ember",
    ),
    render=continuous(
        "fire",
        {
            "campfire": _fire(clusters_per_s=6, crackle_peak=5.0, roar=0.5, cutoff_hz=350),
            "blaze": _fire(clusters_per_s=14, crackle_peak=3.0, roar=1.0, cutoff_hz=600),
            "fireplace": _fire(clusters_per_s=3, crackle_peak=4.0, roar=0.4, cutoff_hz=250),
        },
    ),
    variant_keywords={
        "blaze": ("blaze", "roar", "inferno", "building", "house", "forest", "big", "huge"),
        "fireplace": ("fireplace", "hearth", "log", "cozy", "stove"),
    },
)
