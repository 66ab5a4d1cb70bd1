"""Load HunyuanVideo-Foley weights from a local model directory. Never touches the network.

Files understood (from the Hugging Face repo tencent/HunyuanVideo-Foley, or community copies):

| file | content |
|---|---|
| `hunyuanvideo_foley.pth` | XXL DiT, a plain state dict (bf16) |
| `hunyuanvideo_foley_xl.pth` | XL DiT, same format |
| `vae_128d_48k.pth` | DAC-VAE: `{"state_dict": ..., "metadata": {"kwargs": ...}}` (fp32) |
| `*.safetensors` | community copies of either, same key names, in bf16, fp16 or fp8 |

`.pth` files are read with `torch.load(weights_only=True, mmap=True)`: nothing is unpickled
beyond tensors and plain containers, and tensors are paged in from disk as they are used.

fp8 (e4m3fn / e5m2) weight-only files are **upcast at load time** to the requested dtype: they
save disk and download size, not device memory. Keeping fp8 on the device and upcasting per
matmul would halve the XXL weights' memory (about 10 GB to 5 GB), at the cost of a custom linear
and conv path; it is not implemented.

Models are built on the `meta` device and the checkpoint tensors assigned into them, so loading
allocates the weights once (no random initialisation of 5B parameters first). The key check is
strict: any missing or unexpected key, or a shape that differs, is a `ConfigError` listing them.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from foleyserve.engines.hunyuan.config import PRESETS, RELEASED_DAC, DacDecoderConfig, DiTConfig
from foleyserve.engines.hunyuan.dac import DacDecoder, split_decoder_state
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.errors import ConfigError

HF_REPO = "tencent/HunyuanVideo-Foley"
DIT_FILES = {"xxl": "hunyuanvideo_foley.pth", "xl": "hunyuanvideo_foley_xl.pth"}
DAC_FILE = "vae_128d_48k.pth"
_FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
_SHOWN_KEYS = 10


@dataclass
class Checkpoint:
    """The tensors of one weights file and, for DAC files, the model's constructor kwargs."""

    path: Path
    state: dict[str, torch.Tensor]
    kwargs: dict[str, Any] = field(default_factory=dict)


def read_checkpoint(path: Path) -> Checkpoint:
    """Read a `.pth` (plain state dict, or audiotools' `{"state_dict", "metadata"}`) or a
    `.safetensors` file, tensors on the CPU, without copying them into memory up front."""
    if not path.is_file():
        raise ConfigError(
            f"model file {path.name} not found in {path.parent}; download it from the Hugging "
            f"Face repo {HF_REPO} into that directory",
            code="model_file_missing",
        )
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        obj = _torch_load(path)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"cannot read {path} as a weights-only torch file: {exc}") from exc
    if isinstance(obj, Mapping) and "state_dict" in obj:
        metadata = obj.get("metadata") or {}
        return Checkpoint(path, dict(obj["state_dict"]), dict(metadata.get("kwargs") or {}))
    if isinstance(obj, Mapping):
        return Checkpoint(path, dict(obj))
    raise ConfigError(f"{path} holds a {type(obj).__name__}, not a state dict")


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        # Files in the legacy (pre-zip) format cannot be memory-mapped.
        return torch.load(path, map_location="cpu", weights_only=True)


def _read_safetensors(path: Path) -> Checkpoint:
    with safe_open(str(path), framework="pt") as handle:
        state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        metadata = handle.metadata() or {}
    kwargs = json.loads(metadata["kwargs"]) if "kwargs" in metadata else {}
    return Checkpoint(path, state, kwargs)


# ---------------------------------------------------------------------------------- the DiT


def infer_dit_config(state: Mapping[str, torch.Tensor]) -> DiTConfig:
    """The architecture a DiT state dict was saved from: the XXL or XL preset when the shapes
    match one, otherwise a `custom` config built from the shapes."""
    try:
        hidden, latent_dim, _ = state["audio_embedder.proj.weight"].shape
        head_dim = state["single_blocks.0.q_norm.weight"].shape[0]
        fc1 = state.get("triple_blocks.0.audio_mlp.fc1.weight")
        config = DiTConfig(
            hidden_size=hidden,
            num_heads=hidden // head_dim,
            depth_triple_blocks=_count_blocks(state, "triple_blocks."),
            depth_single_blocks=_count_blocks(state, "single_blocks."),
            mlp_ratio=4.0 if fc1 is None else fc1.shape[0] / hidden,
            latent_dim=latent_dim,
            text_dim=state["cond_in.linear_1.weight"].shape[1],
            visual_dim=state["visual_proj.w1.weight"].shape[1],
            sync_dim=state["sync_in.0.weight"].shape[1],
        )
    except KeyError as exc:
        raise ConfigError(
            f"not a HunyuanVideo-Foley DiT state dict: it has no {exc.args[0]!r}"
        ) from exc
    for preset in PRESETS.values():
        if _same_architecture(config, preset):
            return preset
    return config


