"""Building blocks of the HunyuanVideo-Foley DiT: norms, MLPs, embedders and rotary tables.

Attribute names follow the official checkpoint's state-dict keys (`linear`, `w1`, `fc1`, `mlp.0`,
...) so that `load_state_dict(strict=True)` works on the released weights unchanged.

Numerical conventions reproduced from the official code:
- the q/k RMSNorm of the triple blocks normalises in float32 with eps 1e-6 and multiplies by its
  weight after casting back (`Fp32RMSNorm`);
- rotary embeddings rotate adjacent pairs (d0, d1), (d2, d3), ... with float32 cos/sin tables and
  are applied in float32 (`apply_rope`);
- sequences are resized with `nearest-exact` indices (`nearest_exact_index`).
"""

from __future__ import annotations

import math
from typing import Literal, cast

import torch
import torch.nn.functional as nnf
from torch import nn

RopePair = tuple[torch.Tensor, torch.Tensor]
"""(cos, sin), each [L, head_dim / 2] float32: one angle per position and rotated pair."""


class Fp32RMSNorm(nn.Module):
    """RMSNorm over the last axis computed in float32 (the official custom `RMSNorm`)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class Modulation(nn.Module):
    """adaLN parameters: `linear(silu(cond))`, later split into `factor` chunks of `dim`."""

    def __init__(self, dim: int, factor: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, factor * dim)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(nnf.silu(cond))
        return out


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """`x * (1 + scale) + shift`; per-sample ([B, C]) or per-token ([B, L, C]) parameters."""
    if shift.ndim == 2:
        shift, scale = shift.unsqueeze(1), scale.unsqueeze(1)
    return x * (1 + scale) + shift


def gated(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    return x * (gate.unsqueeze(1) if gate.ndim == 2 else gate)


class SwiGLU(nn.Module):
    """`w2(silu(w1 x) * w3 x)` with bias-free linears (the visual projection)."""

    def __init__(self, dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, out_dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.w2(nnf.silu(self.w1(x)) * self.w3(x))
        return out


ConvMode = Literal["conv", "gemm", "fused"]
"""How the k=3 convolutions run (all compute the same function; see `conv_tokens`)."""


class ConvSwiGLU(nn.Module):
    """SwiGLU whose three projections are bias-free Conv1d over time (the official `ConvMLP`).

    Takes and returns token-major activations [B, L, C]; see `conv_tokens` for the ways the
    convolutions can run (`conv_mode`). In "fused" mode the window matrix of x is built once and
    shared by w1 and w3, and w2 sums its taps' outputs (`conv_tap_outputs`).
    """

    def __init__(self, dim: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.w1 = nn.Conv1d(dim, hidden, kernel_size, padding=padding, bias=False)
        self.w2 = nn.Conv1d(hidden, dim, kernel_size, padding=padding, bias=False)
        self.w3 = nn.Conv1d(dim, hidden, kernel_size, padding=padding, bias=False)
        self.conv_mode: ConvMode = "conv"

    def set_conv_mode_(self, mode: ConvMode) -> None:
        """Switch how the convolutions run, re-laying out their weights for it (values kept)."""
        self.conv_mode = mode
        first, second = (tap_inner_, tap_major_) if mode == "fused" else (tap_inner_, tap_inner_)
        first(self.w1)
        first(self.w3)
        second(self.w2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self.conv_mode
        if mode != "fused" or self.w1.weight.shape[-1] == 1:
            hidden = nnf.silu(conv_tokens(x, self.w1, mode)) * conv_tokens(x, self.w3, mode)
            return conv_tokens(hidden, self.w2, mode)
        windows = token_windows(x.to(self.w1.weight.dtype), self.w1.weight.shape[-1])
        hidden = nnf.silu(_window_gemm(windows, self.w1)) * _window_gemm(windows, self.w3)
        return conv_tap_outputs(hidden, self.w2)


def conv_tokens(x: torch.Tensor, conv: nn.Conv1d, mode: ConvMode = "conv") -> torch.Tensor:
    """Apply a 'same'-padded, stride-1 Conv1d along the token axis of x [B, L, C_in].

    Equivalent ways (`mode`):
    - "conv": torch's conv1d (cuDNN on CUDA). x is passed as a [B, C, L] view whose channel
      stride is 1, the channels-last layout cuDNN's fast kernels use, so no copy is made on the
      way in (give the weights that layout too with `tap_inner_`).
    - "gemm": the samples are stacked into one zero-separated token matrix and the conv becomes
      one GEMM per kernel tap, accumulated in place. This avoids cuDNN's per-shape kernel choice
      (on an H100, cuDNN picks a slow pre-Hopper kernel for some batch sizes) and its layout
      transforms.
    - "fused": one GEMM over the window matrix [B, L, K * C_in] (`token_windows`), so every tap
      accumulates in the GEMM's float32 registers and the output is written once.
    """
    weight = conv.weight
    if mode == "conv":
        out = nnf.conv1d(x.transpose(1, 2), weight, conv.bias, padding=weight.shape[-1] // 2)
        return out.transpose(1, 2)
    x = x.to(weight.dtype)
    if mode == "fused":
        return _window_gemm(token_windows(x, weight.shape[-1]), conv)
    return _shifted_gemm_conv(x, weight, conv.bias)


def token_windows(x: torch.Tensor, taps: int) -> torch.Tensor:
    """[B, L, C] -> [B, L, taps * C]: row i holds tokens i - taps//2 .. i + taps//2 of its own
    sample (zeros beyond its ends), tap-major, so a conv is one GEMM with its weight [O, K * C].
    Under torch.compile the copy fuses into the kernel that produces x."""
    if taps == 1:
        return x
    pad = taps // 2
    length = x.shape[1]
    padded = nnf.pad(x, (0, 0, pad, pad))
    return torch.cat([padded[:, tap : tap + length] for tap in range(taps)], dim=-1)


def _window_gemm(windows: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    weight = conv.weight  # [O, C, K]; a view, no copy, once `tap_inner_` has laid it out
    matrix = weight.permute(0, 2, 1).reshape(weight.shape[0], -1)
    return nnf.linear(windows, matrix, conv.bias)


def conv_tap_outputs(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """The same conv as `conv_tokens`, computed output-side: one GEMM gives every tap's
    contribution [B, L, K, O] (weight as [K * O, C]), and output token i sums tap j's
    contribution of token i + j - K//2. Cheaper than windows when O is small next to C (the
    window matrix would be K times x; this writes K times the output), and under torch.compile
    the sum fuses into the kernel that consumes the output."""
    weight = conv.weight
    out_channels, _, taps = weight.shape
    if taps == 1:
        return nnf.linear(x.to(weight.dtype), weight[:, :, 0], conv.bias)
    batch, length, _ = x.shape
    matrix = weight.permute(2, 0, 1).reshape(taps * out_channels, -1)  # a view once tap-major
    parts = nnf.linear(x.to(weight.dtype), matrix).view(batch, length, taps, out_channels)
    pad = taps // 2
    padded = nnf.pad(parts, (0, 0, 0, 0, pad, pad))
    total = padded[:, 0:length, 0].float()
    for tap in range(1, taps):
        total = total + padded[:, tap : tap + length, tap]
    if conv.bias is not None:
        total = total + conv.bias
    return total.to(parts.dtype)


def _shifted_gemm_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    batch, length, channels = x.shape
    taps = weight.shape[-1]
    pad = taps // 2
    if taps == 1:
        return nnf.linear(x, weight[:, :, 0], bias)
    # Sample b's token i sits at row b * (length + 2 pad) + pad + i, zeros between samples;
    # output row r = b * (length + 2 pad) + i sums tap j of row r + j.
    stride = length + 2 * pad
    rows = nnf.pad(x, (0, 0, pad, pad)).reshape(batch * stride, channels)
    valid = batch * stride - 2 * pad
    out = nnf.linear(rows[:valid], weight[:, :, 0], bias)
    for tap in range(1, taps):
        out.addmm_(rows[tap : tap + valid], weight[:, :, tap].t())
    out_channels = weight.shape[0]
    return out.as_strided((batch, length, out_channels), (stride * out_channels, out_channels, 1))


def tap_inner_(conv: nn.Conv1d) -> None:
    """Re-stride a Conv1d weight [O, I, K] so that I is the fastest axis, then K (values
    unchanged): the channels-last layout, and [O, K * I] as a matrix for window GEMMs.

    cuDNN runs channels-last convolutions; given a weight in the default layout it copies it into
    that layout on every call. `load_state_dict` copies into existing parameters, keeping this.
    """
    _restride(conv, (0, 2, 1))


def tap_major_(conv: nn.Conv1d) -> None:
    """Re-stride a Conv1d weight [O, I, K] as K contiguous [O, I] matrices (values unchanged),
    which `conv_tap_outputs` reads as one [K * O, I] matrix and shifted GEMMs tap by tap."""
    _restride(conv, (2, 0, 1))


def _restride(conv: nn.Conv1d, order: tuple[int, int, int]) -> None:
    weight = conv.weight.data
    inverse = tuple(order.index(axis) for axis in range(3))
    if weight.permute(*order).is_contiguous():
        return
    conv.weight.data = weight.permute(*order).contiguous().permute(*inverse)


class GeluMLP(nn.Module):
    """`fc2(gelu_tanh(fc1 x))` with biases (the triple blocks' MLPs)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(nnf.gelu(self.fc1(x), approximate="tanh"))
        return out


class TextProjection(nn.Module):
    """`cond_in`: Linear, SiLU, Linear from the text features to the hidden size."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear_2(nnf.silu(self.linear_1(x)))
        return out


class TimestepEmbedder(nn.Module):
    """`time_in`: a 256-d sinusoid of t (cos half first, then sin), then Linear-SiLU-Linear."""

    frequency_dim = 256

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(self.frequency_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )

    def forward(self, t: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        """t: [B] timesteps in [0, 1000] (fractional allowed); freqs from `timestep_freqs`."""
        angles = t.float()[:, None] * freqs[None]
        sinusoid = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        first = cast(nn.Linear, self.mlp[0])
        out: torch.Tensor = self.mlp(sinusoid.to(first.weight.dtype))
        return out


def timestep_freqs(
    dim: int = TimestepEmbedder.frequency_dim, max_period: float = 1e4
) -> torch.Tensor:
    """The [dim / 2] float32 frequencies of the timestep sinusoid, computed on the CPU.

    Not a buffer: `Module.to(dtype)` would round it, and the official code keeps it float32.
    """
    half = dim // 2
    exponent = torch.arange(half, dtype=torch.float32, device="cpu") / half
    return torch.exp(-math.log(max_period) * exponent)


class PatchEmbed(nn.Module):
    """`audio_embedder`: a k=1 Conv1d from latent channels to the hidden size."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Conv1d(in_dim, hidden, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, latent_dim, T] -> [B, T, hidden]."""
        return nnf.linear(x.transpose(1, 2), self.proj.weight[:, :, 0], self.proj.bias)


class FinalLayer(nn.Module):
    """`final_layer`: LayerNorm (eps 1e-6) then Linear to the latent channels.

    The official layer also holds an adaLN (`adaLN_modulation`), but it is always called with a
    per-token [B, T, C] condition, and its `modulate()` drops 3-D shift/scale. The modulation is
    therefore a no-op: we keep its weights for checkpoint compatibility and never compute it.
    """

    def __init__(self, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, out_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(nnf.layer_norm(x, x.shape[-1:], eps=1e-6))
        return out


def rope_table(positions: torch.Tensor, head_dim: int, theta: float = 10000.0) -> RopePair:
    """cos/sin [L, head_dim/2] for float32 `positions`, computed as the official code does
    (float32 inverse frequencies, outer product, then cos and sin)."""
    exponents = torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim
    inv_freq = 1.0 / (theta**exponents)
    angles = torch.outer(positions.float(), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs of the last axis of x [..., L, D] by the angles of cos/sin [L, D/2].

    Computed in float32 and cast back to x's dtype, as the official `apply_rotary_emb` does.
    """
    xf = x.float().reshape(*x.shape[:-1], -1, 2)
    even, odd = xf[..., 0], xf[..., 1]
    rotated = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1)
    return rotated.flatten(-2).type_as(x)


def nearest_exact_index(in_len: int, out_len: int) -> torch.Tensor:
    """The source index of each output position of `nnf.interpolate(mode="nearest-exact")`.

    Taken from interpolate itself (on a float32 ramp, exact below 2**24) rather than re-derived,
    so boundary rounding matches the official resampling bit for bit.
    """
    ramp = torch.arange(in_len, dtype=torch.float32).view(1, 1, in_len)
    index = nnf.interpolate(ramp, size=out_len, mode="nearest-exact")
    return index.view(out_len).round().long()
