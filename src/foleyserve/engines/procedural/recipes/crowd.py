"""Crowds: murmur (many people talking at once), applause, and cheering.

Babble is built from synthetic voices: a glottal pulse train at each speaker's wandering pitch,
chopped into syllables (with pauses), each syllable a vowel whose formants shape the voice.
Because the formant filters are linear, every voice's syllables are routed into one shared
filter per vowel, so twenty voices cost five filter passes, not a hundred. Applause is many
clappers, each at their own steady rate; each clap a short noise burst ringing the cupped
hands' resonance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from foleyserve.engines.procedural import dsp
from foleyserve.engines.procedural.recipes.base import (
    BED_PEAK,
    BED_RMS,
    BedFn,
    Recipe,
    RecipeKind,
    continuous,
)
from foleyserve.engines.procedural.scene import Scene

Rng = np.random.Generator

# (F1, F2, F3) of /a/ /e/ /i/ /o/ /u/ (adult averages).
_VOWEL_FORMANTS_HZ = (
    (730.0, 1090.0, 2440.0),
    (530.0, 1840.0, 2480.0),
    (300.0, 2250.0, 3000.0),
    (570.0, 840.0, 2410.0),
    (330.0, 900.0, 2250.0),
)
_FORMANT_LEVELS = (1.0, 0.6, 0.3)
_BABBLE_DECIMATION = 3
_CLAP_BANDS_HZ = ((700.0, 1400.0), (1000.0, 2000.0), (1500.0, 3000.0), (600.0, 4000.0))


@dataclass(frozen=True)
class _Talk:
    """How a crowd's voices behave."""

    voices: int
    f0_hz: tuple[float, float]
    syllable_s: tuple[float, float]
    pause_share: float
    glide: float
    """Relative pitch rise over a syllable (shouts and "woo"s rise and fall)."""


_MURMUR = _Talk(voices=14, f0_hz=(90, 240), syllable_s=(0.09, 0.22), pause_share=0.35, glide=0.05)
_CHEER = _Talk(voices=16, f0_hz=(180, 420), syllable_s=(0.25, 0.7), pause_share=0.15, glide=0.25)


def _voice_source(rng: Rng, n: int, sr: int, f0_hz: float, glide: dsp.Signal) -> dsp.Signal:
    """A glottal-ish pulse train (a falling sawtooth, softened) at a wandering pitch."""
    wander = 1 + 0.12 * (dsp.smooth_random(rng, n, sr, 2.5) - 0.5)
    cycles = dsp.phase_cycles(f0_hz * wander * (1 + glide), sr)
    return dsp.lowpass(1.0 - 2.0 * (cycles % 1.0), 4000, sr, order=1)


def _syllables(
    rng: Rng, n: int, sr: int, talk: _Talk
) -> tuple[dsp.Signal, npt.NDArray[np.int64], dsp.Signal]:
    """Per sample: the syllable envelope, the vowel index, and the pitch glide within it."""
    mean_s = float(np.mean(talk.syllable_s))
    count = int(n / sr / mean_s * 1.5) + 4
    lengths_s = rng.uniform(*talk.syllable_s, count)
    starts_s = np.concatenate([[0.0], np.cumsum(lengths_s)[:-1]]) - rng.uniform(0, mean_s)
    t = dsp.time_axis(n, sr)
    index = np.searchsorted(starts_s, t, side="right") - 1
    within = np.clip((t - starts_s[index]) / lengths_s[index], 0.0, 1.0)
    voiced = rng.random(count) >= talk.pause_share
    loudness = rng.uniform(0.5, 1.0, count) * voiced
    envelope = loudness[index] * np.sin(np.pi * within) ** 0.6
    glide = talk.glide * np.sin(np.pi * within)
    vowels = rng.integers(0, len(_VOWEL_FORMANTS_HZ), count)
    return dsp.as_signal(envelope), vowels[index], dsp.as_signal(glide)


