"""Typed configuration for the HunyuanVideo-Foley DiT and its DAC-VAE decoder.

`DiTConfig` holds only the architecture knobs the inference path reads. The official yaml files
carry many more (training-only REPA settings, flags that select code paths the released models do
not use); `DiTConfig.from_meta` checks those flags against the one behaviour we implement and
refuses anything else with a `ConfigError`, so a config we would silently mis-run never loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from foleyserve.errors import ConfigError

# Flags of the official model kwargs that pick a code path. The released XXL and XL models use
# exactly these values, and so does our implementation.
_REQUIRED_FLAGS: dict[str, object] = {
    "mlp_act_type": "gelu_tanh",
    "qkv_bias": True,
    "qk_norm": True,
    "qk_norm_type": "rms",
    "interleaved_audio_visual_rope": True,
    "sync_modulation": False,
    "add_sync_feat_to_audio": True,
    "use_attention_mask": False,
    "condition_projection": "linear",
    "patch_size": 1,
    "rope_dim_list": None,
    "sync_in_ksz": 1,
    "reverse": False,
}


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of the HunyuanVideo-Foley DiT (`HunyuanVideoFoley` in the official code)."""

    hidden_size: int
    num_heads: int
    depth_triple_blocks: int
    depth_single_blocks: int
    mlp_ratio: float = 4.0
    latent_dim: int = 128
    """Channels of the DAC-VAE latent (`audio_vae_latent_dim`)."""
    text_dim: int = 768
    """CLAP text features (`condition_dim`)."""
    visual_dim: int = 768
    """SigLIP2 per-frame features (`clip_dim`)."""
    sync_dim: int = 768
    """Synchformer features (`sync_feat_dim`)."""
    latent_rate_hz: int = 50
    """Latent frames per second of audio (`audio_frame_rate`)."""
    rope_theta: float = 10000.0
    name: str = "custom"
    """A label for logs and benchmarks: "xxl", "xl" or "custom"."""

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        if self.head_dim % 2:
            raise ConfigError(f"head_dim {self.head_dim} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def triple_mlp_hidden(self) -> int:
        """Hidden width of the GELU MLPs in the triple (two-stream) blocks."""
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def single_mlp_hidden(self) -> int:
        """Hidden width of the k=3 SwiGLU ConvMLP in the single blocks (4096 for XXL)."""
        return swiglu_hidden(int(self.hidden_size * self.mlp_ratio))

    @property
    def sync_mlp_hidden(self) -> int:
        """Hidden width of the k=1 SwiGLU ConvMLP in `sync_in`."""
        return swiglu_hidden(self.hidden_size * 4)

    @classmethod
    def from_meta(cls, model_kwargs: Mapping[str, Any], *, name: str = "custom") -> DiTConfig:
        """Build from the official `model_kwargs` mapping (a yaml's `model_config.model_kwargs`).

        Keys that only matter for training are ignored; flags that select code paths must have
        the values of the released models, otherwise `ConfigError` says which one differs.
        """
        for key, wanted in _REQUIRED_FLAGS.items():
            if key in model_kwargs and model_kwargs[key] != wanted:
                raise ConfigError(
                    f"model kwarg {key}={model_kwargs[key]!r} is not supported; "
                    f"the released HunyuanVideo-Foley models use {wanted!r}"
                )
        theta = float(model_kwargs.get("rope_theta", 10000))
        if theta != 10000.0:
            raise ConfigError(
                f"rope_theta={theta} is not supported: the official code always uses 10000"
            )
        try:
            return cls(
                hidden_size=int(model_kwargs["hidden_size"]),
                num_heads=int(model_kwargs["num_heads"]),
                depth_triple_blocks=int(model_kwargs["depth_triple_blocks"]),
                depth_single_blocks=int(model_kwargs["depth_single_blocks"]),
                mlp_ratio=float(model_kwargs.get("mlp_ratio", 4.0)),
                latent_dim=int(model_kwargs.get("audio_vae_latent_dim", 128)),
                text_dim=int(model_kwargs.get("condition_dim", 768)),
                visual_dim=int(model_kwargs.get("clip_dim", 768)),
                sync_dim=int(model_kwargs.get("sync_feat_dim", 768)),
                latent_rate_hz=int(model_kwargs.get("audio_frame_rate", 50)),
                name=name,
            )
        except KeyError as exc:
            raise ConfigError(f"model kwargs lack the required key {exc.args[0]!r}") from exc


def swiglu_hidden(hidden: int, multiple_of: int = 256) -> int:
    """The official ConvMLP's width rule: two thirds of `hidden`, rounded up to `multiple_of`."""
    width = int(2 * hidden / 3)
    return multiple_of * math.ceil(width / multiple_of)


XXL = DiTConfig(
    hidden_size=1536, num_heads=12, depth_triple_blocks=18, depth_single_blocks=36, name="xxl"
)
"""configs/hunyuanvideo-foley-xxl.yaml: 5.13B parameters, checkpoint hunyuanvideo_foley.pth."""

XL = DiTConfig(
    hidden_size=1408, num_heads=11, depth_triple_blocks=12, depth_single_blocks=24, name="xl"
)
"""configs/hunyuanvideo-foley-xl.yaml: 2.91B parameters, checkpoint hunyuanvideo_foley_xl.pth."""

PRESETS: dict[str, DiTConfig] = {"xxl": XXL, "xl": XL}


@dataclass(frozen=True)
class DacDecoderConfig:
    """The decoding half of the DAC-VAE (`DAC(continuous=True)` in the official code)."""

    latent_dim: int = 128
    decoder_dim: int = 2048
    decoder_rates: tuple[int, ...] = (8, 5, 4, 3, 2)
    sample_rate_hz: int = 48000

    def __post_init__(self) -> None:
        if self.decoder_dim % 2 ** len(self.decoder_rates):
            raise ConfigError(
                f"decoder_dim {self.decoder_dim} must halve {len(self.decoder_rates)} times"
            )

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame (960 for the released VAE: 50 latents/s at 48 kHz)."""
        return math.prod(self.decoder_rates)

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> DacDecoderConfig:
        """Build from the checkpoint's `metadata["kwargs"]` (the `DAC.__init__` arguments).

        Encoder-only and quantizer arguments are ignored; a discrete (quantized) DAC is refused.
        """
        if not kwargs.get("continuous", False):
            raise ConfigError("only the continuous DAC-VAE (continuous=True) is supported")
        latent_dim = kwargs.get("latent_dim")
        if latent_dim is None:
            encoder_dim = int(kwargs.get("encoder_dim", 64))
            latent_dim = encoder_dim * 2 ** len(kwargs.get("encoder_rates", (2, 4, 8, 8)))
        return cls(
            latent_dim=int(latent_dim),
            decoder_dim=int(kwargs.get("decoder_dim", 1536)),
            decoder_rates=tuple(int(r) for r in kwargs.get("decoder_rates", (8, 8, 4, 2))),
            sample_rate_hz=int(kwargs.get("sample_rate", 44100)),
        )


RELEASED_DAC = DacDecoderConfig()
"""vae_128d_48k.pth: latent 128, decoder_dim 2048, rates 8·5·4·3·2, 48 kHz."""
