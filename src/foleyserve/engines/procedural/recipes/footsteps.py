"""Footsteps: one step per visual event, heel then toe, the surface deciding the texture.

A step is two contacts 50-110 ms apart (heel strike, then the ball of the foot rolling down,
quieter). What each contact sounds like is the surface: granular crunch for gravel and snow,
resonant modes for wood and metal, a hard click with a little room for concrete, a soft
rustle for grass.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
from foleyserve.engines.procedural.recipes.base import HitFn, Recipe, RecipeKind, impulsive

Rng = np.random.Generator


def _heel_toe(rng: Rng, sr: int, heel: dsp.Signal, toe: dsp.Signal) -> dsp.Signal:
    toe_delay_s = rng.uniform(0.05, 0.11)
    return atoms.mix((heel, 1.0, 0.0), (toe, rng.uniform(0.35, 0.6), toe_delay_s), sr=sr)


def _gravel(rng: Rng, sr: int) -> dsp.Signal:
    def contact(duration_s: float) -> dsp.Signal:
        stones = atoms.crunch(rng, sr, duration_s, 500, (700, 7000), 0.0015, duration_s / 3)
        return atoms.mix((stones, 1.0, 0.0), (atoms.thump(rng, sr, 85, 0.025), 0.5, 0.0), sr=sr)

    return _heel_toe(rng, sr, contact(rng.uniform(0.14, 0.2)), contact(rng.uniform(0.1, 0.15)))


def _wood(rng: Rng, sr: int) -> dsp.Signal:
    def contact(tau_s: float) -> dsp.Signal:
        boards = atoms.ring(
            rng,
            sr,
            [180, 395, 690, 1150],
            [0.05, 0.035, 0.025, 0.015],
            [1.0, 0.6, 0.35, 0.2],
            spread=0.08,
        )
        return atoms.mix(
            (atoms.thump(rng, sr, 105, tau_s), 1.0, 0.0),
            (boards, 0.55, 0.0),
            (atoms.click(rng, sr, 900, 4500, 0.003), 0.35, 0.0),
            sr=sr,
        )

    return _heel_toe(rng, sr, contact(0.04), contact(0.025))


def _concrete(rng: Rng, sr: int) -> dsp.Signal:
    def contact(click_tau_s: float) -> dsp.Signal:
        return atoms.mix(
            (atoms.click(rng, sr, 1400, 6500, click_tau_s), 1.0, 0.0),
            (atoms.thump(rng, sr, 80, 0.02), 0.5, 0.0),
            (atoms.click(rng, sr, 2500, 9000, 0.03), 0.12, 0.004),  # sole scuff
            (atoms.noise_tail(rng, sr, (300, 3500), 0.06), 0.07, 0.0),
            sr=sr,
        )

    return _heel_toe(rng, sr, contact(0.006), contact(0.004))


def _grass(rng: Rng, sr: int) -> dsp.Signal:
    def contact(duration_s: float) -> dsp.Signal:
        blades = atoms.crunch(rng, sr, duration_s, 260, (1500, 9000), 0.004, duration_s / 2.5)
        return atoms.mix((blades, 1.0, 0.0), (atoms.thump(rng, sr, 70, 0.03), 0.35, 0.0), sr=sr)

    return _heel_toe(rng, sr, contact(rng.uniform(0.22, 0.3)), contact(rng.uniform(0.15, 0.2)))


def _snow(rng: Rng, sr: int) -> dsp.Signal:
    def contact(duration_s: float) -> dsp.Signal:
        # Compacting snow: a dense, fine, slightly squeaky crunch that lasts the whole press.
        flakes = atoms.crunch(rng, sr, duration_s, 2500, (500, 5000), 0.0008, duration_s / 1.5)
        squeak = atoms.ring(rng, sr, [1250, 2500], [0.03, 0.02], [1.0, 0.4], spread=0.1)
        return atoms.mix(
            (flakes, 1.0, 0.0),
            (squeak, 0.15, duration_s * 0.3),
            (atoms.thump(rng, sr, 60, 0.035), 0.4, 0.0),
            sr=sr,
        )

    return _heel_toe(rng, sr, contact(rng.uniform(0.2, 0.28)), contact(rng.uniform(0.14, 0.2)))


def _metal(rng: Rng, sr: int) -> dsp.Signal:
    def contact(ring_gain: float) -> dsp.Signal:
        grating = atoms.ring(
            rng,
            sr,
            [310, 745, 1320, 1990, 2870],
            [0.22, 0.16, 0.1, 0.07, 0.05],
            [1.0, 0.8, 0.6, 0.45, 0.3],
            spread=0.05,
        )
        return atoms.mix(
            (atoms.thump(rng, sr, 95, 0.03), 1.0, 0.0),
            (grating, ring_gain, 0.0),
            (atoms.click(rng, sr, 2000, 9000, 0.002), 0.6, 0.0),
            sr=sr,
        )

    return _heel_toe(rng, sr, contact(0.45), contact(0.3))


_HITS: dict[str, HitFn] = {
    "gravel": _gravel,
    "wood": _wood,
    "concrete": _concrete,
    "grass": _grass,
    "snow": _snow,
    "metal": _metal,
}

FOOTSTEPS = Recipe(
    family="footsteps",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "gravel": "footsteps crunching on gravel",
        "wood": "footsteps on a wooden floor",
        "concrete": "footsteps on concrete pavement",
        "grass": "footsteps walking through grass",
        "snow": "footsteps crunching in snow",
        "metal": "footsteps on a metal grating",
    },
    descriptions=(
        "footsteps",
        "someone walking",
        "a person walking",
        "people walking",
        "running footsteps",
        "someone running",
        "a person walking down a corridor",
        "high heels clicking on a floor",
        "steps",
    ),
    keywords=(
        "footstep",
        "step",
        "walk",
        "run",
        "stomp",
        "jog",
        "tread",
        "stride",
        "hike",
        "heels",
        "boots",
        "sneakers",
        "shoes",
    ),
    render=impulsive("footsteps", _HITS),
    variant_keywords={
        "gravel": ("gravel", "pebble", "stone", "rock"),
        "wood": ("wood", "wooden", "floorboard", "plank", "parquet"),
        "concrete": ("concrete", "pavement", "sidewalk", "tile", "asphalt", "street", "heel"),
        "grass": ("grass", "lawn", "meadow", "field"),
        "snow": ("snow", "snowy"),
        "metal": ("metal", "metallic", "grating", "steel", "iron"),
    },
)
