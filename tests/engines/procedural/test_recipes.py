"""Every recipe family: shape, determinism, levels, timing of hits, motion and pan following,
and a spectral sanity check per family where one is cheap and meaningful."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foleyserve.engines.procedural.recipes import RECIPES, RecipeKind
from foleyserve.engines.procedural.scene import Event, Scene

SR = 48_000
ALL_VARIANTS = [(f, v) for f, r in RECIPES.items() for v in r.variants]
IMPULSIVE = [(f, v) for f, v in ALL_VARIANTS if RECIPES[f].kind is RecipeKind.IMPULSIVE]
MOTION_DRIVEN = ["engine", "whoosh", "rustle"]
ONSET_TOLERANCE_S = 0.005


def _scene(
    duration_s: float = 1.5,
    events: tuple[Event, ...] = (),
    motion: float = 0.0,
    pan: float = 0.0,
) -> Scene:
    still = Scene.still(duration_s)
    steps = still.n_control_steps
    return dataclasses.replace(
        still,
        events=events,
        motion=np.full(steps, motion, np.float32),
        pan=np.full(steps, pan, np.float32),
    )


BUSY = _scene(
    events=(Event(0.1, 1.0, -0.5), Event(0.7, 0.4, 0.6), Event(1.2, 0.8, 0.0)), motion=0.6
)


def _render(family: str, variant: str, scene: Scene, seed: int = 0) -> npt.NDArray[np.float32]:
    return RECIPES[family].render(scene, variant, np.random.default_rng(seed))


def _rms(x: npt.NDArray[np.floating]) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))


def _band_share(x: npt.NDArray[np.float32], low_hz: float, high_hz: float) -> float:
    power = np.abs(np.fft.rfft(x.astype(np.float64).sum(axis=0))) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / SR)
    return float(power[(freqs >= low_hz) & (freqs < high_hz)].sum() / power.sum())


def test_registry_has_at_least_twelve_well_formed_families() -> None:
    assert len(RECIPES) >= 12
    for family, recipe in RECIPES.items():
        assert recipe.family == family
        assert recipe.variants and recipe.descriptions and recipe.keywords
        assert all(k == k.lower() for k in recipe.keywords)
        assert set(recipe.variant_keywords) <= set(recipe.variants)


@pytest.mark.parametrize(("family", "variant"), ALL_VARIANTS)
def test_render_is_stereo_float32_deterministic_and_seeded(family: str, variant: str) -> None:
    first = _render(family, variant, BUSY, seed=1)
    assert first.shape == (2, BUSY.n_samples)
    assert first.dtype == np.float32
    assert np.all(np.isfinite(first))
    assert np.max(np.abs(first)) <= 1.0
    assert _rms(first) > 1e-4
    np.testing.assert_array_equal(first, _render(family, variant, BUSY, seed=1))
    assert not np.array_equal(first, _render(family, variant, BUSY, seed=2))


@pytest.mark.parametrize(("family", "variant"), IMPULSIVE)
def test_impulsive_recipes_are_silent_without_events(family: str, variant: str) -> None:
    audio = _render(family, variant, _scene(motion=0.8))
    assert not np.any(audio)


@pytest.mark.parametrize(("family", "variant"), IMPULSIVE)
@pytest.mark.parametrize("event_s", [0.2371, 0.9])
def test_impulsive_attack_starts_on_the_event(family: str, variant: str, event_s: float) -> None:
    audio = np.abs(_render(family, variant, _scene(events=(Event(event_s, 0.7, 0.0),))))
    start = round(event_s * SR)
    assert not np.any(audio[:, :start]), "sound before the event"
    loud = np.flatnonzero(audio.max(axis=0) > 0.01 * audio.max())
    assert start <= loud[0] <= start + ONSET_TOLERANCE_S * SR


@pytest.mark.parametrize(("family", "variant"), IMPULSIVE)
def test_hits_scale_with_strength_and_follow_the_event_pan(family: str, variant: str) -> None:
    soft = _render(family, variant, _scene(events=(Event(0.1, 0.0, -0.8),)))
    loud = _render(family, variant, _scene(events=(Event(0.1, 1.0, -0.8),)))
    assert _rms(loud) > 1.5 * _rms(soft)
    assert _rms(loud[0]) > 2 * _rms(loud[1])
    left_gain = np.cos((-0.8 + 1) * np.pi / 4)  # equal-power pan of -0.8
    assert np.max(np.abs(loud)) == pytest.approx(0.7 * left_gain, rel=0.02)


@pytest.mark.parametrize("family", MOTION_DRIVEN)
def test_motion_driven_beds_get_louder_with_motion(family: str) -> None:
    variant = RECIPES[family].default_variant
    calm = _rms(_render(family, variant, _scene(motion=0.1)))
    busy = _rms(_render(family, variant, _scene(motion=0.9)))
    assert busy > 1.5 * calm


@pytest.mark.parametrize("family", MOTION_DRIVEN)
def test_motion_driven_beds_follow_the_pan_curve(family: str) -> None:
    variant = RECIPES[family].default_variant
    left = _render(family, variant, _scene(motion=0.8, pan=-0.9))
    right = _render(family, variant, _scene(motion=0.8, pan=0.9))
    assert _rms(left[0]) > 2 * _rms(left[1])
    assert _rms(right[1]) > 2 * _rms(right[0])


def test_whoosh_is_silent_when_nothing_moves() -> None:
    assert _rms(_render("whoosh", "swoosh", _scene(motion=0.0))) < 1e-6


@pytest.mark.parametrize(
    ("family", "variant", "low_hz", "high_hz", "min_share"),
    [
        ("birds", "chirping", 2000, 8000, 0.8),
        ("birds", "song", 2000, 8000, 0.8),
        ("thunder", "distant", 0, 500, 0.9),
        ("thunder", "close", 0, 500, 0.7),
        ("glass", "shatter", 3000, 24000, 0.6),
        ("rain", "steady", 1000, 24000, 0.7),
        ("engine", "car", 0, 2000, 0.9),
        ("wind", "gusty", 0, 3000, 0.9),
        ("impacts", "thud", 0, 500, 0.9),
        ("metal", "chain", 2000, 24000, 0.8),
        ("whoosh", "swish", 2000, 24000, 0.7),
        ("crowd", "murmur", 80, 4000, 0.9),
    ],
)
def test_spectral_balance(
    family: str, variant: str, low_hz: float, high_hz: float, min_share: float
) -> None:
    audio = _render(family, variant, _scene(3.0, events=BUSY.events, motion=0.7))
    assert _band_share(audio, low_hz, high_hz) >= min_share


def test_ambience_beds_sit_near_minus_twenty_dbfs() -> None:
    for family in ("rain", "wind", "water", "crowd", "birds", "fire"):
        level_db = 20 * np.log10(_rms(_render(family, RECIPES[family].default_variant, BUSY)))
        assert -32 < level_db < -16, family


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="no variant"):
        _render("rain", "lava", BUSY)


def test_events_outside_the_clip_are_ignored() -> None:
    audio = _render("impacts", "hit", _scene(events=(Event(-0.5, 1, 0), Event(1.5, 1, 0))))
    assert not np.any(audio)


_events = st.lists(
    st.builds(
        Event,
        time_s=st.floats(-0.5, 1.5),
        strength=st.floats(-0.5, 1.5),
        pan=st.floats(-2.0, 2.0),
    ),
    max_size=12,
)


@settings(max_examples=30, deadline=None)
@given(
    family_variant=st.sampled_from(ALL_VARIANTS),
    duration_s=st.floats(0.02, 1.0),
    events=_events,
    curve=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_scenes_never_give_nan_inf_or_clipping(
    family_variant: tuple[str, str],
    duration_s: float,
    events: list[Event],
    curve: list[float],
    seed: int,
) -> None:
    still = Scene.still(duration_s)
    steps = still.n_control_steps
    motion = np.resize(np.asarray(curve, np.float32), steps)
    scene = dataclasses.replace(still, events=tuple(events), motion=motion, pan=motion * 2 - 1)
    audio = _render(*family_variant, scene, seed)
    assert audio.shape == (2, scene.n_samples)
    assert np.all(np.isfinite(audio))
    assert np.max(np.abs(audio), initial=0.0) <= 1.0
