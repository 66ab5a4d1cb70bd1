"""Machines: combustion engines that rev with the motion, and clocks that tick regardless.

An engine is a train of combustion pulses at the firing frequency (rpm / 120 x cylinders for
a four-stroke) - a harmonic series whose fundamental climbs with the revs - shaped by the
exhaust's resonances, brighter under load, each pulse a little different in strength. The
firing pattern carries the character: even for an inline four or six, lopsided for a V-twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes import atoms
from foleyserve.engines.procedural.recipes.base import (
    BED_RMS,
    BedFn,
    Recipe,
    RecipeKind,
    continuous,
    motion_level,
    pan_curve,
)
from foleyserve.engines.procedural.scene import Scene

Rng = np.random.Generator


@dataclass(frozen=True)
class _EngineSpec:
    firing_offsets: tuple[float, ...]
    """When each cylinder fires, as a fraction of one 720-degree four-stroke cycle."""
    idle_rpm: float
    max_rpm: float
    pulse_tau_s: float
    exhaust_hz: tuple[float, float]
    dark_hz: float
    """Low-pass corner at idle; it opens four-fold at full revs."""
    rasp: float
    """Share of noisy combustion grit, modulated by the pulses."""


_CAR = _EngineSpec((0.0, 0.25, 0.5, 0.75), 800, 6000, 0.003, (110.0, 340.0), 500, 0.25)
_MOTORBIKE = _EngineSpec((0.0, 0.375), 1200, 9000, 0.002, (150.0, 520.0), 900, 0.5)
_TRUCK = _EngineSpec(tuple(i / 6 for i in range(6)), 600, 2400, 0.004, (70.0, 210.0), 350, 0.4)


def _rpm(scene: Scene, rng: Rng, spec: _EngineSpec) -> dsp.Signal:
    """Revs follow the motion with some inertia, plus a slight unsteady hunt."""
    sr = scene.sample_rate_hz
    throttle = dsp.one_pole_smooth(motion_level(scene, floor=0.0), 0.25, sr)
    hunt = 1 + 0.02 * (dsp.smooth_random(rng, scene.n_samples, sr, 3.0) - 0.5)
    return (spec.idle_rpm + (spec.max_rpm - spec.idle_rpm) * throttle**1.2) * hunt


def _pulses(rng: Rng, rpm: dsp.Signal, sr: int, spec: _EngineSpec) -> dsp.Signal:
    """The combustion pulse train: each firing a sharp rise and an exponential fall."""
    cycles = dsp.phase_cycles(rpm / 120.0, sr)
    cycle_index = cycles.astype(np.int64)
    cycle_len_s = 120.0 / rpm
    strengths = rng.lognormal(0.0, 0.18, (int(cycles[-1]) + 2, len(spec.firing_offsets)))
    out = np.zeros_like(rpm)
    for cylinder, offset in enumerate(spec.firing_offsets):
        since_s = ((cycles - offset) % 1.0) * cycle_len_s
        out += strengths[cycle_index, cylinder] * np.exp(-since_s / spec.pulse_tau_s)
    return out - np.mean(out)


def _engine(spec: _EngineSpec) -> BedFn:
    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        sr = scene.sample_rate_hz
        rpm = _rpm(scene, rng, spec)
        pulses = _pulses(rng, rpm, sr, spec)
        exhaust = dsp.resonate(pulses, spec.exhaust_hz[0], 2.0, sr) + 0.6 * dsp.resonate(
            pulses, spec.exhaust_hz[1], 3.0, sr
        )
        grit = dsp.bandpass(dsp.white(rng, pulses.size), 300, 3000, sr) * np.maximum(pulses, 0)
        raw = dsp.normalise_rms(exhaust, 1.0) + spec.rasp * dsp.normalise_rms(grit, 1.0)
        load = (rpm - spec.idle_rpm) / (spec.max_rpm - spec.idle_rpm)
        dark = dsp.lowpass(raw, spec.dark_hz, sr)
        bright = dsp.lowpass(raw, spec.dark_hz * 4, sr)
        tone = dsp.normalise_rms(dark * (1 - load) + bright * load, 2 * BED_RMS)
        # A little saturation on the loudest pulses, as a real exhaust (and microphone) gives.
        mono = dsp.soft_limit(tone * motion_level(scene, floor=0.35), 0.5, 0.8)
        return dsp.pan_mono(mono, pan_curve(scene, width=0.8))

    return bed


def _tick_times_s(rng: Rng, duration_s: float, period_s: float) -> dsp.Signal:
    return np.arange(rng.uniform(0.0, period_s), duration_s, period_s)


def _clock(period_s: float, tick_hz: float, case_hz: float, tick_tau_s: float) -> BedFn:
    """A clock beating every `period_s`, tick and tock slightly different in pitch, each beat
    ringing the case at `case_hz`."""

    def bed(scene: Scene, rng: Rng) -> dsp.Signal:
        sr = scene.sample_rate_hz
        out = np.zeros((2, scene.n_samples))
        for beat, time_s in enumerate(_tick_times_s(rng, scene.duration_s, period_s)):
            pitch = tick_hz * (1.0 if beat % 2 == 0 else 0.84)
            escapement = atoms.ring(
                rng,
                sr,
                [pitch, pitch * 1.7, pitch * 2.9],
                [tick_tau_s, tick_tau_s * 0.6, tick_tau_s * 0.4],
                [1.0, 0.6, 0.4],
                spread=0.01,
            )
            case = atoms.ring(rng, sr, [case_hz, case_hz * 2.3], [0.03, 0.015], [1.0, 0.4])
            beat_sound = atoms.mix((escapement, 1.0, 0.0), (case, 0.5, 0.0), sr=sr)
            dsp.add_at(
                out, dsp.pan_mono(dsp.normalise_peak(beat_sound, 0.5), 0.0), round(time_s * sr)
            )
        return out

    return bed


ENGINE = Recipe(
    family="engine",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "car": "a car engine revving",
        "motorbike": "a motorcycle engine roaring past",
        "truck": "a big diesel truck engine rumbling",
    },
    descriptions=(
        "an engine running",
        "a car driving by",
        "a vehicle accelerating",
        "engine revving",
        "traffic on a road",
        "a motor idling",
        "a motorcycle passing by",
        "a truck engine idling",
        "a car passing by",
    ),
    keywords=(
        "engine",
        "car",
        "motor",
        "vehicle",
        "rev",
        "truck",
        "bus",
        "traffic",
        "drive",
        "driving",
        "motorbike",
        "motorcycle",
        "racing",
        "tractor",
        "lorry",
        "idl",
    ),
    render=continuous(
        "engine", {"car": _engine(_CAR), "motorbike": _engine(_MOTORBIKE), "truck": _engine(_TRUCK)}
    ),
    variant_keywords={
        "motorbike": ("motorbike", "motorcycle", "bike", "scooter", "moped", "harley"),
        "truck": ("truck", "lorry", "diesel", "bus", "tractor", "semi"),
    },
)

CLOCK = Recipe(
    family="clock",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "wall": "a wall clock ticking",
        "grandfather": "a slow grandfather clock ticking in a quiet room",
        "watch": "a wristwatch ticking quickly",
    },
    descriptions=(
        "a clock ticking",
        "tick tock",
        "a ticking clock in a quiet room",
        "a timer ticking",
    ),
    keywords=("clock", "tick", "tock", "watch", "timer", "pendulum"),
    render=continuous(
        "clock",
        {
            "wall": _clock(period_s=1.0, tick_hz=3200, case_hz=900, tick_tau_s=0.006),
            "grandfather": _clock(period_s=1.0, tick_hz=1900, case_hz=320, tick_tau_s=0.02),
            "watch": _clock(period_s=0.2, tick_hz=5200, case_hz=2400, tick_tau_s=0.002),
        },
    ),
    variant_keywords={
        "grandfather": ("grandfather", "pendulum", "old"),
        "watch": ("watch", "wristwatch", "stopwatch"),
    },
)
