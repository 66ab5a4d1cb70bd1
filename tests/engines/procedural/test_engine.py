"""The procedural engine end to end on real decoded videos: sounds land on the picture's events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from foleyserve.engines.base import Cancelled, FoleyEngine, GenerationRequest, run_batch
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.errors import EngineError
from foleyserve.media.audio import Audio
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import make_bouncing_ball, make_static
from tests.onsets import audio_onsets, matched_fraction

IMPACTS_S = [0.5, 1.2, 1.8, 2.5, 3.0, 3.4, 3.75, 4.6, 5.3, 6.1]
BALL_PROMPT = "a ball bouncing on a wooden floor"


@pytest.fixture(scope="module")
def engine() -> ProceduralEngine:
    return ProceduralEngine(embedder=None)


@pytest.fixture(scope="module")
def ball_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "ball.mp4"
    make_bouncing_ball(path, impact_times_s=IMPACTS_S, duration_s=7.0, fps=30)
    return path


def _render(engine: FoleyEngine, video: Path, prompt: str, seed: int = 0) -> Audio:
    info = probe(video)
    features = engine.analyze_video(video, info)
    text = engine.encode_text([(prompt, "")])[0]
    request = GenerationRequest(text, features, info.duration_s, seed)
    return run_batch(engine, [request])[0]


def test_impacts_sound_on_the_visual_events(engine: ProceduralEngine, ball_video: Path) -> None:
    audio = _render(engine, ball_video, BALL_PROMPT)
    assert audio.sample_rate_hz == 48_000 and audio.channels == 2
    assert audio.n_samples == round(probe(ball_video).duration_s * 48_000)
    found = audio_onsets(audio)
    assert matched_fraction(found, IMPACTS_S) >= 0.9, (found, IMPACTS_S)
    # Nothing fires where nothing happened.
    assert all(any(abs(f - t) <= 0.1 for t in IMPACTS_S) for f in found), found


def test_static_shot_stays_silent(engine: ProceduralEngine, tmp_path: Path) -> None:
    video = tmp_path / "static.mp4"
    make_static(video, duration_s=3.0, width=320, height=240, fps=25, codec="libx264")
    audio = _render(engine, video, "glass shattering")
    assert not audio.samples.any()


def test_a_scene_cut_makes_no_sound(engine: ProceduralEngine, tmp_path: Path) -> None:
    video = tmp_path / "cut.mp4"
    impacts = [0.6, 1.4, 3.2]
    make_bouncing_ball(video, impact_times_s=impacts, duration_s=4.0, scene_cut_at_s=2.3)
    found = audio_onsets(_render(engine, video, "a ball hitting the floor"))
    assert all(abs(f - 2.3) > 0.1 for f in found), found
    assert matched_fraction(found, impacts) >= 0.6


def test_same_seed_same_audio_other_seed_other_audio(
    engine: ProceduralEngine, ball_video: Path
) -> None:
    a = _render(engine, ball_video, "footsteps on gravel", seed=1)
    b = _render(engine, ball_video, "footsteps on gravel", seed=1)
    c = _render(engine, ball_video, "footsteps on gravel", seed=2)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_batched_requests_equal_single_runs(engine: ProceduralEngine, ball_video: Path) -> None:
    info = probe(ball_video)
    features = engine.analyze_video(ball_video, info)
    texts = engine.encode_text([("rain", ""), ("glass breaking", ""), ("door slam", "")])
    requests = [
        GenerationRequest(t, features.window(1.0, 3.0), 3.0, seed) for seed, t in enumerate(texts)
    ]
    together = run_batch(engine, requests)
    alone = [run_batch(engine, [r])[0] for r in requests]
    for x, y in zip(together, alone, strict=True):
        assert np.array_equal(x.samples, y.samples)


def test_text_only_generation_makes_sound(engine: ProceduralEngine) -> None:
    text = engine.encode_text([("footsteps on wood", "")])[0]
    audio = run_batch(engine, [GenerationRequest(text, None, 2.5, 7)])[0]
    assert audio.n_samples == 120_000 and np.abs(audio.samples).max() > 0.05


def test_unknown_prompt_falls_back_to_impacts(engine: ProceduralEngine) -> None:
    text = engine.encode_text([("zxqv", "")])[0]
    audio = run_batch(engine, [GenerationRequest(text, None, 2.0, 0)])[0]
    assert np.abs(audio.samples).max() > 0.05


def test_progress_and_cancel(engine: ProceduralEngine) -> None:
    text = engine.encode_text([("rain and thunder and wind", "")])[0]
    request = GenerationRequest(text, None, 1.0, 0)
    seen: list[tuple[int, int]] = []
    run_batch(engine, [request], progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1] and len(seen) >= 3
    with pytest.raises(Cancelled):
        run_batch(engine, [request], cancelled=lambda: True)


class _DropsOne(ProceduralEngine):
    """An engine that breaks the contract, to see the framework catch it."""

    def generate(self, batch, progress=None, cancelled=None):  # type: ignore[no-untyped-def]
        return super().generate(batch, progress, cancelled)[:-1]


def test_wrong_output_count_is_an_engine_error() -> None:
    engine = _DropsOne(embedder=None)
    text = engine.encode_text([("rain", "")])[0]
    requests = [GenerationRequest(text, None, 0.5, s) for s in range(2)]
    with pytest.raises(EngineError) as e:
        run_batch(engine, requests)
    assert e.value.code == "engine_contract" and not e.value.retryable
