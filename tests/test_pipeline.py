"""`render`: a real video in, a real file out, every stage for real (procedural engine)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import av
import numpy as np
import pytest

from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.errors import InvalidInput, OutputError
from foleyserve.media.audio import decode_audio
from foleyserve.media.synthetic import make_bouncing_ball, make_test_pattern
from foleyserve.params import OutputFormat, RenderParams, check_params
from foleyserve.pipeline import generate_audio, render, segment_seed
from foleyserve.settings import Settings


@pytest.fixture(scope="module")
def engine() -> ProceduralEngine:
    return ProceduralEngine(embedder=None)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "ball.mp4"
    make_bouncing_ball(path, impact_times_s=[0.5, 1.1, 1.6], duration_s=2.5, with_audio=True)
    return path


def _video_packet_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [hashlib.sha256(bytes(p)).hexdigest() for p in container.demux(stream) if p.size > 0]


def test_video_output_keeps_the_picture_and_gets_new_sound(
    engine: ProceduralEngine, clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mp4"
    result = render(engine, clip, out, RenderParams("ball bouncing"), Settings())
    assert _video_packet_hashes(out) == _video_packet_hashes(clip)
    audio = decode_audio(out)
    assert audio.sample_rate_hz == 48_000
    assert abs(audio.duration_s - result.video.duration_s) < 0.05
    assert result.segments == 1
    assert abs(result.loudness_lufs - Settings().loudness_target_lufs) < 0.5
    assert set(result.timings_s) == {"probe", "analyze", "text", "generate", "encode"}


@pytest.mark.parametrize("fmt", [f for f in OutputFormat if not f.is_video])
def test_audio_outputs(
    engine: ProceduralEngine, clip: Path, tmp_path: Path, fmt: OutputFormat
) -> None:
    out = tmp_path / f"out.{fmt.value}"
    result = render(engine, clip, out, RenderParams("rain", output_format=fmt), Settings())
    audio = decode_audio(out)
    assert audio.sample_rate_hz == result.sample_rate_hz
    assert abs(audio.duration_s - result.duration_s) < 0.03


def test_mixing_keeps_the_original_sound(
    engine: ProceduralEngine, clip: Path, tmp_path: Path
) -> None:
    replaced, mixed = tmp_path / "replaced.mp4", tmp_path / "mixed.mp4"
    render(engine, clip, replaced, RenderParams("ball"), Settings())
    render(engine, clip, mixed, RenderParams("ball", mix_original_db=0.0), Settings())
    a, b = decode_audio(replaced), decode_audio(mixed)
    n = min(a.n_samples, b.n_samples)
    assert not np.allclose(a.samples[:, :n], b.samples[:, :n], atol=1e-3)


def test_long_video_goes_through_segments(engine: ProceduralEngine, tmp_path: Path) -> None:
    video = tmp_path / "long.mp4"
    make_test_pattern(video, duration_s=180.0, width=64, height=48, fps=10, codec="libx264")
    out = tmp_path / "long.wav"
    result = render(
        engine, video, out, RenderParams("wind", output_format=OutputFormat.WAV), Settings()
    )
    assert result.segments >= 3
    audio = decode_audio(out)
    assert audio.n_samples == round(result.video.duration_s * 48_000)
    # No silent gaps or holes at the joins: every second carries sound.
    seconds = audio.samples[:, : 180 * 48_000].reshape(2, 180, 48_000)
    assert np.sqrt((seconds**2).mean(axis=(0, 2))).min() > 1e-3


def test_generate_audio_is_sample_exact_for_odd_durations(engine: ProceduralEngine) -> None:
    text = engine.encode_text([("rain", "")])[0]
    for duration_s in (0.37, 61.3, 130.011):
        audio, segments = generate_audio(engine, None, text, duration_s, RenderParams("rain"))
        assert audio.n_samples == round(duration_s * 48_000)
        assert segments[-1].start_s + segments[-1].duration_s == pytest.approx(duration_s)


def test_segment_seeds_are_stable_and_distinct() -> None:
    assert segment_seed(5, 0) == 5
    seeds = {segment_seed(5, i) for i in range(10)}
    assert len(seeds) == 10 and segment_seed(5, 3) == segment_seed(5, 3)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (RenderParams(""), "empty_prompt"),
        (RenderParams("   "), "empty_prompt"),
        (RenderParams("x" * 501), "prompt_too_long"),
        (RenderParams("rain", negative_prompt="y" * 501), "prompt_too_long"),
        (RenderParams("rain", seed=-1), "invalid_seed"),
        (RenderParams("rain", seed=2**40), "invalid_seed"),
        (RenderParams("rain", steps=0), "invalid_steps"),
        (RenderParams("rain", steps=10_000), "invalid_steps"),
        (RenderParams("rain", guidance=-1.0), "invalid_guidance"),
        (RenderParams("rain", guidance=float("nan")), "invalid_guidance"),
        (RenderParams("rain", mix_original_db=40.0), "invalid_mix_gain"),
        (
            RenderParams("rain", output_format=OutputFormat.WAV, mix_original_db=-6.0),
            "mix_needs_video_output",
        ),
    ],
)
def test_absurd_parameters_are_refused(params: RenderParams, code: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_params(params, Settings())
    assert e.value.code == code


def test_bad_video_is_refused_before_any_work(engine: ProceduralEngine, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(InvalidInput) as e:
        render(engine, bad, tmp_path / "out.mp4", RenderParams("rain"), Settings())
    assert e.value.code == "not_a_video"
    assert not (tmp_path / "out.mp4").exists()


def test_unwritable_output_is_refused_before_any_work(
    engine: ProceduralEngine, clip: Path, tmp_path: Path
) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        render(engine, clip, tmp_path / "missing" / "o.mp4", RenderParams("rain"), Settings())
    with pytest.raises(OutputError, match="directory"):
        render(engine, clip, tmp_path, RenderParams("rain"), Settings())


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
def test_read_only_directory_is_refused(
    engine: ProceduralEngine, clip: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="not writable"):
        render(engine, clip, locked / "o.mp4", RenderParams("rain"), Settings())


def test_too_long_video_is_refused(engine: ProceduralEngine, clip: Path, tmp_path: Path) -> None:
    settings = Settings(max_video_duration_s=1.0)
    with pytest.raises(InvalidInput) as e:
        render(engine, clip, tmp_path / "o.mp4", RenderParams("rain"), settings)
    assert e.value.code == "video_too_long"
    assert "1" in e.value.message
