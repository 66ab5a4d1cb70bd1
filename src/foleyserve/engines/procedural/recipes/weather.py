"""Weather beds: rain, wind and thunder. Continuous and steady: they ignore the motion curve
(weather does not follow what the camera sees move).

Rain is a hiss bed (the far field of countless drops) under nearby drops rendered as grains:
a tick, and for some a bubble "plink" whose pitch rises as the bubble collapses. On a tin roof
each drop also rings the sheet metal's modes. Wind is noise through a band that opens and
brightens with each gust; howling adds narrow whistles gliding with the gusts. Thunder is a
crack (a burst of sharp sub-cracks from the nearest part of the bolt) and a low rumble that
swells irregularly for seconds as sound arrives from farther along the channel.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
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

_DROP_PEAK = 0.3
"""Typical peak (99.9th percentile) of the nearby drops, before the bed's final level."""
_TICK_LENGTH_S = 0.008
_PLINK_LENGTH_S = 0.025
_TIN_MODES_HZ = (730.0, 1180.0, 1720.0, 2440.0, 3350.0, 4600.0)


def _drops(rng: Rng, n: int, sr: int, per_s: float, plink_share: float) -> dsp.Signal:
    """Nearby raindrops, `[2, n]`: ticks, a `plink_share` of them with a rising bubble tone."""
    times_s = dsp.poisson_times(rng, per_s, n / sr)
    count = times_s.size
    tick_t = dsp.time_axis(dsp.samples(_TICK_LENGTH_S, sr), sr)[None, :]
    ticks = dsp.white(rng, count * tick_t.size).reshape(count, tick_t.size)
    ticks *= np.exp(-tick_t / rng.uniform(0.0003, 0.0012, (count, 1)))
    with_plink = np.flatnonzero(rng.random(count) < plink_share)
    plink_t = dsp.time_axis(dsp.samples(_PLINK_LENGTH_S, sr), sr)[None, :]
    start_hz = np.exp(rng.uniform(np.log(1500), np.log(4500), (with_plink.size, 1)))
    bubble_hz = start_hz * (1 + 40 * plink_t)  # Minnaert resonance rising as the bubble closes
    plinks = np.sin(2 * np.pi * dsp.phase_cycles(bubble_hz, sr)) * np.exp(-plink_t / 0.004)
    levels = np.minimum(rng.lognormal(0.0, 0.8, count), 4.0)
    starts = np.round(times_s * sr).astype(np.int64)
    pans = rng.uniform(-0.9, 0.9, count)
    stereo = dsp.scatter_panned(n, starts, ticks * levels[:, None], pans)
    plinks *= 0.7 * levels[with_plink, None]
    return stereo + dsp.scatter_panned(n, starts[with_plink], plinks, pans[with_plink])


def _hiss(rng: Rng, scene: Scene, low_hz: float, high_hz: float, body: float) -> dsp.Signal:
    """The far-field rain bed: band-limited noise, slowly breathing in level; `body` adds the
    low-mid weight of a downpour."""
    knots = dsp.random_knots(rng, scene.duration_s, 0.3)

    def gain(freqs_hz: dsp.Signal, times_s: dsp.Signal) -> dsp.Signal:
        band = (freqs_hz / (freqs_hz + low_hz)) ** 2 / (1 + (freqs_hz / high_hz) ** 4)
        weight = body / (1 + (freqs_hz / 600) ** 2)
        level = 0.8 + 0.4 * dsp.knot_curve(knots, times_s, 0.3)
        return level[:, None] * (band + weight)[None, :]

    return dsp.shaped_noise(rng, scene.n_samples, scene.sample_rate_hz, gain)


def _rain(per_s: float, hiss_share: float, body: float, level: float) -> BedFn:
    """`per_s` nearby drops over a hiss `hiss_share` of `BED_RMS`; `body` adds low-mid weight;
    the whole bed at `level` x `BED_RMS` (within `BED_PEAK`)."""

    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        hiss = dsp.normalise_rms(_hiss(rng, scene, 700, 9000, body), hiss_share * BED_RMS)
        drops = _drops(rng, scene.n_samples, scene.sample_rate_hz, per_s, plink_share=0.3)
        drops = dsp.highpass(drops, 400, scene.sample_rate_hz)
        drops = dsp.soft_limit(dsp.normalise_percentile(drops, _DROP_PEAK), _DROP_PEAK, 0.6)
        return dsp.fit_level(hiss + drops, level * BED_RMS, BED_PEAK)

    return bed


