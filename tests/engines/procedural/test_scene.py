"""`Scene`: the control-curve container recipes read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from foleyserve.engines.procedural.scene import Event, Scene


def test_still_scene_is_silent_motion_centred_and_sized() -> None:
    scene = Scene.still(2.5)
    assert scene.sample_rate_hz == 48_000
    assert scene.n_samples == 120_000
    assert scene.n_control_steps == 250
    assert scene.motion.shape == scene.pan.shape == (250,)
    assert not np.any(scene.motion) and not np.any(scene.pan)
    assert scene.events == ()


def test_n_control_steps_forgives_float_noise() -> None:
    assert Scene.still(0.07).n_control_steps == 7
    assert Scene.still(0.071).n_control_steps == 8


def test_upsample_is_smooth_and_stays_in_range() -> None:
    still = Scene.still(1.0)
    curve = (np.arange(100) % 20 < 10).astype(np.float32)  # a square wave: worst for overshoot
    scene = dataclasses.replace(still, motion=curve, pan=curve)
    audio_rate = scene.upsample(curve)
    assert audio_rate.shape == (48_000,) and audio_rate.dtype == np.float32
    assert audio_rate.min() >= 0.0 and audio_rate.max() <= 1.0
    assert np.max(np.abs(np.diff(audio_rate))) < 0.01  # no steps at audio rate
    assert audio_rate[0] == curve[0] and audio_rate[480 * 5] == curve[5]


def test_upsample_of_a_single_value_is_constant() -> None:
    scene = Scene.still(0.005)
    assert np.all(scene.upsample(np.array([0.3], np.float32)) == np.float32(0.3))


def test_events_within_drops_those_outside_the_clip() -> None:
    inside, before, after = Event(0.5, 1, 0), Event(-0.1, 1, 0), Event(1.0, 1, 0)
    scene = dataclasses.replace(Scene.still(1.0), events=(before, inside, after))
    assert scene.events_within() == (inside,)


def test_mismatched_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        dataclasses.replace(Scene.still(1.0), pan=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="duration_s"):
        Scene.still(0.0)
