"""The Synchformer video branch: 16-frame windows of 25 fps video to 8 sync tokens each.

HunyuanVideo-Foley conditions its DiT on `Synchformer().vfeat_extractor`, a MotionFormer
(ViT-B/16 with divided space-time attention) followed by a spatial aggregation layer:

    window [16, 3, 224, 224] in [-1, 1]
      → 3-D patches 2x16x16 (Conv3d)               8 x 14 x 14 = 1568 tokens, plus one CLS
      → + spatial position (per patch) + temporal position (per frame pair)
      → depth x block: time attention, then space attention, then a GELU MLP (all pre-norm)
      → LayerNorm, CLS dropped
      → per frame pair, a pre-norm encoder layer with its own CLS over the 196 patches
      → 8 tokens x embed_dim (the aggregation layer's CLS output per frame pair)

In divided attention the patch tokens attend along one axis (the 8 frame pairs of one patch
position, or the 196 patches of one frame pair) with the global CLS token prepended as an
extra key; the CLS token itself attends to every token. Windows are independent, so callers
may put the windows of many videos in one batch.

State-dict keys equal the official checkpoint's `vfeat_extractor.*` keys with the prefix
stripped. The official model also holds `patch_embed.proj` (a 2-D patch embedding used only to
count patches); it is not part of this module and is ignored at load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as nnf
from torch import nn

from foleyserve.engines.hunyuan.loading import HF_REPO, check_state, read_checkpoint
from foleyserve.errors import ConfigError

SYNCHFORMER_FILE = "synchformer_state_dict.pth"
"""The official checkpoint (the whole Synchformer; only the video branch is used)."""
STATE_PREFIX = "vfeat_extractor."
IGNORED_KEYS = frozenset({"patch_embed.proj.weight", "patch_embed.proj.bias"})
"""Checkpoint keys the forward pass never reads (the unused 2-D patch embedding)."""


@dataclass(frozen=True)
class SynchformerConfig:
    """Architecture of the MotionFormer video branch (`divided_224_16x4.yaml`)."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    eps: float = 1e-6
    """LayerNorm eps of every norm, the aggregation layer's included (not torch's 1e-5)."""
    image_size: int = 224
    patch_size: int = 16
    temporal_patch: int = 2
    """Frames per 3-D patch."""
    window_frames: int = 16
    """Frames per window; window_frames / temporal_patch tokens come out of each window."""

    def __post_init__(self) -> None:
        problem = None
        if self.embed_dim % self.num_heads:
            problem = f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}"
        elif self.image_size % self.patch_size:
            problem = f"image_size {self.image_size} is not a multiple of {self.patch_size}"
        elif self.window_frames % self.temporal_patch:
            problem = f"window_frames {self.window_frames} not a multiple of {self.temporal_patch}"
        elif min(self.depth, self.embed_dim, self.num_heads) < 1:
            problem = "depth, embed_dim and num_heads must be positive"
        if problem is not None:
            raise ConfigError(f"Synchformer config: {problem}")

    @property
    def temporal_tokens(self) -> int:
        """Output tokens per window (8 for the official model)."""
        return self.window_frames // self.temporal_patch

    @property
    def grid(self) -> int:
        """Patches along each side of a frame (14)."""
        return self.image_size // self.patch_size

    @property
    def spatial_tokens(self) -> int:
        """Patches per frame pair (196)."""
        return self.grid * self.grid

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> SynchformerConfig:
        """The config described by a golden `meta.json` (`embed_dim`, `depth`, `num_heads`,
        `mlp_ratio`, `layer_norm_eps`, `patch` [t, h, w], `temporal_tokens`); absent fields
        take the official values. Attention other than "divided", or no qkv bias, is refused:
        it is not what this module computes."""
        official = meta.get("config_official", {})
        if official.get("ATTN_LAYER", "divided") != "divided" or not official.get("QKV_BIAS", 1):
            raise ConfigError("only divided space-time attention with qkv bias is implemented")
        temporal_patch, patch_h, patch_w = meta.get("patch", (2, 16, 16))
        if patch_h != patch_w:
            raise ConfigError(f"square patches only, got {patch_h}x{patch_w}")
        temporal_tokens = int(meta.get("temporal_tokens", 8))
        config = cls(
            embed_dim=int(meta.get("embed_dim", 768)),
            depth=int(meta.get("depth", 12)),
            num_heads=int(meta.get("num_heads", 12)),
            mlp_ratio=float(meta.get("mlp_ratio", 4.0)),
            eps=float(meta.get("layer_norm_eps", 1e-6)),
            image_size=int(official.get("TRAIN_CROP_SIZE", 224)),
            patch_size=int(patch_h),
            temporal_patch=int(temporal_patch),
            window_frames=temporal_tokens * int(temporal_patch),
        )
        spatial = meta.get("spatial_tokens")
        if spatial is not None and int(spatial) != config.spatial_tokens:
            raise ConfigError(f"spatial_tokens {spatial} != {config.spatial_tokens} from the sizes")
        return config