def _tin_roof(scene: Scene, rng: Rng) -> dsp.Signal:
    sr = scene.sample_rate_hz
    drops = _drops(rng, scene.n_samples, sr, 260, plink_share=0.0)
    roof = sum(
        dsp.resonate(drops, f * rng.uniform(0.97, 1.03), rng.uniform(25, 45), sr) * g
        for f, g in zip(_TIN_MODES_HZ, (1.0, 0.9, 0.8, 0.7, 0.5, 0.4), strict=True)
    )
    drum = dsp.resonate(drops, rng.uniform(160, 240), 6.0, sr)  # the whole sheet flexing
    hiss = dsp.normalise_rms(_hiss(rng, scene, 1200, 10000, 0.0), 0.35 * BED_RMS)
    metal = np.asarray(roof, np.float64) + 0.6 * drum + 0.4 * drops
    return dsp.fit_level(hiss + dsp.normalise_percentile(metal, _DROP_PEAK), BED_RMS, BED_PEAK)


def _wind(centre_hz: tuple[float, float], whistle: float, gustiness: float, level: float) -> BedFn:
    """Wind whose band centre moves between `centre_hz` with gust strength; `whistle` > 0 adds
    two narrow gliding whistles (wind howling past edges and through branches)."""

    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        rate_hz = rng.uniform(0.15, 0.3)
        gust_knots = dsp.random_knots(rng, scene.duration_s, rate_hz)
        whistle_ratio = rng.uniform(1.35, 1.6)

        def gain(freqs_hz: dsp.Signal, times_s: dsp.Signal) -> dsp.Signal:
            gust = dsp.knot_curve(gust_knots, times_s, rate_hz)[:, None] ** 1.5
            centre = centre_hz[0] + (centre_hz[1] - centre_hz[0]) * gust
            octaves = np.log2(np.maximum(freqs_hz, 10.0)[None, :] / centre)
            band = np.exp(-0.5 * (octaves / 1.1) ** 2)
            tones = np.zeros_like(band)
            for ratio, width in ((1.0, 0.025), (whistle_ratio, 0.02)):
                tones += np.exp(
                    -0.5
                    * (np.log2(np.maximum(freqs_hz, 10.0)[None, :] / (centre * ratio)) / width) ** 2
                )
            return (1 - gustiness + gustiness * gust) * (band + whistle * tones)

        stereo = dsp.shaped_noise(rng, scene.n_samples, scene.sample_rate_hz, gain)
        return dsp.fit_level(stereo, level * BED_RMS, BED_PEAK)

    return bed


def _roll_times_s(rng: Rng, duration_s: float) -> list[float]:
    """When thunder rolls: the first early (short clips still hear one), then every 6-14 s."""
    times_s = [rng.uniform(0.05, 0.3) * min(duration_s, 4.0)]
    while (later_s := times_s[-1] + rng.uniform(6.0, 14.0)) < duration_s:
        times_s.append(later_s)
    return times_s


def _rumble_swells(rng: Rng, starts_s: list[float]) -> dsp.Signal:
    """Each roll's loudness as overlapping swells arriving over a few seconds (sound from ever
    farther along the bolt): rows of (onset_s, rise_s, fall_s, level)."""
    rows = []
    for start_s in starts_s:
        count = int(rng.integers(3, 7))
        onsets_s = start_s + np.sort(rng.exponential(rng.uniform(0.6, 1.5), count))
        rows.append(
            np.stack(
                [
                    onsets_s,
                    rng.uniform(0.05, 0.4, count),
                    rng.uniform(0.8, 2.5, count),
                    rng.uniform(0.4, 1.0, count),
                ],
                axis=1,
            )
        )
    return np.concatenate(rows)


def _rumble_envelope(
    swells: dsp.Signal, roll_starts_s: list[float], times_s: dsp.Signal
) -> dsp.Signal:
    onset_s, rise_s, fall_s, level = (swells[:, i, None] for i in range(4))
    t = times_s[None, :] - onset_s
    shape = np.where(
        t < 0, np.exp(-((np.minimum(t, 0.0) / rise_s) ** 2)), np.exp(-np.maximum(t, 0.0) / fall_s)
    )
    envelope = np.sum(level * shape, axis=0)
    return dsp.as_signal(envelope * (times_s >= min(roll_starts_s)))


