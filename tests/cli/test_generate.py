"""The `foleyserve` command as users run it: real processes for the error paths, in-process
(typer's runner) for the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foleyserve.cli import app
from foleyserve.media.audio import decode_audio
from foleyserve.media.synthetic import make_bouncing_ball

KEYWORDS_ONLY = {"FOLEYSERVE_TEXT_EMBEDDER": "keywords"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ball.mp4"
    make_bouncing_ball(path, impact_times_s=[0.4, 0.9], duration_s=1.5)
    return path


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for key, value in KEYWORDS_ONLY.items():
        monkeypatch.setenv(key, value)
    return CliRunner()


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foleyserve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **KEYWORDS_ONLY, **(env or {})},
        timeout=120,
        check=False,
    )


def test_generate_writes_a_video_and_reports_json(
    runner: CliRunner, clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.mp4"
    result = runner.invoke(
        app, ["generate", str(clip), "-p", "ball bounce", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["output"] == str(out) and payload["sample_rate_hz"] == 48_000
    assert decode_audio(out).sample_rate_hz == 48_000


def test_format_comes_from_the_output_suffix(runner: CliRunner, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.flac"
    result = runner.invoke(app, ["generate", str(clip), "-p", "rain", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open("rb") as f:
        assert f.read(4) == b"fLaC"


def test_default_output_sits_next_to_the_video(runner: CliRunner, tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    make_bouncing_ball(video, impact_times_s=[0.3], duration_s=0.8)
    result = runner.invoke(app, ["generate", str(video), "-p", "rain", "-f", "wav"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.foley.wav").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate", "{missing}", "-p", "rain"], "does not exist"),
        (["generate", "{text}", "-p", "rain"], "not a video"),
        (["generate", "{clip}", "-p", ""], "prompt is empty"),
        (["generate", "{clip}", "-p", "rain", "-o", "/nonexistent/dir/o.mp4"], "does not exist"),
        (["generate", "{clip}", "-p", "rain", "--seed", "-5"], "seed"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    clip: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    subs = {"{missing}": str(tmp_path / "nope.mp4"), "{text}": str(text), "{clip}": str(clip)}
    result = _run(*[subs.get(a, a) for a in args])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0].lower(), result.stderr


def test_bad_input_in_json_mode_is_a_json_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    result = _run("generate", str(text), "-p", "rain", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "not_a_video"


def test_bad_setting_is_a_clear_error(clip: Path) -> None:
    result = _run("generate", str(clip), "-p", "rain", env={"FOLEYSERVE_MAX_PROMPT_CHARS": "-1"})
    assert result.returncode == 2 and "max_prompt_chars" in result.stderr


def test_batch_over_a_folder_keeps_going_past_bad_files(
    runner: CliRunner, clip: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(clip.read_bytes())
    (folder / "b.mp4").write_bytes(clip.read_bytes()[:200])
    (folder / "readme.txt").write_text("not a video and not picked up")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["batch", str(folder), "-o", str(out), "-p", "footsteps", "-f", "wav", "--json"]
    )
    assert result.exit_code == 1
    rows = {Path(r["video"]).name: r for r in json.loads(result.stdout)["results"]}
    assert rows["a.mp4"]["ok"] and (out / "a.foley.wav").exists()
    assert not rows["b.mp4"]["ok"] and rows["b.mp4"]["error"]["code"] == "truncated_file"


def test_batch_from_csv(runner: CliRunner, clip: Path, tmp_path: Path) -> None:
    table = tmp_path / "jobs.csv"
    table.write_text(f"video,prompt,seed\n{clip},rain,3\n{clip.name},glass,4\n")
    (tmp_path / clip.name).write_bytes(clip.read_bytes())
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", str(table), "-o", str(out), "-f", "wav", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["results"]) == 2


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("film,text\nx.mp4,rain\n", "video,prompt"),
        ("video,prompt,seed\nx.mp4,rain,abc\n", "line 2"),
    ],
)
def test_bad_csv(runner: CliRunner, tmp_path: Path, content: str, needle: str) -> None:
    table = tmp_path / "jobs.csv"
    table.write_text(content)
    result = runner.invoke(app, ["batch", str(table), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and needle in result.output


def test_demo_makes_a_video_with_sound(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert decode_audio(tmp_path / "example.foley.mp4").duration_s > 5