OFFICIAL = SynchformerConfig()
"""The released model: ViT-B/16, 768 wide, 12 blocks, 12 heads."""


# ------------------------------------------------------------------------------ attention


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[B, L, H*d] to [B, H, L, d]."""
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, L, d] to [B, L, H*d]."""
    batch, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dim)


class DividedAttention(nn.Module):
    """Attention of patch tokens along one axis of the (frame pair, patch) grid.

    `axis` "time": each patch position attends over the frame pairs; "space": each frame pair
    attends over its patches. Either way the CLS token is prepended to every group as a key
    and value, and the CLS query attends to all tokens. Keys: `qkv`, `proj`.
    """

    def __init__(self, config: SynchformerConfig, axis: str) -> None:
        super().__init__()
        if axis not in ("time", "space"):
            raise ValueError(f"axis must be 'time' or 'space', got {axis!r}")
        self.axis = axis
        self.num_heads = config.num_heads
        self.frames = config.temporal_tokens
        self.patches = config.spatial_tokens
        self.qkv = nn.Linear(config.embed_dim, 3 * config.embed_dim)
        self.proj = nn.Linear(config.embed_dim, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 1 + frames*patches, D] (CLS first, then frame-major patches)."""
        batch = x.shape[0]
        q, k, v = (_heads(t, self.num_heads) for t in self.qkv(x).chunk(3, dim=-1))
        cls_out = nnf.scaled_dot_product_attention(q[:, :, :1], k, v)  # [B, H, 1, d]
        grouped = [self._group(t[:, :, 1:]) for t in (q, k, v)]  # [B*G, H, n, d]
        groups = grouped[0].shape[0] // batch
        # The CLS key and value join every group ([B*G, H, 1, d], groups of one row together).
        cls_k, cls_v = (t[:, :, :1].repeat_interleave(groups, dim=0) for t in (k, v))
        keys = torch.cat((cls_k, grouped[1]), dim=2)
        values = torch.cat((cls_v, grouped[2]), dim=2)
        patches = self._ungroup(nnf.scaled_dot_product_attention(grouped[0], keys, values), batch)
        out: torch.Tensor = self.proj(_merge_heads(torch.cat((cls_out, patches), dim=2)))
        return out

    def _group(self, t: torch.Tensor) -> torch.Tensor:
        """[B, H, frames*patches, d] to [B*G, H, n, d] with G groups of n tokens."""
        batch, heads, _, dim = t.shape
        t = t.reshape(batch, heads, self.frames, self.patches, dim)
        # time: groups are patch positions, sequences run over frames; space: the reverse.
        t = t.permute(0, 3, 1, 2, 4) if self.axis == "time" else t.permute(0, 2, 1, 3, 4)
        return t.reshape(-1, heads, t.shape[-2], dim)

    def _ungroup(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        """The inverse of `_group`: back to [B, H, frames*patches, d]."""
        _, heads, length, dim = t.shape
        t = t.reshape(batch, -1, heads, length, dim)
        t = t.permute(0, 2, 3, 1, 4) if self.axis == "time" else t.permute(0, 2, 1, 3, 4)
        return t.reshape(batch, heads, self.frames * self.patches, dim)


class Mlp(nn.Module):
    """Linear, exact (erf) GELU, Linear. Keys: `fc1`, `fc2`."""

    def __init__(self, config: SynchformerConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.embed_dim, config.mlp_hidden)
        self.fc2 = nn.Linear(config.mlp_hidden, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(nnf.gelu(self.fc1(x)))
        return out


class DividedBlock(nn.Module):
    """Time attention (`norm3`, `timeattn`), space attention (`norm1`, `attn`), MLP (`norm2`,
    `mlp`), each pre-norm with a residual, in that order (the official names and order)."""

    def __init__(self, config: SynchformerConfig) -> None:
        super().__init__()
        dim, eps = config.embed_dim, config.eps
        self.norm3 = nn.LayerNorm(dim, eps=eps)
        self.timeattn = DividedAttention(config, "time")
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = DividedAttention(config, "space")
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.timeattn(self.norm3(x))
        x = x + self.attn(self.norm1(x))
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


# ---------------------------------------------------------------------- spatial aggregation


class PackedSelfAttention(nn.Module):
    """Multi-head attention with packed input projections, keyed like `nn.MultiheadAttention`
    (`in_proj_weight`, `in_proj_bias`, `out_proj`), computing only the queries asked for."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, queries: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """`queries` [B, Lq, D] attend to `x` [B, L, D]."""
        dim = x.shape[-1]
        w_q, w_kv = torch.split(self.in_proj_weight, [dim, 2 * dim])
        b_q, b_kv = torch.split(self.in_proj_bias, [dim, 2 * dim])
        q = _heads(nnf.linear(queries, w_q, b_q), self.num_heads)
        k, v = (_heads(t, self.num_heads) for t in nnf.linear(x, w_kv, b_kv).chunk(2, dim=-1))
        out: torch.Tensor = self.out_proj(_merge_heads(nnf.scaled_dot_product_attention(q, k, v)))
        return out


class SpatialAggregation(nn.Module):
    """A pre-norm transformer encoder layer with its own CLS token, run over the 196 patches of
    each frame pair; its output is the CLS row, one token per frame pair.

    Only the CLS row is read, and everything after the attention works per token, so only the
    CLS query is computed: the same numbers as the full layer at 1/197 of its query work.
    Keys: `cls_token`, `norm1`, `self_attn`, `norm2`, `linear1`, `linear2`.
    """

    def __init__(self, config: SynchformerConfig) -> None:
        super().__init__()
        dim, eps = config.embed_dim, config.eps
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.self_attn = PackedSelfAttention(dim, config.num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.linear1 = nn.Linear(dim, config.mlp_hidden)
        self.linear2 = nn.Linear(config.mlp_hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [G, patches, D] to [G, D]."""
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        sequence = self.norm1(torch.cat((cls, x), dim=1))
        out: torch.Tensor = cls + self.self_attn(sequence[:, :1], sequence)
        out = out + self.linear2(nnf.gelu(self.linear1(self.norm2(out))))
        return out[:, 0]