def _babble(rng: Rng, scene: Scene, talk: _Talk) -> dsp.Signal:
    """`[2, n]`: `talk.voices` speakers at random places across the stereo field.

    Voices carry little above 5 kHz, so they are synthesised at a third of the sample rate
    (where it divides) and resampled up once: a third of the work.
    """
    factor = _BABBLE_DECIMATION if scene.sample_rate_hz % _BABBLE_DECIMATION == 0 else 1
    sr = scene.sample_rate_hz // factor
    m = -(-scene.n_samples // factor)
    vowels = len(_VOWEL_FORMANTS_HZ)
    per_vowel = np.zeros((vowels, 2, m))
    columns = np.arange(m)
    for _ in range(talk.voices):
        envelope, vowel, glide = _syllables(rng, m, sr, talk)
        voice = _voice_source(rng, m, sr, rng.uniform(*talk.f0_hz), glide) * envelope
        distance = rng.uniform(0.3, 1.0)
        for channel, gain in enumerate(dsp.pan_gains(rng.uniform(-0.85, 0.85))):
            per_vowel[vowel, channel, columns] += voice * (gain * distance)
    out = np.zeros((2, m))
    for vowel_mix, formants in zip(per_vowel, _VOWEL_FORMANTS_HZ, strict=True):
        for formant_hz, level in zip(formants, _FORMANT_LEVELS, strict=True):
            out += level * dsp.resonate(vowel_mix, formant_hz, 6.0, sr)
    if factor > 1:
        out = dsp.as_signal(signal.resample_poly(out, factor, 1, axis=-1))
    return out[:, : scene.n_samples]


def _claps(rng: Rng, scene: Scene, clappers: int) -> dsp.Signal:
    """`[2, n]`: each clapper at a steady personal rate with small timing jitter."""
    n, sr = scene.n_samples, scene.sample_rate_hz
    length = dsp.samples(0.03, sr)
    decay_env = dsp.time_axis(length, sr)[None, :]
    out = np.zeros((2, n))
    for band_index, band_hz in enumerate(_CLAP_BANDS_HZ):
        members = range(band_index, clappers, len(_CLAP_BANDS_HZ))
        starts, levels, pans = [], [], []
        for _ in members:
            period_s = 1 / rng.uniform(3.2, 5.5)
            beats = int(scene.duration_s / period_s) + 2
            times_s = rng.uniform(0, period_s) + np.cumsum(
                period_s * (1 + 0.06 * rng.standard_normal(beats))
            )
            starts.append(np.round(times_s * sr).astype(np.int64))
            levels.append(rng.uniform(0.4, 1.0) * rng.uniform(0.7, 1.0, beats))
            pans.append(np.full(beats, rng.uniform(-0.9, 0.9)))
        start, level, pan = (np.concatenate(parts) for parts in (starts, levels, pans))
        grains = dsp.white(rng, start.size * length).reshape(start.size, length)
        grains *= np.exp(-decay_env / rng.uniform(0.003, 0.008, (start.size, 1))) * level[:, None]
        hands = dsp.scatter_panned(n, start, grains, pan)
        out += dsp.bandpass(hands, band_hz[0], band_hz[1], sr, order=1)
    return out


def _swell(rng: Rng, scene: Scene, depth: float) -> dsp.Signal:
    """A crowd's overall energy drifting slowly (a few seconds per change)."""
    return 1 - depth + depth * dsp.smooth_random(rng, scene.n_samples, scene.sample_rate_hz, 0.3)


def _murmur(scene: Scene, rng: Rng) -> dsp.Signal:
    babble = dsp.lowpass(_babble(rng, scene, _MURMUR), 3500, scene.sample_rate_hz)
    return dsp.fit_level(babble * _swell(rng, scene, 0.3), BED_RMS, BED_PEAK)


def _applause(scene: Scene, rng: Rng) -> dsp.Signal:
    claps = _claps(rng, scene, int(rng.integers(30, 60)))
    return dsp.fit_level(claps * _swell(rng, scene, 0.25), BED_RMS, BED_PEAK)


def _cheering(scene: Scene, rng: Rng) -> dsp.Signal:
    voices = dsp.normalise_rms(_babble(rng, scene, _CHEER), BED_RMS)
    claps = dsp.normalise_rms(_claps(rng, scene, int(rng.integers(20, 40))), 0.6 * BED_RMS)
    return dsp.fit_level((voices + claps) * _swell(rng, scene, 0.3), 1.2 * BED_RMS, BED_PEAK)


_BEDS: dict[str, BedFn] = {"murmur": _murmur, "applause": _applause, "cheering": _cheering}

CROWD = Recipe(
    family="crowd",
    kind=RecipeKind.CONTINUOUS,
    variants={
        "murmur": "a crowd of people talking, murmur and chatter",
        "applause": "an audience applauding, people clapping",
        "cheering": "a crowd cheering and shouting",
    },
    descriptions=(
        "a crowd",
        "people talking in a busy room",
        "an audience",
        "applause",
        "a cheering crowd",
        "a restaurant full of people",
        "a party",
        "people chatting",
        "a busy cafe",
    ),
    keywords=(
        "crowd",
        "people",
        "audience",
        "applaus",
        "applaud",
        "clap",
        "cheer",
        "chatter",
        "murmur",
        "walla",
        "spectator",
        "fans",
        "restaurant",
        "cafe",
        "party",
        "stadium",
    ),
    render=continuous("crowd", _BEDS),
    variant_keywords={
        "applause": ("applaus", "applaud", "clap", "ovation"),
        "cheering": ("cheer", "shout", "yell", "stadium", "fans", "celebrat", "scream"),
    },
)
