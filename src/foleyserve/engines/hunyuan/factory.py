"""The `hunyuan` engine from `Settings`: real weights from `hunyuan_model_dir`, or benchmark
mode's random weights only when `hunyuan_random_weights` says so explicitly."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from foleyserve.engines.hunyuan.engine import HunyuanEngine, engine_identity
from foleyserve.engines.hunyuan.models import (
    ModelOptions,
    dit_variant,
    load_models,
    random_models,
)
from foleyserve.errors import ConfigError
from foleyserve.settings import Settings

log = logging.getLogger(__name__)

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def create_hunyuan_engine(settings: Settings) -> HunyuanEngine:
    """Load the engine the settings describe (weights, device, precision, compile)."""
    options = model_options(settings)
    if options.torch_device.type == "cuda":
        # TF32 for the float32 parts (SigLIP2, CLAP, DAC): a worker process runs this engine
        # alone, so the process-wide switch is ours to set.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if settings.hunyuan_random_weights:
        models = random_models(options, seed=settings.hunyuan_random_seed)
    else:
        models = load_models(_model_dir(settings), options)
    engine = HunyuanEngine(models, max_batch_size=settings.hunyuan_max_batch_size)
    log.info(
        "engine %s %s on %s (%s DiT)",
        engine.name,
        engine.version,
        options.device,
        options.resolved_dit_dtype,
    )
    return engine


def hunyuan_identity(settings: Settings) -> tuple[str, str]:
    """(name, version) without loading weights: what an API server needs for cache keys. An
    API server without the model files names the variant (`FOLEYSERVE_HUNYUAN_VARIANT`)."""
    if settings.hunyuan_random_weights:
        return engine_identity(settings.hunyuan_variant or "xxl", settings.hunyuan_random_seed)
    if settings.hunyuan_variant is not None:
        return engine_identity(settings.hunyuan_variant, None)
    if settings.hunyuan_model_dir is None:
        raise ConfigError(
            "an API server for the hunyuan engine must know which model its workers run: set "
            "FOLEYSERVE_HUNYUAN_VARIANT (xxl or xl) as on the workers, or "
            "FOLEYSERVE_HUNYUAN_MODEL_DIR",
            code="model_dir_missing",
        )
    return engine_identity(dit_variant(settings.hunyuan_model_dir, None), None)


def model_options(settings: Settings) -> ModelOptions:
    device = settings.hunyuan_device
    if device == "auto":
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"FOLEYSERVE_HUNYUAN_DEVICE is {device}, but torch sees no CUDA device here; "
            "use cpu, or install a CUDA build of torch",
            code="device_unavailable",
        )
    dtype = None if settings.hunyuan_dtype == "auto" else _DTYPES[settings.hunyuan_dtype]
    return ModelOptions(
        device=device,
        dit_dtype=dtype,
        variant=settings.hunyuan_variant,
        siglip2_dir=settings.hunyuan_siglip2_dir,
        clap_dir=settings.hunyuan_clap_dir,
        compile=settings.hunyuan_compile,
    )


def _model_dir(settings: Settings) -> Path:
    if settings.hunyuan_model_dir is None:
        raise ConfigError(
            "the hunyuan engine needs its model files: set FOLEYSERVE_HUNYUAN_MODEL_DIR (or "
            "--model-dir) to a directory holding the HunyuanVideo-Foley release "
            "(docs/engines.md). For speed tests without weights, benchmark mode is "
            "FOLEYSERVE_HUNYUAN_RANDOM_WEIGHTS=true (or --random-weights): its audio is noise",
            code="model_dir_missing",
        )
    return settings.hunyuan_model_dir
