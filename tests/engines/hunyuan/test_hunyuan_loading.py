"""Loading weights: official .pth formats, safetensors copies, strict key checks, detection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from foleyserve.engines.hunyuan.config import XL, XXL, DiTConfig
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.engines.hunyuan.loading import (
    HF_REPO,
    infer_dit_config,
    load_dac,
    load_dac_file,
    load_dit,
    load_dit_file,
)
from foleyserve.errors import ConfigError


def _state(model: FoleyDiT) -> dict[str, torch.Tensor]:
    return {k: v.contiguous().clone() for k, v in model.state_dict().items()}


def _output(model: FoleyDiT) -> torch.Tensor:
    config = model.config
    generator = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        out: torch.Tensor = model(
            torch.randn((1, config.latent_dim, 24), generator=generator),
            torch.tensor([400.0]),
            torch.randn((1, 5, config.text_dim), generator=generator),
            torch.randn((1, 4, config.visual_dim), generator=generator),
            torch.randn((1, 8, config.sync_dim), generator=generator),
        )
    return out


def test_official_pth_round_trip(small_model: FoleyDiT, tmp_path: Path) -> None:
    torch.save(_state(small_model), tmp_path / "hunyuanvideo_foley.pth")
    loaded = load_dit(tmp_path, device="cpu", dtype=torch.float32)
    assert loaded.config == small_model.config
    assert not loaded.training
    assert torch.equal(_output(loaded), _output(small_model))


def test_bf16_safetensors_copy_loads(small_model: FoleyDiT, tmp_path: Path) -> None:
    path = tmp_path / "hunyuanvideo_foley.safetensors"
    save_file({k: v.bfloat16() for k, v in _state(small_model).items()}, str(path))
    loaded = load_dit(tmp_path, dtype=torch.float32)
    for key, value in loaded.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, small_model.state_dict()[key].bfloat16().float())


@pytest.mark.parametrize("fp8", [torch.float8_e4m3fn, torch.float8_e5m2])
def test_fp8_copies_are_upcast_at_load(
    small_model: FoleyDiT, tmp_path: Path, fp8: torch.dtype
) -> None:
    state = {k: v.to(fp8) if v.ndim == 2 else v for k, v in _state(small_model).items()}
    save_file(state, str(tmp_path / "fp8.safetensors"))
    loaded = load_dit_file(tmp_path / "fp8.safetensors", dtype=torch.bfloat16)
    weight = loaded.state_dict()["cond_in.linear_1.weight"]
    assert weight.dtype == torch.bfloat16
    assert torch.equal(weight.float(), state["cond_in.linear_1.weight"].float())


def test_strict_check_lists_missing_and_unexpected_keys(
    small_model: FoleyDiT, tmp_path: Path
) -> None:
    state = _state(small_model)
    del state["triple_blocks.1.audio_mlp.fc2.bias"]
    state["triple_blocks.0.lora_down.weight"] = torch.zeros(2, 2)
    torch.save(state, tmp_path / "hunyuanvideo_foley.pth")
    with pytest.raises(ConfigError) as info:
        load_dit(tmp_path)
    message = info.value.message
    assert "1 missing key(s): triple_blocks.1.audio_mlp.fc2.bias" in message
    assert "1 unexpected key(s): triple_blocks.0.lora_down.weight" in message
    assert str(tmp_path / "hunyuanvideo_foley.pth") in message


def test_strict_check_shortens_long_listings(small_model: FoleyDiT, tmp_path: Path) -> None:
    state = {k: v for k, v in _state(small_model).items() if not k.startswith("single_blocks.1.")}
    torch.save(state, tmp_path / "model.pth")
    config = small_model.config
    with pytest.raises(ConfigError, match=r"11 missing key\(s\): .*, \.\.\. and 1 more"):
        load_dit_file(tmp_path / "model.pth", config=config)


def test_missing_file_names_it_the_directory_and_the_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_dit(tmp_path, "xl")
    message = info.value.message
    assert "hunyuanvideo_foley_xl.pth" in message
    assert str(tmp_path) in message
    assert HF_REPO in message
    assert info.value.code == "model_file_missing"
    with pytest.raises(ConfigError, match=r"vae_128d_48k\.pth"):
        load_dac(tmp_path)


def test_variant_detection_from_shapes(small_model: FoleyDiT) -> None:
    with torch.device("meta"):
        xxl_state = FoleyDiT(XXL).state_dict()
        xl_state = FoleyDiT(XL).state_dict()
    assert infer_dit_config(xxl_state).name == "xxl"
    assert infer_dit_config(xl_state).name == "xl"
    custom = infer_dit_config(small_model.state_dict())
    assert custom.name == "custom"
    assert custom == small_model.config


def test_a_file_of_another_variant_is_refused(small_model: FoleyDiT, tmp_path: Path) -> None:
    torch.save(_state(small_model), tmp_path / "hunyuanvideo_foley_xl.pth")
    with pytest.raises(ConfigError, match="holds a custom DiT, not xl"):
        load_dit(tmp_path, "xl")


def test_not_a_dit_checkpoint(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(1)}, tmp_path / "hunyuanvideo_foley.pth")
    with pytest.raises(ConfigError, match="not a HunyuanVideo-Foley DiT"):
        load_dit(tmp_path)


def _official_dac_file(golden_dir: Path, meta: dict[str, Any], path: Path) -> list[str]:
    """Write the golden decoder weights in the official DAC format, with encoder keys added."""
    state = load_file(golden_dir / "dac_decoder.safetensors")
    extra = {
        "encoder.block.0.weight_g": torch.ones(8, 1, 1),
        "encoder.block.0.weight_v": torch.ones(8, 1, 7),
        "quant_conv.weight": torch.ones(256, 128, 1),
    }
    kwargs = {k: v for k, v in meta["dac"].items() if k != "weight_norm"}
    torch.save({"state_dict": {**state, **extra}, "metadata": {"kwargs": kwargs}}, path)
    return sorted(extra)


def test_official_dac_file_loads_decoder_and_reports_ignored_keys(
    golden_dir: Path, golden_meta: dict[str, Any], tmp_path: Path
) -> None:
    expected_ignored = _official_dac_file(golden_dir, golden_meta, tmp_path / "vae_128d_48k.pth")
    decoder, ignored = load_dac(tmp_path)
    assert ignored == expected_ignored
    ref = load_file(golden_dir / "dac_decode.safetensors")
    with torch.inference_mode():
        audio = decoder(ref["z"])
    error = float((audio - ref["audio"]).norm() / ref["audio"].norm())
    assert error < 1e-4


def test_dac_copy_without_kwargs_must_be_the_released_shape(
    golden_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "vae.safetensors"
    save_file(load_file(golden_dir / "dac_decoder.safetensors"), str(path))
    with pytest.raises(ConfigError, match="wrong shape"):
        load_dac_file(path)


def test_dac_kwargs_in_safetensors_metadata_are_used(
    golden_dir: Path, golden_meta: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "vae.safetensors"
    kwargs = json.dumps({k: v for k, v in golden_meta["dac"].items() if k != "weight_norm"})
    save_file(load_file(golden_dir / "dac_decoder.safetensors"), str(path), {"kwargs": kwargs})
    decoder, ignored = load_dac_file(path)
    assert decoder.config.decoder_dim == golden_meta["dac"]["decoder_dim"]
    assert ignored == []


def test_custom_config_round_trips_through_from_meta() -> None:
    kwargs = {"hidden_size": 64, "num_heads": 2, "depth_triple_blocks": 1}
    kwargs |= {"depth_single_blocks": 3, "mlp_ratio": 4}
    config = DiTConfig.from_meta(kwargs)
    assert (config.head_dim, config.depth_single_blocks) == (32, 3)
