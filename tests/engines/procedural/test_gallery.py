"""The listening gallery writes a playable WAV per variant."""

from __future__ import annotations

import wave
from pathlib import Path

from foleyserve.engines.procedural.gallery import render_gallery
from foleyserve.engines.procedural.recipes import RECIPES


def test_gallery_writes_one_wav_per_variant(tmp_path: Path) -> None:
    paths = render_gallery(tmp_path, duration_s=0.3)
    assert len(paths) == sum(len(r.variants) for r in RECIPES.values())
    with wave.open(str(tmp_path / "rain-steady.wav"), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 48_000)
        assert wav.getnframes() == round(0.3 * 48_000)
