"""`FoleyDiT`: the HunyuanVideo-Foley diffusion transformer, split for serving.

The official forward recomputes everything on every denoising step. Here the work that does not
depend on the step is split out:

- `prepare_conditions(text, visual, sync, latent_len)` runs once per request batch: the text
  projection and every triple block's text keys/values (k-norm and RoPE applied), the visual
  projection, the synchronisation features (`sync_in`, resized to T), and the rotary tables.
- `forward_step(x, t, prepared)` runs once per step: time embedding, the blocks, the final layer.

Rotary tables and resize indices are built once per (lengths, device) on the CPU, exactly as the
official code builds them, moved to the device once, and cached on the model.

`state_dict()` keys equal the official checkpoint's keys (no prefix), so the released files load
with `load_state_dict(strict=True)`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast, get_args

import torch
from torch import nn

from foleyserve.engines.hunyuan.blocks import RopeTables, SingleBlock, TripleBlock
from foleyserve.engines.hunyuan.config import DiTConfig
from foleyserve.engines.hunyuan.layers import (
    ConvMode,
    ConvSwiGLU,
    FinalLayer,
    PatchEmbed,
    RopePair,
    SwiGLU,
    TextProjection,
    TimestepEmbedder,
    nearest_exact_index,
    rope_table,
    timestep_freqs,
)

_SYNC_WINDOW = 8
"""Synchformer tokens per 16-frame window; `sync_pos_emb` is added per window."""

_CACHE_SIZE = 64
_T = TypeVar("_T")


@dataclass(frozen=True)
class PreparedConditions:
    """The step-invariant inputs of one model batch (B rows, CFG branches included)."""

    visual: torch.Tensor
    """[B, L_visual, C]: `visual_proj` of the SigLIP2 features."""
    sync: torch.Tensor
    """[B, T, C] float32: `sync_in` of the Synchformer features, resized to the latent length.
    Added to the audio tokens, it makes the audio residual stream float32."""
    sync_tokens: torch.Tensor
    """[B, L_sync, C]: the same before resizing; `sync = sync_tokens[:, sync_index]`."""
    sync_index: torch.Tensor
    """[T] int64: the sync token each latent position repeats (nearest-exact)."""
    text_kv: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    """Per triple block: text keys (normed, rotated) and values, each [B, heads, L_text, D]."""
    text_mask: torch.Tensor | None
    """[B, 1, 1, L_text] bool, True for real tokens; None when no row is padded."""
    tables: RopeTables
    time_freqs: torch.Tensor
    """[128] float32 frequencies of the timestep sinusoid."""

    @property
    def latent_len(self) -> int:
        return int(self.sync.shape[1])


class FoleyDiT(nn.Module):
    """HunyuanVideo-Foley DiT (official `HunyuanVideoFoley`), inference only."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.hidden_size
        self.audio_embedder = PatchEmbed(config.latent_dim, dim)
        self.visual_proj = SwiGLU(config.visual_dim, dim, dim)
        self.cond_in = TextProjection(config.text_dim, dim)
        self.time_in = TimestepEmbedder(dim)
        self.sync_in = nn.Sequential(
            nn.Linear(config.sync_dim, dim),
            nn.SiLU(),
            ConvSwiGLU(dim, config.sync_mlp_hidden, kernel_size=1),
        )
        self.sync_pos_emb = nn.Parameter(torch.zeros(1, 1, _SYNC_WINDOW, config.sync_dim))
        self.triple_blocks = nn.ModuleList(
            TripleBlock(config) for _ in range(config.depth_triple_blocks)
        )
        self.single_blocks = nn.ModuleList(
            SingleBlock(config) for _ in range(config.depth_single_blocks)
        )
        self.final_layer = FinalLayer(dim, config.latent_dim)
        self.empty_clip_feat = nn.Parameter(torch.zeros(1, config.visual_dim))
        self.empty_sync_feat = nn.Parameter(torch.zeros(1, config.sync_dim))
        self._tables: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.modulation_at_sync_rate = True
        """Compute the single blocks' per-token modulation once per sync token rather than once
        per latent (same values: the resize only repeats sync tokens; 240 rows instead of 500
        for a 10 s clip, about 7% of the DiT's work). False: per latent, as the official code."""

    # ------------------------------------------------------------------ conditions (per batch)

    def empty_visual(self, length: int) -> torch.Tensor:
        """The learnable 'no video' SigLIP2 features, [length, visual_dim]."""
        return self.empty_clip_feat.expand(length, -1)

    def empty_sync(self, length: int) -> torch.Tensor:
        """The learnable 'no video' Synchformer features, [length, sync_dim]."""
        return self.empty_sync_feat.expand(length, -1)

    def prepare_conditions(
        self,
        text: torch.Tensor,
        visual: torch.Tensor,
        sync: torch.Tensor,
        latent_len: int,
        text_mask: torch.Tensor | None = None,
    ) -> PreparedConditions:
        """Everything `forward_step` needs that does not change across denoising steps.

        text [B, L_text, text_dim] (rows padded to one length; `text_mask` [B, L_text] marks the
        real tokens, None when there is no padding), visual [B, L_visual, visual_dim],
        sync [B, L_sync, sync_dim] with L_sync a multiple of 8, latent_len T.
        """
        batch = text.shape[0]
        if visual.shape[0] != batch or sync.shape[0] != batch:
            raise ValueError("text, visual and sync features must have the same batch size")
        if sync.shape[1] % _SYNC_WINDOW:
            raise ValueError(f"sync length {sync.shape[1]} is not a multiple of {_SYNC_WINDOW}")
        device = text.device
        tables = self.rope_tables(latent_len, visual.shape[1], device)
        cond = self.cond_in(text)
        text_rope = self._text_rope(text.shape[1], device)
        text_kv = tuple(block.text_kv(cond, text_rope) for block in self._triples())
        mask = None if text_mask is None else text_mask.to(device, torch.bool)[:, None, None, :]
        sync_tokens, sync_index = self._sync_features(sync, latent_len)
        # Float32, as the official code gets it on CUDA (autocast runs its nearest-exact resize
        # in float32), so the audio stream it is added to stays float32 through every block:
        # in bf16, rounding the residual at every block would triple the error (measured).
        sync_tokens = sync_tokens.float()
        return PreparedConditions(
            visual=self.visual_proj(visual),
            sync=sync_tokens.index_select(1, sync_index),
            sync_tokens=sync_tokens,
            sync_index=sync_index,
            text_kv=text_kv,
            text_mask=mask,
            tables=tables,
            time_freqs=self._cached(("time", device), lambda: timestep_freqs().to(device)),
        )

    def _sync_features(
        self, sync: torch.Tensor, latent_len: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`sync_in` of the windows [B, L_sync, C] and the resize index [T] to the latents."""
        b, length, channels = sync.shape
        windows = sync.view(b, length // _SYNC_WINDOW, _SYNC_WINDOW, channels) + self.sync_pos_emb
        projected = self.sync_in(windows.view(b, length, channels))
        key = ("sync", length, latent_len, sync.device)
        index = self._cached(key, lambda: nearest_exact_index(length, latent_len).to(sync.device))
        return cast(torch.Tensor, projected), index

    # ------------------------------------------------------------------ rotary tables (cached)

    def rope_tables(self, latent_len: int, visual_len: int, device: torch.device) -> RopeTables:
        """The rotary tables for T = latent_len and L_visual = visual_len on `device` (cached)."""
        key = ("rope", latent_len, visual_len, device)
        return self._cached(key, lambda: self._build_tables(latent_len, visual_len, device))

    def _build_tables(self, latent_len: int, visual_len: int, device: torch.device) -> RopeTables:
        head_dim, theta = self.config.head_dim, self.config.rope_theta
        up = nearest_exact_index(visual_len, latent_len)
        down = nearest_exact_index(latent_len, visual_len)
        interleaved = rope_table(torch.arange(2 * latent_len, dtype=torch.float32), head_dim, theta)
        source = up[down]
        identity = bool(torch.equal(source, torch.arange(visual_len)))

        def to_device(pair: RopePair) -> RopePair:
            return pair[0].to(device), pair[1].to(device)

        return RopeTables(
            self_audio=to_device((interleaved[0][0::2], interleaved[1][0::2])),
            self_visual=to_device((interleaved[0][1::2][down], interleaved[1][1::2][down])),
            visual_index=None if identity else source.to(device),
            audio=to_device(rope_table(torch.arange(latent_len), head_dim, theta)),
            visual=to_device(rope_table(torch.arange(visual_len), head_dim, theta)),
        )

    def _text_rope(self, text_len: int, device: torch.device) -> RopePair:
        def build() -> RopePair:
            cos, sin = rope_table(torch.arange(text_len), self.config.head_dim)
            return cos.to(device), sin.to(device)

        return self._cached(("text", text_len, device), build)

    def _cached(self, key: tuple[Any, ...], build: Callable[[], _T]) -> _T:
        """Least-recently-used memo of small length-dependent tensors (tables, indices).

        Built outside inference mode, so a table first made while sampling can still be used
        by a later forward pass that records gradients.
        """
        if key in self._tables:
            self._tables.move_to_end(key)
            return cast(_T, self._tables[key])
        with torch.inference_mode(False):
            value = build()
        self._tables[key] = value
        while len(self._tables) > _CACHE_SIZE:
            self._tables.popitem(last=False)
        return value

    # ------------------------------------------------------------------ the step

    def forward_step(
        self, x: torch.Tensor, t: torch.Tensor, prepared: PreparedConditions
    ) -> torch.Tensor:
        """The velocity for latents x [B, latent_dim, T] at timesteps t [B] (sigma * 1000)."""
        vec = self.time_in(t, prepared.time_freqs)
        audio = self.audio_embedder(x)
        if self.triple_blocks:
            audio = audio + prepared.sync
        visual = prepared.visual
        for block, text_kv in zip(self.triple_blocks, prepared.text_kv, strict=True):
            audio, visual = block(audio, visual, vec, text_kv, prepared.text_mask, prepared.tables)
        if self.modulation_at_sync_rate:
            cond, index = prepared.sync_tokens + vec.unsqueeze(1), prepared.sync_index
        else:
            cond, index = prepared.sync + vec.unsqueeze(1), None
        for block in self.single_blocks:
            audio = block(audio, cond, prepared.tables.audio, index)
        out: torch.Tensor = self.final_layer(audio)
        return out.transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        text: torch.Tensor,
        visual: torch.Tensor,
        sync: torch.Tensor,
        text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One full forward pass (prepare + step), as the official `forward` computes it."""
        with self.autocast():
            prepared = self.prepare_conditions(text, visual, sync, x.shape[-1], text_mask)
            return self.forward_step(x, t, prepared)

    def autocast(self) -> torch.autocast:
        """The precision context the model runs in: autocast to the weights' dtype (as the
        official pipeline runs bf16 weights), disabled for float32 weights."""
        weight = self.final_layer.linear.weight
        return torch.autocast(
            weight.device.type, dtype=weight.dtype, enabled=weight.dtype != torch.float32
        )

    # ------------------------------------------------------------------ performance switches

    def _triples(self) -> list[TripleBlock]:
        return cast(list[TripleBlock], list(self.triple_blocks))

    def _singles(self) -> list[SingleBlock]:
        return cast(list[SingleBlock], list(self.single_blocks))

    def set_conv_mode_(self, mode: ConvMode) -> None:
        """How the single blocks' k=3 convolutions run (same function; see `conv_tokens`).

        "conv" is torch's conv1d, with the weights stored channels-last (on an H100, XXL eager,
        one request: 127 -> 98 ms per step against the default layout, as cuDNN would re-lay
        them out on every call). "gemm" runs one GEMM per tap: on an H100 (XXL, compiled, 10 s
        clips) it took one request from 63 to 40 ms per step and 32 requests from 613 to 545,
        and avoids cuDNN's slow pre-Hopper kernel at 8 requests (206 -> 143 ms). "fused" runs
        each conv as one GEMM: on token windows for the attention projection and the SwiGLU's
        w1 and w3 (which share the windows), output-side for w2 (docs/benchmarks.md has its
        figures). The loaders choose
        "fused" on CUDA devices. Weights are re-laid out for the mode, their values unchanged.
        """
        if mode not in get_args(ConvMode):
            raise ValueError(f"unknown conv mode {mode!r}; choose one of {get_args(ConvMode)}")
        for block in self._singles():
            block.set_conv_mode_(mode)

    def compile_blocks(self, **compile_kwargs: Any) -> None:
        """`torch.compile` each block in place (regional compilation).

        All blocks of a kind share one compiled graph, so compiling costs about one block of
        each kind rather than the whole unrolled network.
        """
        for block in [*self.triple_blocks, *self.single_blocks]:
            block.compile(**compile_kwargs)
