"""The signal-processing primitives the recipes stand on."""

from __future__ import annotations

import numpy as np
import pytest

from foleyserve.engines.procedural import dsp

SR = 48_000


def test_equal_power_pan_keeps_power_constant() -> None:
    pans = np.linspace(-1, 1, 11)
    left, right = dsp.pan_gains(pans)
    np.testing.assert_allclose(left**2 + right**2, 1.0)
    assert left[0] == pytest.approx(1.0) and right[-1] == pytest.approx(1.0)


def test_scatter_places_grains_and_drops_the_overhang() -> None:
    grains = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    out = dsp.scatter(5, np.array([0, 3]), grains)
    np.testing.assert_array_equal(out, [1, 2, 3, 10, 20])
    stereo = dsp.scatter_panned(5, np.array([0, 3]), grains, np.array([-1.0, 1.0]))
    np.testing.assert_allclose(stereo[0], [1, 2, 3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(stereo[1], [0, 0, 0, 10, 20], atol=1e-12)


def test_modal_matches_damped_sines() -> None:
    t = np.arange(4800) / SR
    expected = 0.5 * np.exp(-t / 0.02) * np.sin(2 * np.pi * 440 * t)
    got = dsp.modal(np.array([440.0]), np.array([0.02]), np.array([0.5]), 4800, SR)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_shaped_noise_follows_the_gain() -> None:
    rng = np.random.default_rng(0)
    white = dsp.shaped_noise(rng, SR, SR, lambda f, t: np.ones((1, f.size)))
    assert white.shape == (2, SR)
    assert float(np.std(white)) == pytest.approx(1.0, rel=0.05)
    low = dsp.shaped_noise(rng, SR, SR, lambda f, t: dsp.as_signal(f[None, :] < 1000.0), channels=1)
    power = np.abs(np.fft.rfft(low[0])) ** 2
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    assert power[freqs < 1100].sum() > 0.99 * power.sum()


def test_filters_are_causal() -> None:
    impulse = np.zeros(1000)
    impulse[500] = 1.0
    for filtered in (
        dsp.lowpass(impulse, 1000, SR),
        dsp.highpass(impulse, 1000, SR),
        dsp.bandpass(impulse, 500, 2000, SR),
    ):
        assert not np.any(filtered[:500]) and filtered[500] != 0


def test_to_output_never_passes_the_ceiling_and_keeps_quiet_audio() -> None:
    loud = np.array([[2.0, -4.0], [1.0, 0.5]])
    assert np.max(np.abs(dsp.to_output(loud))) == pytest.approx(dsp.OUTPUT_CEILING)
    quiet = np.array([[0.1, -0.2], [0.0, 0.05]])
    np.testing.assert_array_equal(dsp.to_output(quiet), quiet.astype(np.float32))


def test_soft_limit_is_transparent_below_the_knee_and_bounded_above() -> None:
    x = np.array([-5.0, -0.2, 0.0, 0.2, 5.0])
    y = dsp.soft_limit(x, knee=0.5, ceiling=1.0)
    np.testing.assert_array_equal(y[1:4], x[1:4])
    assert np.all(np.abs(y) < 1.0)


def test_fit_level_caps_the_peak() -> None:
    spiky = np.zeros(1000)
    spiky[10] = 1.0
    fitted = dsp.fit_level(spiky, target_rms=0.1, max_peak=0.7)
    assert np.max(np.abs(fitted)) == pytest.approx(0.7)
    dense = np.random.default_rng(0).standard_normal(10_000)
    fitted = dsp.fit_level(dense, target_rms=0.1, max_peak=0.7)
    assert np.sqrt(np.mean(np.square(fitted))) == pytest.approx(0.1)
