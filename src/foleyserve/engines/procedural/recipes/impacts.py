"""Struck objects: generic impacts (hit, thud, punch, ball) and metal (clang, chain, bell).

Modal synthesis: a strike excites an object's resonant modes, each a damped sine. The mode
ratios carry the material: near-harmonic low modes for a ball's air cavity, the inharmonic
free-bar series (1, 2.76, 5.40, 8.93, 13.34) for a pipe, a bell's hum/prime/tierce/quint/nominal.
Metal rings long and its high modes die first; soft bodies are mostly a low falling thump.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
from foleyserve.engines.procedural.recipes.base import HitFn, Recipe, RecipeKind, impulsive

Rng = np.random.Generator

_FREE_BAR_RATIOS = [1.0, 2.756, 5.404, 8.933, 13.344]
_BELL_RATIOS = [0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011, 4.166]


def _hit(rng: Rng, sr: int) -> dsp.Signal:
    body = atoms.ring(rng, sr, [210, 470, 830], [0.05, 0.03, 0.02], [1.0, 0.6, 0.3], spread=0.1)
    return atoms.mix(
        (atoms.thump(rng, sr, 115, 0.05), 1.0, 0.0),
        (atoms.click(rng, sr, 500, 5000, 0.008), 0.6, 0.0),
        (body, 0.35, 0.0),
        sr=sr,
    )


def _thud(rng: Rng, sr: int) -> dsp.Signal:
    weight = atoms.noise_tail(rng, sr, (40, 380), 0.07)
    return atoms.mix(
        (atoms.thump(rng, sr, 58, 0.12, drop=0.8), 1.0, 0.0),
        (weight, 0.5, 0.0),
        (atoms.click(rng, sr, 200, 2200, 0.006), 0.2, 0.0),
        sr=sr,
    )


def _punch(rng: Rng, sr: int) -> dsp.Signal:
    return atoms.mix(
        (atoms.thump(rng, sr, 90, 0.07, drop=1.0), 1.0, 0.0),
        (atoms.click(rng, sr, 800, 4000, 0.012), 0.7, 0.0),  # skin slap
        (atoms.noise_tail(rng, sr, (250, 2000), 0.03), 0.4, 0.0),  # cloth and flesh
        sr=sr,
    )


def _ball(rng: Rng, sr: int) -> dsp.Signal:
    cavity_hz = rng.uniform(320, 520)
    cavity = atoms.ring(rng, sr, [cavity_hz, cavity_hz * 2.1], [0.06, 0.025], [1.0, 0.3])
    return atoms.mix(
        (atoms.thump(rng, sr, 150, 0.03), 1.0, 0.0),
        (cavity, 0.7, 0.0),
        (atoms.click(rng, sr, 1000, 5000, 0.002), 0.3, 0.0),
        sr=sr,
    )


def _clang(rng: Rng, sr: int) -> dsp.Signal:
    fundamental_hz = rng.uniform(220, 480)
    freqs = [fundamental_hz * r for r in _FREE_BAR_RATIOS]
    taus = [1.6, 1.0, 0.6, 0.35, 0.2]
    amps = [1.0, 0.75, 0.55, 0.35, 0.2]
    # A second, slightly detuned set of modes beats against the first: real pipes are never
    # perfectly symmetric, and the slow beating is much of what makes metal sound like metal.
    detuned = [f * (1 + rng.uniform(0.002, 0.006)) for f in freqs]
    return atoms.mix(
        (atoms.ring(rng, sr, freqs, taus, amps, spread=0.01), 1.0, 0.0),
        (atoms.ring(rng, sr, detuned, taus, amps, spread=0.002), 0.7, 0.0),
        (atoms.click(rng, sr, 2000, 10000, 0.002), 0.5, 0.0),
        sr=sr,
    )


def _chain(rng: Rng, sr: int) -> dsp.Signal:
    duration_s = rng.uniform(0.3, 0.6)
    links = rng.integers(14, 32)
    offsets_s = np.sort(rng.exponential(duration_s / 3, links).clip(0, duration_s))
    offsets_s[0] = 0.0
    parts = []
    for offset_s, level in zip(offsets_s, rng.uniform(0.25, 1.0, links), strict=True):
        base_hz = rng.uniform(2200, 6000)
        clink = atoms.ring(rng, sr, [base_hz, base_hz * 1.63], [0.02, 0.012], [1.0, 0.5])
        parts.append((clink, float(level) * np.exp(-offset_s / duration_s), float(offset_s)))
    parts[0] = (parts[0][0], 1.0, 0.0)
    return atoms.mix(*parts, sr=sr)


def _bell(rng: Rng, sr: int) -> dsp.Signal:
    prime_hz = rng.uniform(330, 660)
    freqs = [prime_hz * r for r in _BELL_RATIOS]
    taus = [3.5, 2.5, 2.0, 1.5, 1.2, 0.8, 0.6, 0.45, 0.3]
    amps = [0.6, 1.0, 0.8, 0.5, 0.7, 0.4, 0.3, 0.3, 0.2]
    return atoms.mix(
        (atoms.ring(rng, sr, freqs, taus, amps, spread=0.003), 1.0, 0.0),
        (atoms.click(rng, sr, 1500, 8000, 0.002), 0.3, 0.0),
        sr=sr,
    )


_IMPACT_HITS: dict[str, HitFn] = {"hit": _hit, "thud": _thud, "punch": _punch, "ball": _ball}
_METAL_HITS: dict[str, HitFn] = {"clang": _clang, "chain": _chain, "bell": _bell}

IMPACTS = Recipe(
    family="impacts",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "hit": "an object hitting something, a knock or bump",
        "thud": "a heavy thud of something falling to the ground",
        "punch": "a punch hitting a body, a fist fight",
        "ball": "a ball bouncing on the floor",
    },
    descriptions=(
        "an impact",
        "something hits the ground",
        "a heavy object falls and thuds",
        "a punch in a fight",
        "a ball bounces",
        "objects banging and bumping",
        "a kick",
    ),
    keywords=(
        "impact",
        "hit",
        "thud",
        "bump",
        "bang",
        "punch",
        "kick",
        "ball",
        "bounc",
        "drop",
        "fall",
        "slap",
        "smack",
        "collision",
        "crash",
    ),
    render=impulsive("impacts", _IMPACT_HITS),
    variant_keywords={
        "thud": ("thud", "fall", "drop", "heavy", "land"),
        "punch": ("punch", "fist", "fight", "slap", "kick", "smack", "face"),
        "ball": ("ball", "bounc", "basketball", "tennis", "dribbl"),
    },
)

METAL = Recipe(
    family="metal",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "clang": "a metal pipe clanging when struck",
        "chain": "a metal chain rattling",
        "bell": "a bell ringing",
    },
    descriptions=(
        "metal clang",
        "a metal pipe hit with a hammer",
        "clanking metallic impact",
        "a chain rattling",
        "striking a steel beam",
        "a bell ringing",
    ),
    keywords=(
        "metal",
        "clang",
        "clank",
        "pipe",
        "steel",
        "iron",
        "chain",
        "anvil",
        "hammer",
        "bell",
        "gong",
        "pan",
    ),
    render=impulsive("metal", _METAL_HITS),
    variant_keywords={
        "chain": ("chain", "rattl", "jingl", "shackle"),
        "bell": ("bell", "gong", "chime", "ding"),
    },
)
