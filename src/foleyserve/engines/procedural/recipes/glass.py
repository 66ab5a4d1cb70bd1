"""Glass: shattering (a crack, then shards tinkling for about a second) and a clink.

A shatter is one bright broadband crack followed by a shower of fragments: each fragment is a
tiny free plate whose few modes sit high (3-12 kHz) and die fast; most land in the first few
hundred milliseconds, stragglers bounce later and quieter. A clink is a wine glass's bowl:
a fundamental near 1-2 kHz with its inharmonic partials, ringing for about a second.
"""

from __future__ import annotations

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
from foleyserve.engines.procedural.recipes.base import HitFn, Recipe, RecipeKind, impulsive

Rng = np.random.Generator

_SHARD_MODES = 40
_MODES_PER_SHARD = 3
_SHARD_RING_S = 0.3
_BOWL_RATIOS = [1.0, 2.32, 4.25, 6.63]


def _shards(rng: Rng, sr: int, count: int, spread_s: float) -> dsp.Signal:
    """`count` fragments scattered over ~`spread_s`. Fragments of a pane come in a limited
    range of sizes, so they share a bank of `_SHARD_MODES` high modes; each fragment strikes
    `_MODES_PER_SHARD` of them, louder early, softer as stragglers land."""
    offsets_s = np.minimum(rng.exponential(spread_s / 3.5, count), spread_s)
    levels = rng.lognormal(0.0, 0.5, count) * np.exp(-offsets_s / (spread_s / 2))
    n = dsp.samples(spread_s + _SHARD_RING_S, sr)
    strikes = np.zeros((_SHARD_MODES, n))
    modes = rng.integers(0, _SHARD_MODES, (count, _MODES_PER_SHARD))
    starts = np.repeat(np.round(offsets_s * sr).astype(np.int64), _MODES_PER_SHARD)
    weights = np.repeat(levels, _MODES_PER_SHARD) * rng.uniform(0.3, 1.0, modes.size)
    np.add.at(strikes, (modes.ravel(), starts), weights)
    freqs_hz = np.exp(rng.uniform(np.log(3000), np.log(12000), _SHARD_MODES))
    taus_s = rng.uniform(0.008, 0.045, _SHARD_MODES)
    return dsp.ring_modes(strikes, freqs_hz, taus_s, sr)


def _shatter(rng: Rng, sr: int) -> dsp.Signal:
    spread_s = rng.uniform(0.8, 1.2)
    crack_modes = list(np.exp(rng.uniform(np.log(2500), np.log(9000), 5)))
    crack_ring = atoms.ring(rng, sr, crack_modes, [0.05] * 5, [1.0] * 5, spread=0.02)
    return atoms.mix(
        (atoms.click(rng, sr, 1500, 16000, 0.005), 1.0, 0.0),
        (crack_ring, 0.5, 0.0),
        (atoms.thump(rng, sr, 180, 0.02), 0.25, 0.0),
        (_shards(rng, sr, int(rng.integers(70, 130)), spread_s), 0.55, 0.004),
        sr=sr,
    )


def _clink(rng: Rng, sr: int) -> dsp.Signal:
    fundamental_hz = rng.uniform(1100, 2000)
    freqs = [fundamental_hz * r for r in _BOWL_RATIOS]
    taus = [0.9, 0.45, 0.2, 0.1]
    amps = [1.0, 0.5, 0.3, 0.15]
    # The bowl is never perfectly round: two nearly equal modes beat slowly.
    beating = [fundamental_hz + rng.uniform(1.5, 4.0)]
    return atoms.mix(
        (atoms.ring(rng, sr, freqs, taus, amps, spread=0.005), 1.0, 0.0),
        (atoms.ring(rng, sr, beating, [0.9], [1.0], spread=0.0), 0.5, 0.0),
        (atoms.click(rng, sr, 3000, 12000, 0.001), 0.4, 0.0),
        sr=sr,
    )


_HITS: dict[str, HitFn] = {"shatter": _shatter, "clink": _clink}

GLASS = Recipe(
    family="glass",
    kind=RecipeKind.IMPULSIVE,
    variants={
        "shatter": "glass shattering into pieces, a window breaking",
        "clink": "two glasses clinking together in a toast",
    },
    descriptions=(
        "glass shatters",
        "a window breaks",
        "a bottle smashing",
        "breaking glass",
        "glasses clinking",
        "a glass falls and smashes on the floor",
    ),
    keywords=(
        "glass",
        "shatter",
        "window",
        "bottle",
        "smash",
        "clink",
        "mirror",
        "vase",
        "cheers",
        "toast",
    ),
    render=impulsive("glass", _HITS),
    variant_keywords={"clink": ("clink", "cheers", "toast", "tink")},
)
