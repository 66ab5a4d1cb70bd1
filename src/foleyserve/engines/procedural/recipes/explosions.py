"""Explosions and gunshots: a blast wave's crack and boom, then what the world does with it.

An explosion is a broadband blast, a very low boom whose pitch drops as the fireball expands,
a long rumble, and debris raining down a moment later. A gunshot is a sharp supersonic crack
with a short muzzle boom, then its reflections: one distinct slap-back and a decaying tail.
A firework bursts, then sparkles crackle as they fall.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
from foleyserve.engines.procedural.recipes.base import HitFn, Recipe, RecipeKind, impulsive

Rng = np.random.Generator


def _explosion(rng: Rng, sr: int) -> dsp.Signal:
    debris_s = rng.uniform(0.8, 1.4)
    debris = atoms.crunch(rng, sr, debris_s, 90, (800, 6000), 0.003, debris_s / 2)
    return atoms.mix(
        (atoms.click(rng, sr, 60, 6000, 0.03), 0.9, 0.0),  # the blast front
        (atoms.thump(rng, sr, 38, 0.35, drop=1.5), 1.0, 0.0),  # the boom
        (atoms.noise_tail(rng, sr, (25, 220), 0.9), 0.8, 0.0),  # the rumble
        (debris, 0.15, rng.uniform(0.4, 0.8)),
        sr=sr,
    )


def _gunshot(rng: Rng, sr: int) -> dsp.Signal:
    return atoms.mix(
        (atoms.click(rng, sr, 800, 10000, 0.004), 1.0, 0.0),  # the crack
        (atoms.click(rng, sr, 2500, 14000, 0.0015), 0.7, 0.0),  # the supersonic snap
        (atoms.thump(rng, sr, 110, 0.03, drop=1.0), 0.45, 0.0),  # the muzzle boom
        (atoms.noise_tail(rng, sr, (300, 5000), 0.25), 0.2, 0.0),
        (atoms.click(rng, sr, 300, 4000, 0.02), 0.25, rng.uniform(0.08, 0.2)),  # slap-back
        sr=sr,
    )


def _firework(rng: Rng, sr: int) -> dsp.Signal:
    sparkle_s = rng.uniform(1.2, 2.0)
    sparkles = atoms.crunch(rng, sr, sparkle_s, 220, (2000, 10000), 0.0015, sparkle_s / 2.5)
    return atoms.mix(
        (atoms.click(rng, sr, 200, 8000, 0.008), 1.0, 0.0),
        (atoms.thump(rng, sr, 70, 0.15, drop=0.8), 0.9, 0.0),
        (atoms.noise_tail(rng, sr, (60, 800), 0.5), 0.35, 0.0),
        (sparkles, 0.3, rng.uniform(0.15, 0.35)),
        sr=sr,
    )


_HITS: dict[str, HitFn] = {"explosion": _explosion, "gunshot": _gunshot, "firework": _firework}

EXPLOSION = Recipe(
    family="explosion",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "explosion": "a big explosion blast",
        "gunshot": "a gunshot, a gun firing",
        "firework": "fireworks bursting in the sky",
    },
    descriptions=(
        "an explosion",
        "a bomb goes off",
        "gunfire",
        "a gun shot",
        "fireworks",
        "a blast",
    ),
    keywords=(
        "explosion",
        "explod",
        "bomb",
        "blast",
        "boom",
        "gun",
        "gunshot",
        "shot",
        "shoot",
        "rifle",
        "pistol",
        "firework",
        "grenade",
        "detonat",
        "cannon",
    ),
    render=impulsive("explosion", _HITS),
    variant_keywords={
        "gunshot": ("gun", "gunshot", "shot", "shoot", "rifle", "pistol", "gunfire", "bullet"),
        "firework": ("firework", "firecracker"),
    },
)