def _crack(rng: Rng, sr: int) -> dsp.Signal:
    parts = [(atoms.click(rng, sr, 300, 9000, 0.004), 1.0, 0.0)]
    for offset_s in np.sort(rng.uniform(0.005, 0.25, int(rng.integers(5, 12)))):
        parts.append((atoms.click(rng, sr, 200, 7000, 0.006), rng.uniform(0.3, 0.9), offset_s))
    parts.append((atoms.noise_tail(rng, sr, (150, 3000), 0.12), 0.45, 0.0))  # the tearing
    return atoms.mix(*parts, sr=sr)


def _thunder(cutoff_hz: float, with_crack: bool) -> BedFn:
    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        sr = scene.sample_rate_hz
        starts_s = _roll_times_s(rng, scene.duration_s)
        swells = _rumble_swells(rng, starts_s)

        def gain(freqs_hz: dsp.Signal, times_s: dsp.Signal) -> dsp.Signal:
            spectrum = (freqs_hz / (freqs_hz + 25)) / (1 + (freqs_hz / cutoff_hz) ** 2)
            return _rumble_envelope(swells, starts_s, times_s)[:, None] * spectrum[None, :]

        rumble = dsp.shaped_noise(rng, scene.n_samples, sr, gain)
        rumble = dsp.normalise_peak(rumble, 0.5)
        if with_crack:
            for start_s in starts_s:
                crack = dsp.pan_mono(_crack(rng, sr), rng.uniform(-0.5, 0.5))
                dsp.add_at(rumble, dsp.normalise_peak(crack, 0.8), round(start_s * sr))
        return rumble

    return bed


RAIN = Recipe(
    family="rain",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "steady": "steady rain falling",
        "light": "light rain, a gentle drizzle",
        "heavy": "heavy rain, a downpour",
        "tin_roof": "rain drumming on a tin roof",
    },
    descriptions=(
        "rain",
        "rain falling",
        "raindrops",
        "a rainstorm",
        "it is raining outside",
        "drizzle",
        "rain pattering on a window",
    ),
    keywords=("rain", "drizzl", "downpour", "raindrop", "shower", "storm"),
    render=continuous(
        "rain",
        {
            "steady": _rain(per_s=220, hiss_share=0.8, body=0.15, level=1.0),
            "light": _rain(per_s=45, hiss_share=0.5, body=0.0, level=0.6),
            "heavy": _rain(per_s=900, hiss_share=1.2, body=0.6, level=1.2),
            "tin_roof": _tin_roof,
        },
    ),
    variant_keywords={
        "light": ("light", "drizzl", "gentle", "soft"),
        "heavy": ("heavy", "downpour", "pouring", "torrential", "storm"),
        "tin_roof": ("tin", "roof", "metal", "corrugated", "tent"),
    },
)

WIND = Recipe(
    family="wind",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "gusty": "gusts of wind blowing",
        "howling": "wind howling and whistling through trees",
        "breeze": "a gentle breeze",
    },
    descriptions=(
        "wind",
        "wind blowing",
        "a windy day",
        "strong gusts of wind",
        "a storm wind",
        "air blowing",
    ),
    keywords=("wind", "gust", "breeze", "gale", "blowing", "blizzard"),
    render=continuous(
        "wind",
        {
            "gusty": _wind((250.0, 900.0), whistle=0.0, gustiness=0.8, level=1.0),
            "howling": _wind((350.0, 800.0), whistle=0.9, gustiness=0.7, level=1.0),
            "breeze": _wind((700.0, 1800.0), whistle=0.0, gustiness=0.5, level=0.5),
        },
    ),
    variant_keywords={
        "howling": ("howl", "whistl", "moan", "tree"),
        "breeze": ("breeze", "gentle", "light", "soft"),
    },
)

THUNDER = Recipe(
    family="thunder",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "close": "a loud thunderclap right overhead",
        "distant": "distant thunder rumbling far away",
    },
    descriptions=(
        "thunder",
        "a thunderstorm",
        "lightning strike and thunder",
        "rumbling thunder",
        "a thunderclap",
    ),
    keywords=("thunder", "lightning", "thunderclap", "thunderstorm"),
    render=continuous(
        "thunder",
        {
            "close": _thunder(cutoff_hz=140.0, with_crack=True),
            "distant": _thunder(cutoff_hz=80.0, with_crack=False),
        },
    ),
    variant_keywords={"distant": ("distant", "far", "faint", "remote")},
)
