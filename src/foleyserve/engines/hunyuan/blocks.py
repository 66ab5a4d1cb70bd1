"""The two transformer blocks of the HunyuanVideo-Foley DiT.

`TripleBlock` (official `TwoStreamCABlock`) updates the audio and visual streams: joint
self-attention over [visual; audio] with interleaved rotary positions, cross-attention from both
streams to the text, and an MLP per stream. The text tokens are never updated, so each block's text
keys/values are computed once per request batch (`TripleBlock.text_kv`).

`SingleBlock` (official `SingleStreamBlock`) updates the audio stream alone, with per-token adaLN
driven by the synchronisation features, a k=3 Conv1d output projection and a k=3 conv SwiGLU.

Attention tensors are laid out [B, heads, L, head_dim] throughout, as SDPA takes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import nn

from foleyserve.engines.hunyuan.config import DiTConfig
from foleyserve.engines.hunyuan.layers import (
    ConvMode,
    ConvSwiGLU,
    Fp32RMSNorm,
    GeluMLP,
    Modulation,
    RopePair,
    apply_rope,
    conv_tokens,
    gated,
    modulate,
    tap_inner_,
)


@dataclass(frozen=True)
class RopeTables:
    """Every rotary table one forward step needs, for one (T, L_visual) pair.

    Joint self-attention interleaves audio and visual tokens a0, v0, a1, v1, ... over 2T positions
    after resizing the visual stream to T (nearest-exact), then resizes it back. Per token that is:
    audio token i at position 2i; visual token j takes the rotated copy of visual token
    `visual_index[j]` at position `2 * down[j] + 1`, where `down` resizes T -> L_visual and
    `visual_index = up[down]`. The tables below hold those angles directly.
    """

    self_audio: RopePair
    """[T, D/2]: positions 0, 2, ..., 2T-2."""
    self_visual: RopePair
    """[L_visual, D/2]: positions 2 * down[j] + 1."""
    visual_index: torch.Tensor | None
    """[L_visual] source of each visual token in the self-attention rotation; None: identity."""
    audio: RopePair
    """[T, D/2]: positions 0..T-1 (cross-attention queries and the single blocks)."""
    visual: RopePair
    """[L_visual, D/2]: positions 0..L_visual-1 (cross-attention queries)."""


def split_heads(x: torch.Tensor, parts: int, heads: int) -> list[torch.Tensor]:
    """[B, L, parts * heads * D] laid out (part, head, dim) -> `parts` views [B, heads, L, D]."""
    b, length, _ = x.shape
    return list(x.view(b, length, parts, heads, -1).permute(2, 0, 3, 1, 4).unbind(0))


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, heads, L, D] -> [B, L, heads * D]."""
    return x.transpose(1, 2).flatten(2)


def _layer_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    return nnf.layer_norm(x, x.shape[-1:], eps=eps)


