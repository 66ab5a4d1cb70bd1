"""Every network of the HunyuanVideo-Foley engine, loaded from a model directory, or built with
seeded random weights for benchmark mode.

The model directory holds the files as released (nothing renamed; docs/engines.md):

    MODEL_DIR/
      hunyuanvideo_foley.pth        XXL DiT (or hunyuanvideo_foley_xl.pth; .safetensors copies)
      vae_128d_48k.pth              DAC-VAE (or vae_128d_48k.safetensors)
      synchformer_state_dict.pth    Synchformer (or .safetensors)
      siglip2-base-patch16-512/     snapshot of google/siglip2-base-patch16-512
      larger_clap_general/          snapshot of laion/larger_clap_general (tokenizer included)

Precision, as the official pipeline runs: the DiT in bf16 on a GPU (float32 on the CPU), the DAC,
SigLIP2 and CLAP in float32, Synchformer with float16 autocast on a GPU.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from foleyserve.engines.hunyuan.benchmarking import build_random
from foleyserve.engines.hunyuan.config import PRESETS, RELEASED_DAC, DacDecoderConfig
from foleyserve.engines.hunyuan.dac import DacDecoder
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.engines.hunyuan.encoders import (
    CLAP_DIR,
    SIGLIP2_DIR,
    TextEncoder,
    VisualEncoder,
    load_text_encoder,
    load_visual_encoder,
    random_text_encoder,
    random_visual_encoder,
)
from foleyserve.engines.hunyuan.loading import (
    DIT_FILES,
    load_dac,
    load_dit,
    locate_dit,
    read_checkpoint,
)
from foleyserve.engines.hunyuan.synchformer import (
    OFFICIAL,
    Synchformer,
    SynchformerConfig,
    init_random_,
    load_synchformer,
    locate_synchformer,
    video_branch_state,
)
from foleyserve.errors import ConfigError

log = logging.getLogger(__name__)

SYNCHFORMER_HEAD_DIM = 64
_DAC_GAIN = 0.6


@dataclass(frozen=True)
class ModelOptions:
    """Where and how the networks run."""

    device: str = "cpu"
    dit_dtype: torch.dtype | None = None
    """None: bfloat16 on CUDA, float32 elsewhere."""
    variant: str | None = None
    """"xxl" or "xl"; None: whichever DiT file the directory has (XXL first)."""
    siglip2_dir: Path | None = None
    """None: `<model_dir>/siglip2-base-patch16-512`."""
    clap_dir: Path | None = None
    """None: `<model_dir>/larger_clap_general`."""
    synchformer: SynchformerConfig | None = None
    """None: read from the Synchformer file's shapes (`infer_synchformer_config`)."""
    compile: bool = False
    """`torch.compile` the DiT's blocks (regional; minutes the first time on a GPU)."""

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def resolved_dit_dtype(self) -> torch.dtype:
        if self.dit_dtype is not None:
            return self.dit_dtype
        return torch.bfloat16 if self.torch_device.type == "cuda" else torch.float32


@dataclass
class HunyuanModels:
    """The five networks, on one device, checked to fit together."""

    dit: FoleyDiT
    dac: DacDecoder
    visual: VisualEncoder
    text: TextEncoder
    synchformer: Synchformer
    variant: str
    """"xxl" or "xl": the DiT file's release (`DIT_FILES`), part of the engine's version."""
    random_seed: int | None = None
    """Not None in benchmark mode: every weight is random, drawn from this seed."""

    def __post_init__(self) -> None:
        config = self.dit.config
        pairs = [
            ("SigLIP2 width", self.visual.dim, "DiT clip_dim", config.visual_dim),
            ("CLAP width", self.text.dim, "DiT condition_dim", config.text_dim),
            (
                "Synchformer width",
                self.synchformer.config.embed_dim,
                "DiT sync_feat_dim",
                config.sync_dim,
            ),
            ("DAC latent_dim", self.dac.config.latent_dim, "DiT latent dim", config.latent_dim),
        ]
        for a, a_value, b, b_value in pairs:
            if a_value != b_value:
                raise ConfigError(
                    f"the model files do not belong together: {a} is {a_value} but {b} is "
                    f"{b_value}; use the files of one HunyuanVideo-Foley release",
                    code="checkpoint_mismatch",
                )
        if self.dac.config.hop_length * config.latent_rate_hz != self.dac.config.sample_rate_hz:
            raise ConfigError(
                f"DAC hop {self.dac.config.hop_length} at {self.dac.config.sample_rate_hz} Hz "
                f"does not make {config.latent_rate_hz} latents per second",
                code="checkpoint_mismatch",
            )

    @property
    def random_weights(self) -> bool:
        return self.random_seed is not None


