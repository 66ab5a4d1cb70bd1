"""SigLIP2 and CLAP through transformers' classes, from local Hugging Face directories: the
official way of calling them reproduced, batching that changes nothing, strict loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoTokenizer,
    ClapTextConfig,
    ClapTextModelWithProjection,
    SiglipModel,
    SiglipVisionConfig,
)

from foleyserve.engines.hunyuan.encoders import (
    CLAP_DIR,
    CLAP_REPO,
    DEFAULT_NEGATIVE_PROMPT,
    SIGLIP2_DIR,
    SIGLIP2_REPO,
    TEXT_LENGTH,
    load_text_encoder,
    load_visual_encoder,
    random_text_encoder,
    random_visual_encoder,
)
from foleyserve.engines.hunyuan.models import random_dac
from foleyserve.errors import ConfigError
from tests.engines.hunyuan.tiny_dir import TINY_DAC


def _official_text(path: Path, prompt: str, negative: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The official `encode_text_feat` + `feature_process` cut, on the same files."""
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = ClapTextModelWithProjection.from_pretrained(str(path), local_files_only=True)
    inputs = tokenizer([negative, prompt], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**inputs, output_hidden_states=True, return_dict=True).last_hidden_state
    return hidden[1, :TEXT_LENGTH], hidden[0, :TEXT_LENGTH]


def test_siglip2_features_are_the_official_pooled_image_features(tiny_model_dir: Path) -> None:
    path = tiny_model_dir / SIGLIP2_DIR
    encoder = load_visual_encoder(path)
    encoder.max_frames = 2  # three frames: two chunks
    pixels = torch.rand(3, 3, 512, 512, generator=torch.Generator().manual_seed(0)) * 2 - 1
    full = SiglipModel.from_pretrained(str(path), local_files_only=True)
    with torch.inference_mode():
        official = full.get_image_features(pixel_values=pixels).pooler_output
    ours = encoder.encode(pixels)
    assert ours.shape == (3, encoder.dim) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, official, rtol=1e-5, atol=1e-6)


def test_clap_pairs_are_the_official_features_batched_or_alone(tiny_model_dir: Path) -> None:
    path = tiny_model_dir / CLAP_DIR
    encoder = load_text_encoder(path)
    pairs = [("footsteps on gravel", "music"), ("rain", "noisy, harsh, loud speech")]
    together = encoder.encode_pairs(pairs)
    for (prompt, negative), (text, uncond) in zip(pairs, together, strict=True):
        official_text, official_uncond = _official_text(path, prompt, negative)
        # Both padded to the longer of the pair, as the official tokenisation does.
        assert text.shape == uncond.shape == official_text.shape
        torch.testing.assert_close(text, official_text, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(uncond, official_uncond, rtol=1e-5, atol=1e-5)
    alone = encoder.encode_pairs(pairs[1:])[0]
    torch.testing.assert_close(alone[0], together[1][0], rtol=1e-5, atol=1e-5)


def test_clap_cuts_at_77_tokens_and_fills_in_the_default_negative(tiny_model_dir: Path) -> None:
    encoder = load_text_encoder(tiny_model_dir / CLAP_DIR)
    (text, uncond), (default_text, default_uncond) = encoder.encode_pairs(
        [("a very long description of many sounds " * 3, ""), ("glass", "")]
    )
    assert text.shape[0] == uncond.shape[0] == TEXT_LENGTH
    official = _official_text(tiny_model_dir / CLAP_DIR, "glass", DEFAULT_NEGATIVE_PROMPT)
    torch.testing.assert_close(default_uncond, official[1], rtol=1e-5, atol=1e-5)
    assert default_text.shape[0] < TEXT_LENGTH


def test_missing_directories_name_the_repo_to_download(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=SIGLIP2_REPO) as visual:
        load_visual_encoder(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=CLAP_REPO) as text:
        load_text_encoder(tmp_path / "nowhere")
    assert visual.value.code == text.value.code == "model_file_missing"
    assert str(tmp_path / "nowhere") in visual.value.message


def test_a_directory_without_the_weights_it_needs_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # CLAP's files where SigLIP2's belong: the vision tower's weights are all missing.
    wrong = tmp_path / "wrong"
    shutil.copytree(tiny_model_dir / CLAP_DIR, wrong)
    (wrong / "config.json").write_text((tiny_model_dir / SIGLIP2_DIR / "config.json").read_text())
    with pytest.raises(ConfigError, match="missing keys") as err:
        load_visual_encoder(wrong)
    assert err.value.code == "checkpoint_mismatch"


def test_a_clap_directory_without_its_tokenizer_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    no_tokenizer = tmp_path / "clap"
    shutil.copytree(tiny_model_dir / CLAP_DIR, no_tokenizer)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (no_tokenizer / name).unlink()
    with pytest.raises(ConfigError, match="tokenizer") as err:
        load_text_encoder(no_tokenizer)
    assert err.value.code == "model_file_missing"


def test_benchmark_mode_builders_are_seeded_and_sized_by_their_configs() -> None:
    vision = SiglipVisionConfig(
        image_size=64,
        patch_size=32,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    text = ClapTextConfig(
        vocab_size=300,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        projection_dim=8,
    )
    pixels = torch.zeros(2, 3, 64, 64)
    a, b = random_visual_encoder(5, vision), random_visual_encoder(5, vision)
    assert torch.equal(a.encode(pixels), b.encode(pixels)) and a.dim == 16
    pairs = [("rain", "")]
    first, again = random_text_encoder(5, text), random_text_encoder(5, text)
    assert torch.equal(first.encode_pairs(pairs)[0][0], again.encode_pairs(pairs)[0][0])
    assert not torch.equal(
        first.encode_pairs(pairs)[0][0], random_text_encoder(6, text).encode_pairs(pairs)[0][0]
    )
    dac = random_dac(TINY_DAC, 0)
    with torch.inference_mode():
        audio = dac(
            torch.randn(1, TINY_DAC.latent_dim, 10, generator=torch.Generator().manual_seed(0))
        )
    assert audio.shape == (1, 1, 9600) and float(audio.abs().max()) < 0.99  # not saturated
