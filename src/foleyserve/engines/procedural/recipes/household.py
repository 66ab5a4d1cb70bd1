"""Household sounds: doors (slam, creak, knock) and typing (computer keyboard, typewriter).

A door slam is a big wooden panel hitting its frame (low panel modes and a thump) plus the
latch snapping (a short metallic click) and the room answering. A creak is stick-slip
friction in a hinge: a train of tiny slips whose rate wanders between ~30 and ~250 per second,
each slip ringing the door's wooden resonances. Keys are a plastic click over a dull bottom-out.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
from foleyserve.engines.procedural.recipes.base import HitFn, Recipe, RecipeKind, impulsive

Rng = np.random.Generator

_WOOD_FORMANTS_HZ = (520.0, 1240.0, 2650.0)


def _slam(rng: Rng, sr: int) -> dsp.Signal:
    panel = atoms.ring(rng, sr, [95, 170, 260, 410], [0.15, 0.1, 0.07, 0.05], [1.0, 0.8, 0.5, 0.3])
    latch = atoms.ring(rng, sr, [2300, 3700, 5200], [0.03, 0.02, 0.015], [1.0, 0.7, 0.4])
    return atoms.mix(
        (atoms.thump(rng, sr, 72, 0.09, drop=0.7), 1.0, 0.0),
        (panel, 0.7, 0.0),
        (atoms.click(rng, sr, 1500, 6000, 0.005), 0.45, 0.0),
        (latch, 0.2, 0.003),
        (atoms.noise_tail(rng, sr, (60, 1500), 0.15), 0.15, 0.0),
        sr=sr,
    )


def _creak(rng: Rng, sr: int) -> dsp.Signal:
    duration_s = rng.uniform(0.6, 1.3)
    n = dsp.samples(duration_s, sr)
    wander = dsp.smooth_random(rng, n, sr, rate_hz=rng.uniform(2.0, 5.0))
    slips_per_s = 30 + 220 * wander**1.5
    cycles = dsp.phase_cycles(slips_per_s, sr)
    slips = np.zeros(n)
    slip_at = np.flatnonzero(np.diff(np.floor(cycles), prepend=-1.0) > 0)
    slips[slip_at] = rng.uniform(0.5, 1.0, slip_at.size)
    body = sum(
        dsp.resonate(slips, f * rng.uniform(0.9, 1.1), q, sr)
        for f, q in zip(_WOOD_FORMANTS_HZ, (9.0, 12.0, 14.0), strict=True)
    )
    envelope = np.minimum(1.0, dsp.time_axis(n, sr) / 0.01 + 0.2) * np.hanning(2 * n)[n:] ** 0.3
    return np.asarray(body, np.float64) * envelope


def _knock(rng: Rng, sr: int) -> dsp.Signal:
    panel = atoms.ring(
        rng, sr, [230, 480, 910, 1600], [0.04, 0.03, 0.02, 0.012], [1.0, 0.7, 0.4, 0.2], spread=0.06
    )
    return atoms.mix(
        (atoms.thump(rng, sr, 140, 0.025), 0.8, 0.0),
        (panel, 1.0, 0.0),
        (atoms.click(rng, sr, 1000, 5000, 0.002), 0.4, 0.0),
        sr=sr,
    )


def _key(rng: Rng, sr: int, click_gain: float) -> dsp.Signal:
    switch = atoms.ring(rng, sr, [2900, 4300, 6100], [0.004, 0.003, 0.002], [1.0, 0.6, 0.4], 0.1)
    bottom = atoms.ring(rng, sr, [520, 1100], [0.012, 0.008], [1.0, 0.5], spread=0.1)
    return atoms.mix((switch, click_gain, 0.0), (bottom, 1.0, 0.008), sr=sr)


def _keyboard(rng: Rng, sr: int) -> dsp.Signal:
    # A visual onset while typing is a burst of keystrokes, not one: the first on the onset.
    strokes = [(_key(rng, sr, 0.9), 1.0, 0.0)]
    offset_s = 0.0
    for _ in range(int(rng.integers(0, 5))):
        offset_s += rng.uniform(0.07, 0.16)
        strokes.append((_key(rng, sr, rng.uniform(0.6, 1.0)), rng.uniform(0.5, 0.9), offset_s))
    return atoms.mix(*strokes, sr=sr)


def _typewriter(rng: Rng, sr: int) -> dsp.Signal:
    typebar = atoms.ring(rng, sr, [1800, 3100, 4700], [0.02, 0.015, 0.01], [1.0, 0.7, 0.5])
    return atoms.mix(
        (atoms.click(rng, sr, 1500, 8000, 0.003), 1.0, 0.0),
        (typebar, 0.6, 0.0),
        (atoms.thump(rng, sr, 160, 0.02), 0.5, 0.0),  # platen and carriage
        sr=sr,
    )


_DOOR_HITS: dict[str, HitFn] = {"slam": _slam, "creak": _creak, "knock": _knock}
_TYPING_HITS: dict[str, HitFn] = {"keyboard": _keyboard, "typewriter": _typewriter}

DOOR = Recipe(
    family="door",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "slam": "a door slams shut",
        "creak": "a creaky door slowly opening, hinges creaking",
        "knock": "knocking on a wooden door",
    },
    descriptions=(
        "a door slams",
        "a door opening and closing",
        "a creaking door",
        "someone knocks on the door",
        "a door shuts",
        "a cupboard door closing",
    ),
    keywords=("door", "slam", "creak", "knock", "hinge", "gate", "cupboard", "cabinet", "shut"),
    render=impulsive("door", _DOOR_HITS),
    variant_keywords={
        "creak": ("creak", "creaky", "squeak", "hinge", "open"),
        "knock": ("knock",),
    },
)

TYPING = Recipe(
    family="typing",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "keyboard": "typing on a computer keyboard",
        "typewriter": "an old mechanical typewriter typing",
    },
    descriptions=(
        "typing on a keyboard",
        "keyboard clicking",
        "someone typing on a laptop",
        "a typewriter",
        "pressing keys",
    ),
    keywords=("typ", "keyboard", "typewriter", "keystroke", "laptop", "keys"),
    render=impulsive("typing", _TYPING_HITS),
    variant_keywords={"typewriter": ("typewriter",)},
)