class TripleBlock(nn.Module):
    """Two-stream block: joint self-attention, text cross-attention and MLPs (9-way adaLN)."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        dim, head_dim = config.hidden_size, config.head_dim
        self.heads = config.num_heads
        mlp_hidden = config.triple_mlp_hidden
        # Joint self-attention.
        self.audio_mod = Modulation(dim, 9)
        self.audio_self_attn_qkv = nn.Linear(dim, 3 * dim)
        self.audio_self_q_norm = Fp32RMSNorm(head_dim)
        self.audio_self_k_norm = Fp32RMSNorm(head_dim)
        self.audio_self_proj = nn.Linear(dim, dim)
        self.v_cond_mod = Modulation(dim, 9)
        self.v_cond_attn_qkv = nn.Linear(dim, 3 * dim)
        self.v_cond_attn_q_norm = Fp32RMSNorm(head_dim)
        self.v_cond_attn_k_norm = Fp32RMSNorm(head_dim)
        self.v_cond_self_proj = nn.Linear(dim, dim)
        # Cross-attention to the text.
        self.audio_cross_q = nn.Linear(dim, dim)
        self.audio_cross_q_norm = Fp32RMSNorm(head_dim)
        self.audio_cross_proj = nn.Linear(dim, dim)
        self.v_cond_cross_q = nn.Linear(dim, dim)
        self.v_cond_cross_q_norm = Fp32RMSNorm(head_dim)
        self.v_cond_cross_proj = nn.Linear(dim, dim)
        self.text_cross_kv = nn.Linear(dim, 2 * dim)
        self.text_cross_k_norm = Fp32RMSNorm(head_dim)
        # MLPs.
        self.audio_mlp = GeluMLP(dim, mlp_hidden)
        self.v_cond_mlp = GeluMLP(dim, mlp_hidden)

    def text_kv(self, text: torch.Tensor, rope: RopePair) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys (normed, rotated over positions 0..L-1) and values of the
        projected text [B, L_text, C]; each [B, heads, L_text, D]."""
        k, v = split_heads(self.text_cross_kv(text), 2, self.heads)
        k = self.text_cross_k_norm(k).to(v.dtype)
        return apply_rope(k, *rope), v

    def forward(
        self,
        audio: torch.Tensor,
        visual: torch.Tensor,
        vec: torch.Tensor,
        text_kv: tuple[torch.Tensor, torch.Tensor],
        text_mask: torch.Tensor | None,
        tables: RopeTables,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, T, C], visual [B, Lv, C], vec [B, C] -> updated (audio, visual)."""
        a_mod = self.audio_mod(vec).chunk(9, dim=-1)
        v_mod = self.v_cond_mod(vec).chunk(9, dim=-1)
        a_attn, v_attn = self._self_attention(audio, visual, a_mod, v_mod, tables)
        audio = audio + gated(self.audio_self_proj(a_attn), a_mod[2])
        visual = visual + gated(self.v_cond_self_proj(v_attn), v_mod[2])

        a_cross, v_cross = self._cross_attention(
            audio, visual, a_mod, v_mod, text_kv, text_mask, tables
        )
        audio = audio + gated(self.audio_cross_proj(a_cross), a_mod[5])
        visual = visual + gated(self.v_cond_cross_proj(v_cross), v_mod[5])

        a_in = modulate(_layer_norm(audio, 1e-6), a_mod[6], a_mod[7])
        audio = audio + gated(self.audio_mlp(a_in), a_mod[8])
        v_in = modulate(_layer_norm(visual, 1e-6), v_mod[6], v_mod[7])
        visual = visual + gated(self.v_cond_mlp(v_in), v_mod[8])
        return audio, visual

    def _self_attention(
        self,
        audio: torch.Tensor,
        visual: torch.Tensor,
        a_mod: tuple[torch.Tensor, ...],
        v_mod: tuple[torch.Tensor, ...],
        tables: RopeTables,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a_in = modulate(_layer_norm(audio, 1e-6), a_mod[0], a_mod[1])
        aq, ak, av = split_heads(self.audio_self_attn_qkv(a_in), 3, self.heads)
        aq = self.audio_self_q_norm(aq).to(av.dtype)
        ak = self.audio_self_k_norm(ak).to(av.dtype)
        aq, ak = apply_rope(aq, *tables.self_audio), apply_rope(ak, *tables.self_audio)

        v_in = modulate(_layer_norm(visual, 1e-6), v_mod[0], v_mod[1])
        vq, vk, vv = split_heads(self.v_cond_attn_qkv(v_in), 3, self.heads)
        vq = self.v_cond_attn_q_norm(vq).to(vv.dtype)
        vk = self.v_cond_attn_k_norm(vk).to(vv.dtype)
        if tables.visual_index is not None:
            vq = vq.index_select(2, tables.visual_index)
            vk = vk.index_select(2, tables.visual_index)
        vq, vk = apply_rope(vq, *tables.self_visual), apply_rope(vk, *tables.self_visual)

        q = torch.cat((vq, aq), dim=2)
        k = torch.cat((vk, ak), dim=2)
        v = torch.cat((vv, av), dim=2)
        out = merge_heads(nnf.scaled_dot_product_attention(q, k, v))
        v_out, a_out = torch.split(out, [visual.shape[1], audio.shape[1]], dim=1)
        return a_out, v_out

    def _cross_attention(
        self,
        audio: torch.Tensor,
        visual: torch.Tensor,
        a_mod: tuple[torch.Tensor, ...],
        v_mod: tuple[torch.Tensor, ...],
        text_kv: tuple[torch.Tensor, torch.Tensor],
        text_mask: torch.Tensor | None,
        tables: RopeTables,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a_in = modulate(_layer_norm(audio, 1e-6), a_mod[3], a_mod[4])
        (aq,) = split_heads(self.audio_cross_q(a_in), 1, self.heads)
        aq = apply_rope(self.audio_cross_q_norm(aq), *tables.audio)

        v_in = modulate(_layer_norm(visual, 1e-6), v_mod[3], v_mod[4])
        (vq,) = split_heads(self.v_cond_cross_q(v_in), 1, self.heads)
        vq = apply_rope(self.v_cond_cross_q_norm(vq), *tables.visual)

        q = torch.cat((vq, aq), dim=2).to(text_kv[1].dtype)
        out = nnf.scaled_dot_product_attention(q, *text_kv, attn_mask=text_mask)
        v_out, a_out = torch.split(merge_heads(out), [visual.shape[1], audio.shape[1]], dim=1)
        return a_out, v_out


class SingleBlock(nn.Module):
    """Audio-only block with per-token 6-way adaLN from (sync features + time embedding).

    Reproduced quirks: LayerNorms use eps 1e-5 (PyTorch's default, unlike 1e-6 elsewhere); q/k
    use `torch.nn.RMSNorm` semantics with eps=None (the input dtype's machine epsilon); the fused
    qkv projection is laid out (head, dim, q|k|v), interleaving q, k and v per channel; the output
    projection `linear1` is a k=3 Conv1d and the MLP `linear2` a k=3 conv SwiGLU.
    """

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        dim = config.hidden_size
        self.heads = config.num_heads
        self.modulation = Modulation(dim, 6)
        self.linear_qkv = nn.Linear(dim, 3 * dim)
        self.linear1 = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.linear2 = ConvSwiGLU(dim, config.single_mlp_hidden, kernel_size=3)
        self.q_norm = nn.RMSNorm(config.head_dim)
        self.k_norm = nn.RMSNorm(config.head_dim)
        self.conv_mode: ConvMode = "conv"

    def set_conv_mode_(self, mode: ConvMode) -> None:
        """Run the k=3 convolutions as `mode` (see `conv_tokens`), re-laying out their weights."""
        self.conv_mode = mode
        tap_inner_(self.linear1)
        self.linear2.set_conv_mode_(mode)

    def forward(
        self,
        x: torch.Tensor,
        cond: torch.Tensor,
        rope: RopePair,
        cond_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x [B, T, C]; cond [B, L, C] conditioning with rope over positions 0..T-1.

        Token i is modulated by `cond[:, i]`, or by `cond[:, cond_index[i]]` when `cond_index`
        [T] is given: per-token conditioning that repeats (the sync features are resized to T
        by repeating tokens) then costs its modulation GEMM only for the L distinct tokens.
        """
        mod = self.modulation(cond)
        if cond_index is not None:
            mod = mod.index_select(1, cond_index)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)
        x_in = _layer_norm(x, 1e-5) * (1 + scale1) + shift1
        b, length, _ = x_in.shape
        qkv = self.linear_qkv(x_in).view(b, length, self.heads, -1, 3)
        q, k, v = qkv.permute(4, 0, 2, 1, 3).unbind(0)
        q = nnf.rms_norm(q, q.shape[-1:], self.q_norm.weight, eps=None)
        k = nnf.rms_norm(k, k.shape[-1:], self.k_norm.weight, eps=None)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        attn = merge_heads(nnf.scaled_dot_product_attention(q, k, v.contiguous()))
        x = x + gated(conv_tokens(attn, self.linear1, self.conv_mode), gate1)
        x_in = _layer_norm(x, 1e-5) * (1 + scale2) + shift2
        return x + gated(self.linear2(x_in), gate2)
