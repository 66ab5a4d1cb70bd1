"""HunyuanVideo-Foley (Tencent), reimplemented for serving: DiT, flow-matching sampler, DAC-VAE.

Modules, in reading order:
    config        typed configs: `DiTConfig` (XXL and XL presets, `from_meta`), `DacDecoderConfig`
    layers        norms, MLPs, embedders, rotary tables, token convolutions
    blocks        the triple (audio + visual) and single (audio) transformer blocks
    dit           `FoleyDiT`: `prepare_conditions` once per batch, `forward_step` once per step
    sampler       `sample`: Euler flow matching with CFG, batched across requests
    dac           `DacDecoder`: latents to 48 kHz audio; weight-norm folding
    loading       official `.pth` and community safetensors files, strict key checks
    synchformer   `Synchformer`: the video branch, 16-frame windows to 8 sync tokens each
    preprocess    the official video preprocessing: frames to SigLIP2/Synchformer inputs, lengths
    benchmarking  `build_random` (benchmark-only random weights) and `dit_flops`

The engine a worker serves (imported on demand: these pull in transformers):
    encoders      SigLIP2 and CLAP through transformers, from local snapshots
    video         one decode streamed through SigLIP2 and Synchformer; request lengths
    models        every network from a model directory, or random (benchmark mode)
    memory        the memory model: measured on CUDA, estimated on the CPU
    engine        `HunyuanEngine`, the `FoleyEngine`
    factory       the engine from `Settings`
"""

from foleyserve.engines.hunyuan.benchmarking import build_random, dit_flops
from foleyserve.engines.hunyuan.config import XL, XXL, DacDecoderConfig, DiTConfig
from foleyserve.engines.hunyuan.dac import DacDecoder
from foleyserve.engines.hunyuan.dit import FoleyDiT, PreparedConditions
from foleyserve.engines.hunyuan.loading import (
    load_dac,
    load_dac_file,
    load_dit,
    load_dit_file,
    locate_dit,
)
from foleyserve.engines.hunyuan.preprocess import (
    VideoPixels,
    audio_samples,
    decode_pixels,
    latent_length,
    siglip2_pixels,
    sync_length,
    sync_windows,
    synchformer_pixels,
)
from foleyserve.engines.hunyuan.sampler import SampleRequest, SamplerSettings, sample
from foleyserve.engines.hunyuan.synchformer import (
    Synchformer,
    SynchformerConfig,
    load_synchformer,
    sync_features,
)

__all__ = [
    "XL",
    "XXL",
    "DacDecoder",
    "DacDecoderConfig",
    "DiTConfig",
    "FoleyDiT",
    "PreparedConditions",
    "SampleRequest",
    "SamplerSettings",
    "Synchformer",
    "SynchformerConfig",
    "VideoPixels",
    "audio_samples",
    "build_random",
    "decode_pixels",
    "dit_flops",
    "latent_length",
    "load_dac",
    "load_dac_file",
    "load_dit",
    "load_dit_file",
    "load_synchformer",
    "locate_dit",
    "sample",
    "siglip2_pixels",
    "sync_features",
    "sync_length",
    "sync_windows",
    "synchformer_pixels",
]
