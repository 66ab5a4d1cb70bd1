"""Render every recipe family and variant to WAV files, for a person to listen to.

    python -m foleyserve.engines.procedural.gallery OUT_DIR [--duration-s 6] [--seed 0]

The sample scene has a few onsets of varied strength, left to right (impulsive families),
and a motion curve that swells twice while sweeping across the stereo field (engine, whoosh,
rustle). Files are 16-bit PCM stereo at 48 kHz, named `family-variant.wav`.
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np

from foleyserve.engines.procedural.dsp import Output
from foleyserve.engines.procedural.recipes import RECIPES
from foleyserve.engines.procedural.scene import (
    DEFAULT_CONTROL_RATE_HZ,
    DEFAULT_SAMPLE_RATE_HZ,
    Event,
    Scene,
)


def sample_scene(duration_s: float = 6.0) -> Scene:
    """Onsets every ~0.9 s moving left to right; motion swelling twice, panning along."""
    steps = max(1, int(np.ceil(duration_s * DEFAULT_CONTROL_RATE_HZ - 1e-9)))
    times_s = np.arange(steps) / DEFAULT_CONTROL_RATE_HZ
    motion = np.sin(np.pi * 2 * times_s / duration_s) ** 2
    pan = np.sin(np.pi * 2 * times_s / duration_s - np.pi / 2) * 0.8
    onsets_s = np.arange(0.25, duration_s - 0.2, 0.9)
    events = tuple(
        Event(float(t), 0.5 + 0.5 * float(i % 2), float(-0.8 + 1.6 * t / duration_s))
        for i, t in enumerate(onsets_s)
    )
    return Scene(
        duration_s=duration_s,
        sample_rate_hz=DEFAULT_SAMPLE_RATE_HZ,
        control_rate_hz=DEFAULT_CONTROL_RATE_HZ,
        events=events,
        motion=motion.astype(np.float32),
        pan=pan.astype(np.float32),
    )


def write_wav(path: Path, stereo: Output, sample_rate_hz: int) -> None:
    """`[2, n]` float in [-1, 1] as 16-bit PCM."""
    pcm = np.round(np.clip(stereo, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(stereo.shape[0])
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(pcm.T.tobytes())


def render_gallery(out_dir: Path, duration_s: float = 6.0, seed: int = 0) -> list[Path]:
    """Write one WAV per (family, variant) into `out_dir` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = sample_scene(duration_s)
    written = []
    for family, recipe in RECIPES.items():
        for variant in recipe.variants:
            audio = recipe.render(scene, variant, np.random.default_rng(seed))
            path = out_dir / f"{family}-{variant}.wav"
            write_wav(path, audio, scene.sample_rate_hz)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--duration-s", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in render_gallery(args.out_dir, args.duration_s, args.seed):
        print(path)


if __name__ == "__main__":
    main()
