"""`HunyuanEngine` on a tiny model directory loaded through settings, as users load theirs:
the contract, determinism, batching, text-only, progress and cancellation, bad model files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from foleyserve.engines.base import Cancelled, GenerationRequest, RequestShape, run_batch
from foleyserve.engines.hunyuan.benchmarking import build_random
from foleyserve.engines.hunyuan.engine import RANDOM_NAME, HunyuanEngine
from foleyserve.engines.hunyuan.factory import hunyuan_identity
from foleyserve.engines.hunyuan.loading import DIT_FILES
from foleyserve.engines.hunyuan.memory import PROBE_MARGIN, HunyuanMemoryModel, fit_memory
from foleyserve.engines.registry import create_engine
from foleyserve.errors import ConfigError
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import make_bouncing_ball
from foleyserve.settings import Settings
from tests.engines.hunyuan.tiny_dir import TINY_DIT

STEPS = 2


def _settings(model_dir: Path | None, **kw: object) -> Settings:
    return Settings(
        engine="hunyuan",
        hunyuan_model_dir=model_dir,
        hunyuan_device="cpu",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> HunyuanEngine:
    loaded = create_engine(_settings(tiny_model_dir))
    assert isinstance(loaded, HunyuanEngine)
    return loaded


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "ball.mp4"
    make_bouncing_ball(path, impact_times_s=[0.3, 0.7], duration_s=1.0, width=64, height=48)
    return path


def _request(
    engine: HunyuanEngine, clip: Path | None, prompt: str, seed: int, duration_s: float = 1.0
) -> GenerationRequest:
    text = engine.encode_text([(prompt, "")])[0]
    video = None if clip is None else engine.analyze_video(clip, probe(clip))
    return GenerationRequest(text, video, duration_s, seed=seed, steps=STEPS)


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


def test_engine_loads_from_settings_and_describes_itself(engine: HunyuanEngine) -> None:
    assert (engine.name, engine.version) == ("hunyuan", "1-xxl")
    profile = engine.profile
    assert (profile.sample_rate_hz, profile.channels) == (48_000, 1)
    assert (profile.max_segment_s, profile.segment_s, profile.segment_overlap_s) == (15, 10, 1)
    assert (profile.default_steps, profile.default_guidance) == (50, 4.5)
    memory = profile.memory  # the CPU estimate: weights + max(DiT activations, DAC decode)
    assert memory.bytes_for(1, 10.0) > memory.bytes_for(1, 5.0) > memory.bytes_for(0, 0.0)
    assert memory.bytes_for(10_000, 10.0) > memory.bytes_for(1, 10.0)


def test_the_memory_model_takes_the_higher_of_the_two_peaks() -> None:
    model = HunyuanMemoryModel(
        100, dit_fixed_bytes=10, dit_bytes_per_item_s=1.0, dac_bytes_per_s=5.0, measured=True
    )
    assert model.bytes_for(4, 2.0) == 100 + 18  # the sampler's peak: 10 + 4 x 2 x 1
    assert model.bytes_for(1, 4.0) == 100 + 20  # the decode's: 4 x 5


def test_the_probe_fit_recovers_the_slope_and_never_underestimates_its_points() -> None:
    # Peaks above 10 GB of weights, at 15 s: 1 request 300 MB, 4 requests 900 MB; decode 1 GB.
    model = fit_memory(10**10, {4: 900 * 10**6, 1: 300 * 10**6}, 10**9, 15.0)
    assert model.dit_bytes_per_item_s == pytest.approx(200e6 / 15 * PROBE_MARGIN)
    assert model.bytes_for(1, 15.0) == 10**10 + int(10**9 * PROBE_MARGIN)  # the decode's peak
    assert model.bytes_for(4, 15.0) >= 10**10 + 900 * 10**6
    assert model.bytes_for(16, 15.0) == pytest.approx(10**10 + 3300e6 * PROBE_MARGIN, rel=1e-6)


def test_the_api_knows_the_identity_without_loading(tiny_model_dir: Path) -> None:
    assert hunyuan_identity(_settings(tiny_model_dir)) == ("hunyuan", "1-xxl")
    random = hunyuan_identity(_settings(None, hunyuan_random_weights=True))
    assert random == (RANDOM_NAME, "1-xxl-random-seed0")
    # A fleet's API servers hold no weights: they name the variant.
    assert hunyuan_identity(_settings(None, hunyuan_variant="xl")) == ("hunyuan", "1-xl")
    with pytest.raises(ConfigError, match="FOLEYSERVE_HUNYUAN_VARIANT"):
        hunyuan_identity(_settings(None))


def test_batch_keys_group_equal_lengths_steps_and_guidance(engine: HunyuanEngine) -> None:
    key = engine.batch_key
    assert key(RequestShape(10.0)) == key(RequestShape(10.0, 50, 4.5))
    assert key(RequestShape(10.0)) != key(RequestShape(9.0))
    assert key(RequestShape(10.0, 50)) != key(RequestShape(10.0, 25))
    assert key(RequestShape(10.0, guidance=4.5)) != key(RequestShape(10.0, guidance=3.0))
    assert key(RequestShape(10.0, guidance=1.0)) == key(RequestShape(10.0, guidance=0.5))


def test_generation_is_seeded_and_independent_of_its_batch(
    engine: HunyuanEngine, clip: Path
) -> None:
    with_video = _request(engine, clip, "footsteps on gravel", seed=7)
    text_only = _request(engine, None, "rain on a tin roof", seed=3)
    alone = run_batch(engine, [with_video])[0]
    together = run_batch(engine, [text_only, with_video])
    assert all(a.n_samples == 48_000 and a.channels == 1 for a in together)
    # Its neighbour pads its text with masked keys: equal up to float32 rounding.
    assert _relative_error(together[1].samples, alone.samples) < 1e-4
    assert np.array_equal(run_batch(engine, [with_video])[0].samples, alone.samples)
    reseeded = GenerationRequest(with_video.text, with_video.video, 1.0, seed=8, steps=STEPS)
    assert not np.allclose(run_batch(engine, [reseeded])[0].samples, alone.samples)
    # Text-only uses the learnable empty features: not the video's sound.
    no_video = GenerationRequest(with_video.text, None, 1.0, seed=7, steps=STEPS)
    assert not np.allclose(run_batch(engine, [no_video])[0].samples, alone.samples)


def test_awkward_durations_give_exactly_their_samples(engine: HunyuanEngine) -> None:
    text = engine.encode_text([("glass", "")])[0]
    for duration_s in (0.3, 1.013, 1.16):
        request = GenerationRequest(text, None, duration_s, seed=0, steps=1)
        assert run_batch(engine, [request])[0].n_samples == round(duration_s * 48_000)


def test_progress_counts_steps_and_decode_and_cancel_stops_between_steps(
    engine: HunyuanEngine,
) -> None:
    request = GenerationRequest(engine.encode_text([("wind", "")])[0], None, 0.5, seed=0, steps=3)
    seen: list[tuple[int, int]] = []
    engine.generate([request], lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    seen.clear()
    with pytest.raises(Cancelled):
        engine.generate([request], lambda d, t: seen.append((d, t)), lambda: len(seen) >= 1)
    assert seen == [(1, 4)]


def test_a_model_directory_is_required_unless_random_weights_are_asked_for() -> None:
    with pytest.raises(ConfigError, match="RANDOM_WEIGHTS") as err:
        create_engine(_settings(None))
    assert err.value.code == "model_dir_missing"


def test_missing_and_mismatched_model_files_are_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="does not exist") as err:
        create_engine(_settings(tmp_path / "nowhere"))
    assert err.value.code == "model_file_missing"

    partial = tmp_path / "partial"
    shutil.copytree(tiny_model_dir, partial)
    (partial / "vae_128d_48k.pth").unlink()
    with pytest.raises(ConfigError, match=r"vae_128d_48k\.pth") as err:
        create_engine(_settings(partial))
    assert err.value.code == "model_file_missing"

    mixed = tmp_path / "mixed"
    shutil.copytree(tiny_model_dir, mixed)
    other = build_random(
        type(TINY_DIT)(**{**vars(TINY_DIT), "visual_dim": 48}), 0, dtype=torch.float32
    )
    torch.save(other.state_dict(), mixed / DIT_FILES["xxl"])
    with pytest.raises(ConfigError, match="SigLIP2 width is 32 but DiT clip_dim is 48") as err:
        create_engine(_settings(mixed))
    assert err.value.code == "checkpoint_mismatch"
