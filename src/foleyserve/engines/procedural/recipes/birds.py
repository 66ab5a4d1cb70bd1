"""Birds: a few individuals, each singing phrases of syllables from its own repertoire.

A syllable is a frequency-modulated whistle: a sweep (mostly 2-7 kHz for songbirds) with a
smooth envelope, sometimes trilled (fast periodic FM), with a weak second harmonic. Phrases of
a few syllables repeat at irregular intervals, each bird at its own pitch and place in the
stereo field. Crows instead caw: a harsh, harmonic-rich, nasal tone around 500-1000 Hz.
All syllables of a clip are rendered as one matrix of grains and scattered in one go.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Song:
    """How a kind of bird sings."""

    birds: tuple[int, int]
    pitch_hz: tuple[float, float]
    """Range of each bird's centre pitch."""
    sweep: float
    """How far a syllable sweeps, relative to the centre (signed per syllable)."""
    syllable_s: tuple[float, float]
    gap_s: tuple[float, float]
    """Silence between syllables in a phrase."""
    per_phrase: tuple[int, int]
    phrases_per_s: float
    trill_share: float
    harsh: bool = False
    """Caws: a clipped, harmonic-rich tone instead of a pure whistle."""


_CHIRPING = _Song((3, 5), (2800, 5500), 0.45, (0.02, 0.07), (0.03, 0.09), (2, 6), 0.5, 0.15)
_SONG = _Song((2, 3), (2200, 4800), 0.3, (0.05, 0.16), (0.02, 0.06), (4, 10), 0.3, 0.45)
_CROWS = _Song((1, 3), (550, 900), 0.12, (0.22, 0.4), (0.12, 0.25), (2, 4), 0.2, 0.0, True)


def _syllable_plan(rng: Rng, song: _Song, duration_s: float) -> dict[str, dsp.Signal]:
    """Start time, length, centre pitch, sweep, trill and pan of every syllable in the clip."""
    rows: list[dsp.Signal] = []
    for bird in range(int(rng.integers(song.birds[0], song.birds[1] + 1))):
        centre_hz, pan = rng.uniform(*song.pitch_hz), rng.uniform(-0.8, 0.8)
        # The first bird starts at once, so that even a short clip hears birds.
        phrase_s = rng.uniform(0.0, 0.3 if bird == 0 else 1.0 / song.phrases_per_s)
        while phrase_s < duration_s:
            count = int(rng.integers(song.per_phrase[0], song.per_phrase[1] + 1))
            lengths = rng.uniform(*song.syllable_s, count)
            gaps = rng.uniform(*song.gap_s, count)
            starts = phrase_s + np.concatenate([[0.0], np.cumsum(lengths + gaps)[:-1]])
            motif = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)  # phrases repeat a gesture
            rows.append(
                np.stack(
                    [
                        starts,
                        lengths,
                        centre_hz * rng.uniform(0.9, 1.1, count),
                        song.sweep * (motif + 0.3 * rng.standard_normal(count)),
                        (rng.random(count) < song.trill_share) * rng.uniform(25, 60, count),
                        np.full(count, pan),
                    ],
                    axis=1,
                )
            )
            phrase_s = float(starts[-1]) + rng.exponential(1.0 / song.phrases_per_s) + 0.3
    plan = np.concatenate(rows) if rows else np.zeros((0, 6))
    keys = ("start_s", "length_s", "centre_hz", "sweep", "trill_hz", "pan")
    return {key: plan[:, i] for i, key in enumerate(keys)}


def _syllables(plan: dict[str, dsp.Signal], sr: int, harsh: bool) -> dsp.Signal:
    """`[G, L]` grains, one per planned syllable, zero past each syllable's own length."""
    length = dsp.samples(float(np.max(plan["length_s"], initial=0.01)), sr)
    t = dsp.time_axis(length, sr)[None, :]
    within = np.clip(t / plan["length_s"][:, None], 0.0, 1.0)
    centre = plan["centre_hz"][:, None]
    sweep = plan["sweep"][:, None] * (within - 0.5)
    trill = 0.08 * np.sin(2 * np.pi * plan["trill_hz"][:, None] * t)
    cycles = dsp.phase_cycles(centre * (1 + sweep + trill), sr)
    envelope = np.sin(np.pi * within) ** 1.5 * (within < 1.0)
    if harsh:
        tone = np.tanh(4 * np.sin(2 * np.pi * cycles)) + 0.5 * np.sin(4 * np.pi * cycles)
    else:
        tone = np.sin(2 * np.pi * cycles) + 0.12 * np.sin(4 * np.pi * cycles)
    return dsp.as_signal(tone * envelope)


def _birds(song: _Song, level: float) -> BedFn:
    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        n, sr = scene.n_samples, scene.sample_rate_hz
        plan = _syllable_plan(rng, song, scene.duration_s)
        grains = _syllables(plan, sr, song.harsh) * rng.uniform(0.3, 1.0, (plan["pan"].size, 1))
        starts = np.round(plan["start_s"] * sr).astype(np.int64)
        stereo = dsp.scatter_panned(n, starts, grains, plan["pan"])
        if song.harsh:
            stereo = dsp.bandpass(stereo, 500, 4000, sr)  # the nasal, buzzy caw
        return dsp.fit_level(stereo, level * BED_RMS, BED_PEAK)

    return bed


BIRDS = Recipe(
    family="birds",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "chirping": "small birds chirping and tweeting",
        "song": "a songbird's melodic warbling birdsong",
        "crows": "crows cawing",
    },
    descriptions=(
        "birds",
        "birds chirping",
        "birdsong in the morning",
        "birds singing in a forest",
        "a bird tweeting",
        "crows cawing",
    ),
    keywords=(
        "bird",
        "chirp",
        "tweet",
        "birdsong",
        "sparrow",
        "songbird",
        "robin",
        "crow",
        "caw",
        "raven",
        "warbl",
        "pigeon",
        "seagull",
        "gull",
        "dawn",
        "nightingale",
    ),
    render=continuous(
        "birds",
        {
            "chirping": _birds(_CHIRPING, 0.8),
            "song": _birds(_SONG, 0.8),
            "crows": _birds(_CROWS, 1.0),
        },
    ),
    variant_keywords={
        "song": ("sing", "song", "singing", "warbl", "melod", "nightingale", "blackbird"),
        "crows": ("crow", "caw", "raven", "rook"),
    },
)
