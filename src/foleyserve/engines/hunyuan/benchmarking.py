"""Benchmark-only helpers: a full-size DiT with seeded random weights, and its FLOP count.

`build_random` exists to measure speed and memory without the 10 GB checkpoint. Its outputs are
noise: never serve a model built this way.
"""

from __future__ import annotations

import math

import torch

from foleyserve.engines.hunyuan.config import DiTConfig
from foleyserve.engines.hunyuan.dit import FoleyDiT


def build_random(
    config: DiTConfig,
    seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
) -> FoleyDiT:
    """BENCHMARK ONLY: a `FoleyDiT` with random weights drawn from `seed` (eval mode, no grad).

    Weights are allocated once, directly in `dtype` on `device`. Every tensor is non-zero
    (zeros run faster than real data on some kernels), scaled so activations stay finite through
    the full depth: linear/conv weights ~ N(0, 1/fan_in), modulation weights small, norm scales 1.
    The same seed on the same device type gives the same weights. On CUDA the convolutions
    run in "fused" mode, as `load_dit_file` sets them up.
    """
    device = torch.device(device)
    with torch.device("meta"):
        model = FoleyDiT(config)
    model.to(dtype).to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(_random_like(name, param, generator))
    model.requires_grad_(False)
    model.eval()
    if device.type == "cuda":
        model.set_conv_mode_("fused")
    return model


def _random_like(name: str, param: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(param.shape, generator=generator, device=param.device, dtype=torch.float32)
    if name.endswith("norm.weight"):
        return 1.0 + 0.02 * noise
    if param.ndim == 1 or "empty_" in name or "pos_emb" in name:
        return 0.02 * noise
    fan_in = param[0].numel()
    scale = 0.1 if ("mod" in name or "adaLN" in name) else 1.0
    return noise * (scale / math.sqrt(fan_in))


def dit_flops(
    config: DiTConfig,
    latent_len: int,
    visual_len: int,
    sync_len: int,
    text_len: int,
    modulation_tokens: int | None = None,
) -> float:
    """Floating-point operations (2 per multiply-add) of one forward pass of one batch row.

    Counts the matmuls, convolutions and attention of the official forward (the per-request
    text keys and values included, as if computed every step). For XXL at 10 s (T=500, 80
    visual, 240 sync, 20 text tokens) this is 3.857e12; the official forward also runs the final
    layer's no-op per-token adaLN (+0.005e12), which makes the profiler's 3.862e12.
    `modulation_tokens`: rows of the single blocks' per-token modulation GEMM (default T; `FoleyDiT`
    with `modulation_at_sync_rate` runs L_sync of them: 3.592e12 at 10 s).
    """
    c, t, v, n = config.hidden_size, latent_len, visual_len, text_len
    tokens = t + v
    triple = (
        2 * 9 * c * c  # two per-sample 9-way modulations
        + tokens * 3 * c * c  # self-attention qkv
        + tokens * tokens * c * 2  # self-attention scores and values
        + tokens * c * c * 3  # self projection, cross q, cross projection
        + n * 2 * c * c  # text keys/values
        + tokens * n * c * 2  # cross-attention
        + tokens * 2 * c * config.triple_mlp_hidden  # MLP
    )
    single = (
        (t if modulation_tokens is None else modulation_tokens) * 6 * c * c  # modulation
        + t * 3 * c * c  # qkv
        + t * t * c * 2  # attention
        + t * c * c * 3  # k=3 output projection
        + t * 3 * 3 * c * config.single_mlp_hidden  # k=3 SwiGLU, three convolutions
    )
    inputs = (
        v * 3 * config.visual_dim * c  # visual SwiGLU projection
        + n * (config.text_dim + c) * c  # text projection
        + sync_len * (config.sync_dim * c + 3 * c * config.sync_mlp_hidden)  # sync_in
        + t * c * config.latent_dim * 2  # patch embedding and final layer
    )
    total = config.depth_triple_blocks * triple + config.depth_single_blocks * single + inputs
    return 2.0 * total
