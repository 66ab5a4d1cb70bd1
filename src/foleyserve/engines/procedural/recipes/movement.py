"""Sounds of movement itself: whooshes (air displaced by something fast) and rustles (cloth,
paper, leaves rubbed by a moving body). Both follow the motion curve: nothing moves, nothing
sounds; and both sit where the motion is (the scene's pan curve).

A whoosh is a band of noise whose level and centre frequency rise with the speed, so a swing
sweeps up and back down. A rustle is friction: many tiny crinkles whose density follows the
motion, over a soft band of noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes.base import (
    BED_RMS,
    BedFn,
    Recipe,
    RecipeKind,
    continuous,
    motion_level,
    pan_curve,
)
from foleyserve.engines.procedural.scene import Scene

Rng = np.random.Generator


def _motion_at(scene: Scene) -> Callable[[dsp.Signal], dsp.Signal]:
    """The motion curve as a function of time (linear between control steps)."""
    steps_s = np.arange(scene.motion.size) / scene.control_rate_hz
    motion = np.clip(scene.motion.astype(np.float64), 0.0, 1.0)
    return lambda times_s: np.interp(times_s, steps_s, motion)


def _whoosh(low_hz: float, high_hz: float, width_octaves: float, peak_rms: float) -> BedFn:
    """A band `width_octaves` wide whose centre moves from `low_hz` (slow) to `high_hz` (fast);
    at full motion the bed's RMS is `peak_rms`. Band power is kept constant across centres, so
    loudness comes from the motion alone."""

    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        motion_at = _motion_at(scene)

        def gain(freqs_hz: dsp.Signal, times_s: dsp.Signal) -> dsp.Signal:
            speed = motion_at(times_s)[:, None]
            centre_hz = low_hz * (high_hz / low_hz) ** speed
            octaves = np.log2(np.maximum(freqs_hz, 10.0)[None, :] / centre_hz)
            band = np.exp(-0.5 * (octaves / width_octaves) ** 2)
            band /= np.sqrt(np.mean(band**2, axis=1, keepdims=True))
            return speed**1.5 * band

        air = dsp.shaped_noise(rng, scene.n_samples, scene.sample_rate_hz, gain, channels=1)[0]
        return dsp.pan_mono(air * peak_rms, pan_curve(scene))

    return bed


_CRINKLE_TAU_S = 0.0008
_CRINKLE_SPREAD = 0.7
"""Log-normal sigma of crinkle loudness."""


def _crinkles(rng: Rng, scene: Scene, per_s: float, band_hz: tuple[float, float]) -> dsp.Signal:
    """Friction ticks as a Poisson process thinned by the motion: denser when moving faster.
    Scaled so that full motion gives about unit RMS (less motion: sparser, and so quieter)."""
    sr = scene.sample_rate_hz
    times_s = dsp.poisson_times(rng, per_s, scene.duration_s)
    times_s = times_s[rng.random(times_s.size) < _motion_at(scene)(times_s)]
    length = dsp.samples(8 * _CRINKLE_TAU_S, sr)
    grains = dsp.white(rng, times_s.size * length).reshape(times_s.size, length)
    grains *= np.exp(-dsp.time_axis(length, sr) / _CRINKLE_TAU_S)[None, :]
    grains *= np.minimum(rng.lognormal(0.0, _CRINKLE_SPREAD, (times_s.size, 1)), 3.0)
    ticks = dsp.scatter(scene.n_samples, np.round(times_s * sr).astype(np.int64), grains)
    # Expected power: rate x grain energy x E[level^2] x the band's share of the spectrum.
    band_share = (band_hz[1] - band_hz[0]) / (sr / 2)
    power = per_s * (_CRINKLE_TAU_S / 2) * np.exp(2 * _CRINKLE_SPREAD**2) * band_share
    return dsp.bandpass(ticks, band_hz[0], band_hz[1], sr) / float(np.sqrt(power))


def _rustle(
    per_s: float, tick_band_hz: tuple[float, float], rub_band_hz: tuple[float, float], rub: float
) -> BedFn:
    """Crinkles (`per_s` at full motion) over a rubbing noise `rub` times as loud."""

    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        sr = scene.sample_rate_hz
        level = motion_level(scene, floor=0.0, exponent=1.2)
        flutter = 0.6 + 0.8 * dsp.smooth_random(rng, scene.n_samples, sr, 18.0)
        rubbing = dsp.bandpass(dsp.pink(rng, scene.n_samples), *rub_band_hz, sr)
        rubbing = dsp.normalise_rms(rubbing, 1.0) * flutter * level
        crinkles = dsp.soft_limit(_crinkles(rng, scene, per_s, tick_band_hz), 3.0, 5.0)
        mono = (rub * rubbing + crinkles) * (2 * BED_RMS / (1 + rub))
        return dsp.pan_mono(mono, pan_curve(scene, width=0.8))

    return bed


WHOOSH = Recipe(
    family="whoosh",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "swoosh": "a fast swoosh of something moving through the air",
        "swish": "a thin swish of a sword or a whip cutting the air",
        "rush": "a deep rushing whoosh of something big flying past",
    },
    descriptions=(
        "a whoosh",
        "swoosh",
        "something flies past quickly",
        "a sword swinging",
        "a fast swing through the air",
        "a swipe",
    ),
    keywords=(
        "whoosh",
        "swoosh",
        "swish",
        "swing",
        "swipe",
        "sword",
        "whip",
        "woosh",
        "fly",
        "flies",
        "zoom",
        "rush",
        "throw",
    ),
    render=continuous(
        "whoosh",
        {
            "swoosh": _whoosh(300.0, 3500.0, 0.9, 1.6 * BED_RMS),
            "swish": _whoosh(900.0, 7000.0, 0.5, 1.4 * BED_RMS),
            "rush": _whoosh(120.0, 1200.0, 1.1, 1.6 * BED_RMS),
        },
    ),
    variant_keywords={
        "swish": ("swish", "sword", "whip", "blade", "katana", "stick", "cane"),
        "rush": ("rush", "big", "deep", "heavy", "plane", "jet", "train"),
    },
)

RUSTLE = Recipe(
    family="rustle",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "cloth": "clothes rustling as someone moves",
        "paper": "paper crinkling and rustling",
        "leaves": "dry leaves rustling in the bushes",
    },
    descriptions=(
        "rustling",
        "clothing rustle",
        "fabric moving",
        "crumpling paper",
        "rummaging through a bag",
        "leaves rustling",
    ),
    keywords=(
        "rustl",
        "cloth",
        "fabric",
        "paper",
        "crumpl",
        "crinkl",
        "jacket",
        "leaves",
        "leaf",
        "bush",
        "rummag",
        "bag",
        "page",
    ),
    render=continuous(
        "rustle",
        {
            "cloth": _rustle(120, (1500, 6000), (400, 5000), rub=2.0),
            "paper": _rustle(900, (1500, 9000), (1200, 8000), rub=0.4),
            "leaves": _rustle(600, (1200, 8000), (800, 7000), rub=0.8),
        },
    ),
    variant_keywords={
        "paper": ("paper", "crumpl", "crinkl", "page", "newspaper", "wrapper", "bag"),
        "leaves": ("leaves", "leaf", "bush", "shrub", "branch", "foliage"),
    },
)