def _count_blocks(state: Iterable[str], prefix: str) -> int:
    indices = {int(key[len(prefix) :].split(".")[0]) for key in state if key.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def _same_architecture(a: DiTConfig, b: DiTConfig) -> bool:
    return {**vars(a), "name": ""} == {**vars(b), "name": ""}


def load_dit_file(
    path: Path,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    config: DiTConfig | None = None,
) -> FoleyDiT:
    """Load a DiT weights file into a `FoleyDiT` in `dtype` on `device`, in eval mode.

    The architecture is detected from the shapes unless `config` is given.
    """
    checkpoint = read_checkpoint(path)
    config = config or infer_dit_config(checkpoint.state)
    with torch.device("meta"):
        model = FoleyDiT(config)
    _assign(model, checkpoint, dtype, f"{config.name} DiT")
    model.to(device)
    if torch.device(device).type == "cuda":
        model.set_conv_mode_("fused")
    return model


def locate_dit(model_dir: Path, variant: str | None = None) -> Path:
    """The DiT file in `model_dir`: the official `.pth` of `variant` ("xxl" or "xl"; None tries
    XXL, then XL), else a community copy named after it with the `.safetensors` suffix."""
    if variant is not None and variant not in DIT_FILES:
        raise ConfigError(f"unknown model variant {variant!r}; choose one of {sorted(DIT_FILES)}")
    names = [DIT_FILES[variant]] if variant else list(DIT_FILES.values())
    for name in names:
        for candidate in (model_dir / name, (model_dir / name).with_suffix(".safetensors")):
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"model file {' or '.join(names)} not found in {model_dir}; download it from the "
        f"Hugging Face repo {HF_REPO} into that directory",
        code="model_file_missing",
    )


def load_dit(
    model_dir: Path,
    variant: str | None = None,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
) -> FoleyDiT:
    """Locate and load the DiT of `variant`; the file's shapes must match that variant."""
    path = locate_dit(model_dir, variant)
    model = load_dit_file(path, device=device, dtype=dtype)
    if variant is not None and model.config.name != variant:
        raise ConfigError(f"{path} holds a {model.config.name} DiT, not {variant}")
    return model


# ---------------------------------------------------------------------------------- the VAE


def load_dac_file(
    path: Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[DacDecoder, list[str]]:
    """Load the DAC-VAE decoder from a full DAC checkpoint.

    Returns the decoder (eval mode) and the checkpoint keys it does not use (the encoder and
    `quant_conv`), which are expected and not an error. Files without constructor kwargs
    (community safetensors) are taken to be the released `vae_128d_48k` architecture.
    """
    checkpoint = read_checkpoint(path)
    config = DacDecoderConfig.from_kwargs(checkpoint.kwargs) if checkpoint.kwargs else RELEASED_DAC
    state, ignored = split_decoder_state(checkpoint.state)
    with torch.device("meta"):
        decoder = DacDecoder(config)
    _assign(decoder, Checkpoint(path, state), dtype, "DAC-VAE decoder")
    return decoder.to(device), ignored


def load_dac(
    model_dir: Path, *, device: torch.device | str = "cpu"
) -> tuple[DacDecoder, list[str]]:
    """Load `vae_128d_48k.pth` (or its `.safetensors` copy) from `model_dir`."""
    path = model_dir / DAC_FILE
    if not path.is_file() and path.with_suffix(".safetensors").is_file():
        path = path.with_suffix(".safetensors")
    return load_dac_file(path, device=device)


# ---------------------------------------------------------------------------------- shared


def _assign(module: nn.Module, checkpoint: Checkpoint, dtype: torch.dtype, what: str) -> None:
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    check_state(expected, checkpoint.state, f"{what} in {checkpoint.path}")
    state = {key: _cast(value, dtype) for key, value in checkpoint.state.items()}
    module.load_state_dict(state, strict=True, assign=True)
    module.requires_grad_(False)
    module.eval()


def _cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if tensor.dtype in _FP8 or tensor.is_floating_point():
        return tensor.to(dtype)
    return tensor


def check_state(
    expected: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor], what: str
) -> None:
    """Raise `ConfigError` unless `state` has exactly the `expected` keys and shapes."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{key} {tuple(state[key].shape)} (expected {expected[key]})"
        for key in set(expected) & set(state)
        if tuple(state[key].shape) != expected[key]
    )
    if not (missing or unexpected or wrong):
        return
    parts = [
        _listing(label, items)
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        )
        if items
    ]
    raise ConfigError(
        f"weights do not match the {what}: " + "; ".join(parts), code="checkpoint_mismatch"
    )


def _listing(label: str, items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN_KEYS])
    more = f", ... and {len(items) - _SHOWN_KEYS} more" if len(items) > _SHOWN_KEYS else ""
    return f"{len(items)} {label} key(s): {shown}{more}"
