"""A tiny HunyuanVideo-Foley model directory, laid out and encoded as the released files are:
seeded random weights in every component, official key names and file formats, so the engine
loads it through the same code path users' directories go through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import ClapConfig, ClapModel, SiglipConfig, SiglipModel

from foleyserve.engines.hunyuan.benchmarking import build_random
from foleyserve.engines.hunyuan.config import DacDecoderConfig, DiTConfig
from foleyserve.engines.hunyuan.encoders import CLAP_DIR, SIGLIP2_DIR, byte_tokenizer
from foleyserve.engines.hunyuan.loading import DAC_FILE, DIT_FILES
from foleyserve.engines.hunyuan.models import random_dac
from foleyserve.engines.hunyuan.synchformer import (
    SYNCHFORMER_FILE,
    Synchformer,
    SynchformerConfig,
    init_random_,
)

WIDTH = 32
"""Feature width of the tiny SigLIP2 and CLAP (the DiT's visual and text dims)."""
SYNC_WIDTH = 64
"""The tiny Synchformer's width: one head of 64, so its config can be read off the file."""
TINY_DIT = DiTConfig(
    hidden_size=64,
    num_heads=2,
    depth_triple_blocks=1,
    depth_single_blocks=1,
    latent_dim=16,
    text_dim=WIDTH,
    visual_dim=WIDTH,
    sync_dim=SYNC_WIDTH,
)
TINY_DAC = DacDecoderConfig(latent_dim=16, decoder_dim=32, decoder_rates=(8, 5, 4, 3, 2))
TINY_SYNCHFORMER = SynchformerConfig(embed_dim=SYNC_WIDTH, depth=1, num_heads=1)
CLAP_MAX_POSITIONS = 130


def write_tiny_model_dir(root: Path, seed: int = 0) -> Path:
    """Write every file of a model directory under `root` and return `root`."""
    root.mkdir(parents=True, exist_ok=True)
    dit = build_random(TINY_DIT, seed, device="cpu", dtype=torch.float32)
    torch.save({k: v.clone() for k, v in dit.state_dict().items()}, root / DIT_FILES["xxl"])
    _write_dac(root / DAC_FILE, seed + 1)
    _write_synchformer(root / SYNCHFORMER_FILE, seed + 2)
    _write_siglip(root / SIGLIP2_DIR, seed + 3)
    _write_clap(root / CLAP_DIR, seed + 4)
    return root


def _write_dac(path: Path, seed: int) -> None:
    """audiotools' format: weight-normed convolutions (`weight_g`, `weight_v`), the encoder's
    keys beside the decoder's, constructor kwargs in the metadata."""
    state: dict[str, torch.Tensor] = {}
    for key, value in random_dac(TINY_DAC, seed).state_dict().items():
        if key.endswith(".weight") and value.ndim == 3:
            stem = key.removesuffix(".weight")
            norm = value.flatten(1).norm(dim=1).view(-1, 1, 1)
            state[f"{stem}.weight_g"] = norm.clone()
            state[f"{stem}.weight_v"] = value.clone()
        else:
            state[key] = value.clone()
    state["encoder.block.0.weight_g"] = torch.ones(8, 1, 1)
    state["encoder.block.0.weight_v"] = torch.ones(8, 1, 7)
    kwargs: dict[str, Any] = {
        "continuous": True,
        "encoder_dim": 8,
        "encoder_rates": [2, 3, 4, 5, 8],
        "latent_dim": TINY_DAC.latent_dim,
        "decoder_dim": TINY_DAC.decoder_dim,
        "decoder_rates": list(TINY_DAC.decoder_rates),
        "sample_rate": TINY_DAC.sample_rate_hz,
    }
    torch.save({"state_dict": state, "metadata": {"kwargs": kwargs}}, path)


def _write_synchformer(path: Path, seed: int) -> None:
    """The whole Synchformer's file: `vfeat_extractor.*` (with the unused 2-D patch embedding)
    beside keys of the branches the engine does not load."""
    model = init_random_(Synchformer(TINY_SYNCHFORMER), seed)
    state = {f"vfeat_extractor.{k}": v.clone() for k, v in model.state_dict().items()}
    state["vfeat_extractor.patch_embed.proj.weight"] = torch.zeros(SYNC_WIDTH, 3, 16, 16)
    state["vfeat_extractor.patch_embed.proj.bias"] = torch.zeros(SYNC_WIDTH)
    state["afeat_extractor.cls_token"] = torch.zeros(1, 1, SYNC_WIDTH)
    state["transformer.pos_emb"] = torch.zeros(1, 4, SYNC_WIDTH)
    torch.save(state, path)


def _write_siglip(path: Path, seed: int) -> None:
    """A whole SiglipModel (text tower too), as google/siglip2-base-patch16-512 is, at the
    real 512x512 input with 64-pixel patches."""
    torch.manual_seed(seed)
    config = SiglipConfig(
        text_config={
            "vocab_size": 64,
            "hidden_size": WIDTH,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        },
        vision_config={
            "image_size": 512,
            "patch_size": 64,
            "hidden_size": WIDTH,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        },
    )
    SiglipModel(config).save_pretrained(path)


def _write_clap(path: Path, seed: int) -> None:
    """A whole ClapModel (audio tower too) and a tokenizer, as laion/larger_clap_general is."""
    torch.manual_seed(seed)
    config = ClapConfig(
        text_config={
            "vocab_size": 300,
            "hidden_size": WIDTH,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": CLAP_MAX_POSITIONS,
            "projection_dim": 16,
        },
        audio_config={
            "hidden_size": WIDTH,
            "depths": [1, 1],
            "num_attention_heads": [2, 2],
            "window_size": 4,
            "spec_size": 64,
            "patch_embeds_hidden_size": 16,
            "num_mel_bins": 16,
            "projection_dim": 16,
        },
        projection_dim=16,
    )
    ClapModel(config).save_pretrained(path)
    byte_tokenizer(CLAP_MAX_POSITIONS - 2).save_pretrained(path)