# ---------------------------------------------------------------------------- the model


class PatchEmbed3D(nn.Module):
    """Non-overlapping temporal_patch x patch x patch cubes to tokens. Keys: `proj`."""

    def __init__(self, config: SynchformerConfig) -> None:
        super().__init__()
        size = (config.temporal_patch, config.patch_size, config.patch_size)
        self.proj = nn.Conv3d(3, config.embed_dim, kernel_size=size, stride=size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """[W, T, 3, H, W] to [W, frame pairs * patches, D], frame-major then row-major."""
        out: torch.Tensor = self.proj(windows.transpose(1, 2)).flatten(2).transpose(1, 2)
        return out


class Synchformer(nn.Module):
    """The video branch of Synchformer (`vfeat_extractor` in the official checkpoint)."""

    def __init__(self, config: SynchformerConfig = OFFICIAL) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed_3d = PatchEmbed3D(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.spatial_tokens + 1, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, config.temporal_tokens, dim))
        self.blocks = nn.ModuleList(DividedBlock(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(dim, eps=config.eps)
        self.spatial_attn_agg = SpatialAggregation(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, S, window_frames, 3, H, W] (S windows per video, values in [-1, 1]) to
        [B, S, temporal_tokens, embed_dim]."""
        batch, windows = x.shape[:2]
        out = self.aggregate(self.encode(x.flatten(0, 1)))
        return out.view(batch, windows, *out.shape[1:])

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """[W, window_frames, 3, H, W] to the patch tokens after the final LayerNorm (CLS
        dropped), [W, frame pairs * patches, D], token index t*patches + row*grid + col."""
        config = self.config
        expected = (config.window_frames, 3, config.image_size, config.image_size)
        if windows.dim() != 5 or tuple(windows.shape[1:]) != expected:
            raise ValueError(
                f"windows must be [W, {', '.join(map(str, expected))}], got {list(windows.shape)}"
            )
        patches = self.patch_embed_3d(windows)
        # Spatial position per patch plus temporal position per frame pair, summed first.
        position = self.pos_embed[:, None, 1:] + self.temp_embed[:, :, None]
        patches = patches + position.flatten(1, 2)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(patches.shape[0], -1, -1)
        x = torch.cat((cls, patches), dim=1)
        for block in self.blocks:
            x = block(x)
        out: torch.Tensor = self.norm(x[:, 1:])
        return out

    def aggregate(self, tokens: torch.Tensor) -> torch.Tensor:
        """`encode`'s tokens to [W, temporal_tokens, D]: one token per frame pair."""
        config = self.config
        per_pair = tokens.reshape(-1, config.spatial_tokens, config.embed_dim)
        out: torch.Tensor = self.spatial_attn_agg(per_pair).view(
            -1, config.temporal_tokens, config.embed_dim
        )
        return out


def sync_features(
    model: Synchformer,
    windows: torch.Tensor,
    *,
    autocast_dtype: torch.dtype | None = None,
    max_windows: int = 64,
) -> torch.Tensor:
    """Run `model` over windows [W, window_frames, 3, H, W] (the windows of any number of
    videos), `max_windows` at a time, and return float32 [W, temporal_tokens, D].

    `autocast_dtype` float16 is how the official pipeline runs it on a GPU; None computes in
    the weights' dtype. Inputs move to the model's device; outputs stay there. Windows overlap
    by half, so moving the frames to the device before `preprocess.sync_windows` (which works
    on any device) moves half the bytes of moving the windows.
    """
    if max_windows < 1:
        raise ValueError(f"max_windows must be >= 1, got {max_windows}")
    device = model.pos_embed.device
    outputs = []
    with torch.inference_mode():
        for start in range(0, windows.shape[0], max_windows):
            chunk = windows[start : start + max_windows].to(device, model.pos_embed.dtype)
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                outputs.append(model.aggregate(model.encode(chunk)).float())
    if not outputs:
        config = model.config
        return torch.empty(0, config.temporal_tokens, config.embed_dim, device=device)
    return torch.cat(outputs)


# ---------------------------------------------------------------------------- loading


def locate_synchformer(path: Path) -> Path:
    """`path` itself if it is a file; in a directory, `synchformer_state_dict.pth`, else its
    `.safetensors` copy. A missing file is a `ConfigError` saying where to get it."""
    if path.is_file():
        return path
    for candidate in (
        path / SYNCHFORMER_FILE,
        (path / SYNCHFORMER_FILE).with_suffix(".safetensors"),
    ):
        if candidate.is_file():
            return candidate
    where = path if path.is_dir() else path.parent
    name = SYNCHFORMER_FILE if path.is_dir() or not path.suffix else path.name
    raise ConfigError(
        f"model file {name} not found in {where}; download {SYNCHFORMER_FILE} from the "
        f"Hugging Face repo {HF_REPO} into that directory",
        code="model_file_missing",
    )


def video_branch_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `vfeat_extractor.*` tensors of a Synchformer state dict, prefix stripped, without
    the unused `patch_embed.proj.*`. A file with no prefixed key is taken as already stripped."""
    if any(key.startswith(STATE_PREFIX) for key in state):
        state = {k[len(STATE_PREFIX) :]: v for k, v in state.items() if k.startswith(STATE_PREFIX)}
    return {key: value for key, value in state.items() if key not in IGNORED_KEYS}


def load_synchformer(
    path: Path,
    config: SynchformerConfig = OFFICIAL,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Synchformer:
    """Load the video branch from `synchformer_state_dict.pth` (or a safetensors copy; `path`
    is the file or its directory) into a `Synchformer` in `dtype` on `device`, in eval mode.

    Strict: a missing, unexpected or misshapen key is a `ConfigError` listing them (the
    unused `patch_embed.proj.*` excepted).
    """
    checkpoint = read_checkpoint(locate_synchformer(path))
    state = video_branch_state(checkpoint.state)
    with torch.device("meta"):
        model = Synchformer(config)
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    check_state(expected, state, f"Synchformer video branch in {checkpoint.path}")
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)
    model.requires_grad_(False)
    return model.eval().to(device)


def init_random_(model: Synchformer, seed: int, std: float = 0.02) -> Synchformer:
    """Seeded random weights for benchmarks and tests: normal(0, std) matrices, embeddings and
    biases, unit LayerNorms. Returns `model`."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
                continue
            for param in module.parameters(recurse=False):
                values = torch.randn(param.shape, generator=generator) * std
                param.copy_(values.to(param.device, param.dtype))
    return model