def load_models(model_dir: Path, options: ModelOptions) -> HunyuanModels:
    """Load every network from `model_dir` (layout in the module docstring)."""
    if not model_dir.is_dir():
        raise ConfigError(
            f"model directory {model_dir} does not exist; download the HunyuanVideo-Foley files "
            "into it (docs/engines.md lists them)",
            code="model_file_missing",
        )
    device = options.torch_device
    dit = load_dit(model_dir, options.variant, device=device, dtype=options.resolved_dit_dtype)
    variant = dit_variant(model_dir, options.variant)
    dac, _ = load_dac(model_dir, device=device)
    sync_path = locate_synchformer(model_dir)
    sync_config = options.synchformer or infer_synchformer_config(sync_path)
    synchformer = load_synchformer(sync_path, sync_config, device=device)
    visual = load_visual_encoder(options.siglip2_dir or model_dir / SIGLIP2_DIR, device=device)
    text = load_text_encoder(options.clap_dir or model_dir / CLAP_DIR, device=device)
    models = HunyuanModels(dit, dac, visual, text, synchformer, variant)
    _finish(models, options)
    return models


def random_models(options: ModelOptions, seed: int = 0) -> HunyuanModels:
    """BENCHMARK ONLY: full-size networks (the `variant` DiT, XXL by default) with weights drawn
    from `seed`. Their audio is noise; the engine labels itself so everywhere."""
    variant = options.variant or "xxl"
    if variant not in PRESETS:
        raise ConfigError(f"unknown model variant {variant!r}; choose one of {sorted(PRESETS)}")
    device = options.torch_device
    log.warning("BENCHMARK MODE: building HunyuanVideo-Foley %s with RANDOM weights", variant)
    dit = build_random(PRESETS[variant], seed, device=device, dtype=options.resolved_dit_dtype)
    dac = random_dac(RELEASED_DAC, seed + 1, device=device)
    synchformer = init_random_(Synchformer(options.synchformer or OFFICIAL), seed + 2)
    synchformer = synchformer.to(device)
    visual = random_visual_encoder(seed + 3, device=device)
    text = random_text_encoder(seed + 4, device=device)
    models = HunyuanModels(dit, dac, visual, text, synchformer, variant, random_seed=seed)
    _finish(models, options)
    return models


def random_dac(
    config: DacDecoderConfig, seed: int, *, device: torch.device | str = "cpu"
) -> DacDecoder:
    """A DAC decoder with seeded random weights: convolutions N(0, (0.6 / sqrt(fan_in))^2),
    zero biases, unit Snake alphas. The 0.6 keeps the residual stacks from growing the signal
    into the final tanh (at 1.0 nearly every output sample saturates at +-1)."""
    decoder = DacDecoder(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in decoder.modules():
            if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
                weight = module.weight
                fan_in = float(weight.shape[1] * weight.shape[2])
                if isinstance(module, nn.ConvTranspose1d):
                    fan_in = weight.shape[0] * weight.shape[2] / module.stride[0]
                noise = torch.randn(weight.shape, generator=generator)
                weight.copy_(noise * (_DAC_GAIN / math.sqrt(fan_in)))
                if module.bias is not None:
                    module.bias.zero_()
        for name, param in decoder.named_parameters():
            if name.endswith("alpha"):
                param.fill_(1.0)
    return decoder.requires_grad_(False).eval().to(device)


def dit_variant(model_dir: Path, variant: str | None) -> str:
    """The release whose DiT file `model_dir` holds ("xxl" or "xl"), by its file name."""
    if variant is not None:
        return variant
    found = locate_dit(model_dir).with_suffix(".pth").name
    return next(v for v, name in DIT_FILES.items() if name == found)


def infer_synchformer_config(path: Path) -> SynchformerConfig:
    """The architecture a Synchformer file was saved from, read off its shapes: width, depth,
    MLP ratio, patch sizes, frames per window and image size. The head count is not in the
    shapes: heads are 64 wide, as in ViT-B (the released file: 768 wide, 12 heads). Other
    files pass their config in `ModelOptions.synchformer`."""
    state = video_branch_state(read_checkpoint(path).state)
    try:
        dim, _, temporal_patch, patch, _ = state["patch_embed_3d.proj.weight"].shape
        positions = state["pos_embed"].shape[1] - 1
        temporal_tokens = state["temp_embed"].shape[1]
        mlp_hidden = state["blocks.0.mlp.fc1.weight"].shape[0]
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"{path} is not a Synchformer checkpoint (video branch not found: {exc})",
            code="checkpoint_mismatch",
        ) from exc
    blocks = {key.split(".")[1] for key in state if key.startswith("blocks.")}
    return SynchformerConfig(
        embed_dim=dim,
        depth=len(blocks),
        num_heads=max(1, dim // SYNCHFORMER_HEAD_DIM),
        mlp_ratio=mlp_hidden / dim,
        image_size=round(math.sqrt(positions)) * patch,
        patch_size=patch,
        temporal_patch=temporal_patch,
        window_frames=temporal_tokens * temporal_patch,
    )


def _finish(models: HunyuanModels, options: ModelOptions) -> None:
    if options.compile:
        models.dit.compile_blocks()
