"""Reproduce the official code's outputs (golden/hunyuan-tiny) to relative error < 1e-4.

The models are built from meta.json's kwargs through the public config and loading API; the
weights are the official key names stored as bfloat16 and loaded as float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from foleyserve.engines.hunyuan.config import DacDecoderConfig, DiTConfig
from foleyserve.engines.hunyuan.dac import DacDecoder, split_decoder_state
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.engines.hunyuan.loading import infer_dit_config, load_dit_file
from foleyserve.engines.hunyuan.sampler import (
    SampleRequest,
    SamplerSettings,
    flow_sigmas,
    sample,
)

TOLERANCE = 1e-4


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double() - ref.double()).norm() / ref.double().norm())


def _dit(golden_dir: Path, meta: dict[str, Any]) -> FoleyDiT:
    config = DiTConfig.from_meta(meta["dit"]["model_kwargs"])
    return load_dit_file(golden_dir / "dit.safetensors", dtype=torch.float32, config=config)


def test_config_from_meta_matches_the_checkpoint_shapes(
    golden_dir: Path, golden_meta: dict[str, Any]
) -> None:
    from_meta = DiTConfig.from_meta(golden_meta["dit"]["model_kwargs"])
    inferred = infer_dit_config(load_file(golden_dir / "dit.safetensors"))
    assert inferred == from_meta


def test_dit_forward_matches_official(golden_dir: Path, golden_meta: dict[str, Any]) -> None:
    model = _dit(golden_dir, golden_meta)
    ref = load_file(golden_dir / "dit_forward.safetensors")
    with torch.inference_mode():
        out = model(ref["x"], ref["t"], ref["cond"], ref["clip_feat"], ref["sync_feat"])
    error = relative_error(out, ref["out"])
    print(f"DiT forward relative error {error:.3g}")
    assert error < TOLERANCE


def test_sampler_matches_official(golden_dir: Path, golden_meta: dict[str, Any]) -> None:
    model = _dit(golden_dir, golden_meta)
    ref = load_file(golden_dir / "sampler.safetensors")
    settings = SamplerSettings(
        steps=golden_meta["sampler"]["steps"],
        guidance_scale=golden_meta["sampler"]["guidance_scale"],
    )
    assert torch.equal(flow_sigmas(settings.steps), ref["sigmas"])
    request = SampleRequest(
        text=ref["text_feat"][0],
        negative_text=ref["uncond_text_feat"][0],
        visual=ref["siglip2_feat"][0],
        sync=ref["syncformer_feat"][0],
        seed=0,
        noise=ref["latents_init"][0],
    )
    out = sample(model, [request], ref["latents_init"].shape[-1], settings)
    error = relative_error(out, ref["latents_final"])
    print(f"sampler relative error {error:.3g}")
    assert error < TOLERANCE


def test_dac_decode_matches_official(golden_dir: Path, golden_meta: dict[str, Any]) -> None:
    config = DacDecoderConfig.from_kwargs(golden_meta["dac"])
    assert config.hop_length == 960
    state, ignored = split_decoder_state(load_file(golden_dir / "dac_decoder.safetensors"))
    assert ignored == []
    decoder = DacDecoder(config)
    decoder.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    ref = load_file(golden_dir / "dac_decode.safetensors")
    with torch.inference_mode():
        audio = decoder(ref["z"])
    assert audio.shape == ref["audio"].shape
    error = relative_error(audio, ref["audio"])
    print(f"DAC decode relative error {error:.3g}")
    assert error < TOLERANCE
