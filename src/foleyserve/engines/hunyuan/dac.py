"""The decoding half of HunyuanVideo-Foley's DAC-VAE: latents [B, 128, T] -> 48 kHz audio.

Only `post_quant_conv` and `decoder.*` are built (75.5M parameters of the released 371.6M); the
encoder and quantizer are training-time parts. The released checkpoint stores its convolutions
with old-style weight norm (`weight_g`, `weight_v`); `fold_weight_norm` turns each pair into the
plain `weight` it stands for, once, at load time, so inference runs ordinary convolutions.

Module and attribute names follow the checkpoint keys (`decoder.model.N.block.M...`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from foleyserve.engines.hunyuan.config import DacDecoderConfig

DECODER_PREFIXES = ("post_quant_conv.", "decoder.")
"""Checkpoint keys the decoder uses; every other key (encoder.*, quant_conv.*) is ignored."""


class Snake(nn.Module):
    """Snake activation `x + sin(alpha * x)^2 / (alpha + 1e-9)` with per-channel alpha."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class ResidualUnit(nn.Module):
    """Snake, dilated k=7 conv, Snake, k=1 conv, plus the input."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake(channels),
            nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            Snake(channels),
            nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.block(x)
        return out


class DecoderBlock(nn.Module):
    """Snake, a transposed conv upsampling by `stride`, then three residual units."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake(in_channels),
            nn.ConvTranspose1d(
                in_channels,
                out_channels,
                kernel_size=2 * stride,
                stride=stride,
                padding=math.ceil(stride / 2),
                output_padding=stride % 2,
            ),
            ResidualUnit(out_channels, 1),
            ResidualUnit(out_channels, 3),
            ResidualUnit(out_channels, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.block(x)
        return out


class Decoder(nn.Module):
    def __init__(self, config: DacDecoderConfig) -> None:
        super().__init__()
        channels = config.decoder_dim
        layers: list[nn.Module] = [nn.Conv1d(config.latent_dim, channels, 7, padding=3)]
        for stride in config.decoder_rates:
            layers.append(DecoderBlock(channels, channels // 2, stride))
            channels //= 2
        layers += [Snake(channels), nn.Conv1d(channels, 1, 7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out


class DacDecoder(nn.Module):
    """Latents [B, latent_dim, T] -> mono audio [B, 1, T * hop_length] in [-1, 1]."""

    def __init__(self, config: DacDecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.post_quant_conv = nn.Conv1d(config.latent_dim, config.latent_dim, 1)
        self.decoder = Decoder(config)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        audio: torch.Tensor = self.decoder(self.post_quant_conv(z))
        return audio


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every `X.weight_g` / `X.weight_v` pair by `X.weight = g * v / ||v||` (float32).

    The norm runs over every axis but the first, as `torch.nn.utils.weight_norm(dim=0)` defines
    it (for transposed convs the first axis is the input channel, as in the checkpoint).
    """
    stems = {k[: -len("_g")] for k in state if k.endswith(".weight_g")}
    stems &= {k[: -len("_v")] for k in state if k.endswith(".weight_v")}
    paired = {stem + suffix for stem in stems for suffix in ("_g", "_v")}
    out = {k: v for k, v in state.items() if k not in paired}
    for stem in stems:
        v = state[stem + "_v"].float()
        norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.ndim - 1)))
        out[stem] = v * (state[stem + "_g"].float() / norm)
    return out


def split_decoder_state(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The decoder's part of a full DAC state dict, weight norm folded; and the ignored keys."""
    used = {k: v for k, v in state.items() if k.startswith(DECODER_PREFIXES)}
    ignored = sorted(k for k in state if not k.startswith(DECODER_PREFIXES))
    return fold_weight_norm(used), ignored
