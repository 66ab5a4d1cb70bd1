"""`Recipe`: one family of sounds, and the two drivers every recipe renders through.

An IMPULSIVE recipe supplies one `HitFn` per variant: a single mono hit, attack at sample 0.
`render_hits` places one at every scene event (gain from `event.strength`, equal-power pan from
`event.pan`), so the attack lands exactly on the event sample and a scene without events gives
exact silence. A CONTINUOUS recipe supplies one `BedFn` per variant that renders the whole
stereo bed itself, following `scene.motion` / `scene.pan` where that makes sense.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.scene import Scene

RenderFn = Callable[[Scene, str, np.random.Generator], dsp.Output]
"""`(scene, variant, rng) -> [2, scene.n_samples]` float32, peak <= 1."""
HitFn = Callable[[np.random.Generator, int], dsp.Signal]
"""`(rng, sample_rate_hz) -> [n]`: one hit, attack at sample 0, any peak (it is normalised)."""
BedFn = Callable[[Scene, np.random.Generator], dsp.Signal]
"""`(scene, rng) -> [2, scene.n_samples]` float64 at its intended level."""

HIT_PEAK = 0.7
"""Peak of a full-strength hit before panning (-3 dBFS; about -6 dBFS per channel at centre)."""
BED_RMS = 0.1
"""RMS of an ambience bed (-20 dBFS)."""
BED_PEAK = 0.7
"""Peak an ambience bed stays under (-3 dBFS): spiky beds end up quieter than `BED_RMS`."""


class RecipeKind(StrEnum):
    IMPULSIVE = "impulsive"
    """One sound per visual event; silence without events."""
    CONTINUOUS = "continuous"
    """A bed over the whole clip, steady or following the motion curve."""


@dataclass(frozen=True)
class Recipe:
    family: str
    """Registry key, e.g. "footsteps"."""
    kind: RecipeKind
    variants: Mapping[str, str]
    """Variant name -> a short description used for embedding; the first is the default."""
    descriptions: tuple[str, ...]
    """Several phrasings describing the family, for semantic matching."""
    keywords: tuple[str, ...]
    """Lowercase words or stems that name the family (the no-model fallback)."""
    render: RenderFn
    variant_keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Variant name -> words that pick it when they appear in a prompt ("snow", "tin")."""

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))


def _check_variant(family: str, variant: str, known: Mapping[str, object]) -> None:
    if variant not in known:
        raise ValueError(f"{family!r} has no variant {variant!r}; known: {', '.join(known)}")


def strength_gain(strength: float) -> float:
    """How loud a hit of this visual strength is, relative to a full-strength one."""
    return 0.3 + 0.7 * min(max(strength, 0.0), 1.0)


def render_hits(scene: Scene, rng: np.random.Generator, hit: HitFn) -> dsp.Output:
    """One `hit` per event in the scene, attack exactly on the event's sample."""
    out = np.zeros((2, scene.n_samples))
    for event in scene.events_within():
        start = min(round(event.time_s * scene.sample_rate_hz), scene.n_samples - 1)
        sound = dsp.normalise_peak(hit(rng, scene.sample_rate_hz), HIT_PEAK)
        dsp.add_at(out, dsp.pan_mono(sound * strength_gain(event.strength), event.pan), start)
    return dsp.to_output(out)


def impulsive(family: str, hits: Mapping[str, HitFn]) -> RenderFn:
    """The `render` of an impulsive family whose variants are `hits`."""

    def render(scene: Scene, variant: str, rng: np.random.Generator) -> dsp.Output:
        _check_variant(family, variant, hits)
        return render_hits(scene, rng, hits[variant])

    return render


def continuous(family: str, beds: Mapping[str, BedFn]) -> RenderFn:
    """The `render` of a continuous family whose variants are `beds`."""

    def render(scene: Scene, variant: str, rng: np.random.Generator) -> dsp.Output:
        _check_variant(family, variant, beds)
        bed = beds[variant](scene, rng)
        if bed.shape != (2, scene.n_samples):
            raise AssertionError(f"{family}/{variant} rendered shape {bed.shape}")
        return dsp.to_output(bed)

    return render


def motion_level(scene: Scene, floor: float, exponent: float = 1.0) -> dsp.Signal:
    """A gain curve at audio rate that rises from `floor` (no motion) to 1 (full motion)."""
    motion = np.clip(scene.upsample(scene.motion).astype(np.float64), 0.0, 1.0)
    return floor + (1.0 - floor) * motion**exponent


def pan_curve(scene: Scene, width: float = 1.0) -> dsp.Signal:
    """The scene's horizontal motion centroid at audio rate, scaled by `width`."""
    return np.clip(scene.upsample(scene.pan).astype(np.float64) * width, -1.0, 1.0)
