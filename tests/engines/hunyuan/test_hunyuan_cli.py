"""The hunyuan engine from the command line, as users start it: `foleyserve generate` with the
engine chosen by settings, and `foleyserve worker --engine hunyuan` refusing to start without
model files unless benchmark mode is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foleyserve.cli import app
from foleyserve.media.audio import decode_audio
from foleyserve.media.synthetic import make_bouncing_ball


def test_generate_runs_the_hunyuan_engine_from_settings(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip, out = tmp_path / "ball.mp4", tmp_path / "ball.wav"
    make_bouncing_ball(clip, impact_times_s=[0.3], duration_s=0.8, width=64, height=48)
    monkeypatch.setenv("FOLEYSERVE_ENGINE", "hunyuan")
    monkeypatch.setenv("FOLEYSERVE_HUNYUAN_MODEL_DIR", str(tiny_model_dir))
    monkeypatch.setenv("FOLEYSERVE_HUNYUAN_DEVICE", "cpu")
    result = CliRunner().invoke(
        app, ["generate", str(clip), "-p", "glass", "--steps", "1", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sample_rate_hz"] == 48_000
    assert decode_audio(out).duration_s == pytest.approx(0.8, abs=1e-3)


def test_a_worker_without_model_files_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLEYSERVE_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["worker", "--engine", "hunyuan", "--device", "cpu"])
    assert result.exit_code == 1
    assert "model_dir_missing" in result.output and "--random-weights" in result.output
    result = CliRunner().invoke(
        app, ["worker", "--engine", "hunyuan", "--model-dir", str(tmp_path / "none")]
    )
    assert result.exit_code == 1 and "model_file_missing" in result.output
