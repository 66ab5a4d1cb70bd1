"""How fast are HunyuanVideo-Foley's video preprocessing and Synchformer, per 10 s clip?

Two tables:

1. Preprocessing (CPU, `torch.get_num_threads()` threads): milliseconds per frame of
   `siglip2_pixels` (Pillow bilinear to 512x512, per frame; on one thread and on `--threads`)
   and `synchformer_pixels` (torch uint8 antialiased bicubic, vectorised), for random frames
   at a few source sizes, in batches of `--frames`.
2. Synchformer (the full-size video branch with seeded random weights, no checkpoint needed):
   a 10 s clip is 250 frames at 25 fps, so 30 windows of 16 frames. For each number of clips
   batched together and each precision it prints the median milliseconds per clip (after a
   warm-up; CUDA synchronised), the peak device memory, and the relative error of the features
   against float32 weights and compute on the same input.

Precisions: `fp32` (float32 weights and compute, with torch's default TF32 for cuDNN
convolutions; the error reference has TF32 off), `autocast-fp16` (float32 weights under fp16
autocast: how the official pipeline runs it), `autocast-bf16`, and `fp16` / `bf16` (weights
stored in that dtype, no autocast).

    python benchmarks/hunyuan_encoders.py --device cuda --clips 1,4,8 \
        --precisions fp32,autocast-fp16,autocast-bf16,fp16,bf16
    python benchmarks/hunyuan_encoders.py --device cpu --tiny --clips 1 --precisions fp32,bf16

`--golden ../shared/golden/synchformer-tiny` first prints how far each precision lands from the
official float32 output of the tiny reference model.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from foleyserve.engines.hunyuan.preprocess import (
    SYNCHFORMER_FPS,
    siglip2_pixels,
    sync_window_count,
    synchformer_pixels,
)
from foleyserve.engines.hunyuan.synchformer import (
    OFFICIAL,
    Synchformer,
    SynchformerConfig,
    init_random_,
    load_synchformer,
    sync_features,
)

CLIP_S = 10.0
TINY = SynchformerConfig(embed_dim=64, depth=2, num_heads=2)
SIZES = ((640, 360), (1280, 720), (1920, 1080))
PRECISIONS: dict[str, tuple[torch.dtype, torch.dtype | None]] = {
    "fp32": (torch.float32, None),
    "autocast-fp16": (torch.float32, torch.float16),
    "autocast-bf16": (torch.float32, torch.bfloat16),
    "fp16": (torch.float16, None),
    "bf16": (torch.bfloat16, None),
}
"""name: (weights dtype, autocast dtype)."""


def _median_s(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    run()  # warm-up: kernels chosen, memory pooled
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _exact_fp32(model: Synchformer, windows: torch.Tensor, max_windows: int) -> torch.Tensor:
    """float32 features with TF32 off (cuDNN convolutions use TF32 by default)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return sync_features(model, windows, max_windows=max_windows)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def preprocessing_table(frames: int, repeats: int, threads: int) -> None:
    print(f"\npreprocessing on the CPU, {torch.get_num_threads()} torch threads, {frames} frames")
    print(
        f"| source | siglip2_pixels ms/frame, 1 thread | {threads} threads "
        "| synchformer_pixels ms/frame |"
    )
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    cpu = torch.device("cpu")
    for width, height in SIZES:
        batch = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
        one_s = _median_s(functools.partial(siglip2_pixels, batch), cpu, repeats)
        many_s = _median_s(functools.partial(siglip2_pixels, batch, threads=threads), cpu, repeats)
        sync_s = _median_s(functools.partial(synchformer_pixels, batch), cpu, repeats)
        per_frame_ms = [f"{t / frames * 1e3:.2f}" for t in (one_s, many_s, sync_s)]
        print(f"| {width}x{height} | {' | '.join(per_frame_ms)} |")


def synchformer_table(
    config: SynchformerConfig,
    device: torch.device,
    clips: list[int],
    precisions: list[str],
    max_windows: int,
    repeats: int,
) -> None:
    windows_per_clip = sync_window_count(int(CLIP_S * SYNCHFORMER_FPS))
    base = init_random_(Synchformer(config), seed=0).eval().requires_grad_(False)
    models = {}
    for name in precisions:
        weights, _ = PRECISIONS[name]
        models[name] = copy.deepcopy(base).to(device, weights)
    reference = base.to(device)
    print(
        f"\nSynchformer {config.embed_dim}x{config.depth} on {device}, random weights, "
        f"{windows_per_clip} windows per {CLIP_S:g} s clip, up to {max_windows} windows per call"
    )
    print("| clips | precision | ms per clip | peak GiB | rel. error vs fp32 |")
    print("|---|---|---|---|---|")
    generator = torch.Generator().manual_seed(1)
    for count in clips:
        shape = (count * windows_per_clip, config.window_frames, 3, 224, 224)
        windows = (torch.rand(shape, generator=generator) * 2 - 1).to(device)
        expected = _exact_fp32(reference, windows[:windows_per_clip], max_windows)
        for name in precisions:
            model, (_, autocast) = models[name], PRECISIONS[name]
            run = functools.partial(
                sync_features, model, windows, autocast_dtype=autocast, max_windows=max_windows
            )
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = _median_s(run, device, repeats)
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0
            ours = sync_features(
                model, windows[:windows_per_clip], autocast_dtype=autocast, max_windows=max_windows
            )
            error = float((ours - expected).double().norm() / expected.double().norm())
            print(f"| {count} | {name} | {seconds / count * 1e3:.1f} | {peak:.2f} | {error:.2g} |")


def golden_table(golden: Path, device: torch.device, precisions: list[str]) -> None:
    """The official tiny model's output (float32, CPU) against ours at each precision."""
    config = SynchformerConfig.from_meta(json.loads((golden / "meta.json").read_text()))
    windows = load_file(golden / "input.safetensors")["x"].float()[0]
    expected = load_file(golden / "output.safetensors")["feats"][0].double()
    print(f"\nsynchformer-tiny golden on {device}: relative error against the official float32")
    print("| precision | rel. error |")
    print("|---|---|")
    for name in precisions:
        weights, autocast = PRECISIONS[name]
        path = golden / "vfeat_extractor.safetensors"
        model = load_synchformer(path, config, device=device, dtype=weights)
        ours = sync_features(model, windows, autocast_dtype=autocast).cpu().double()
        print(f"| {name} | {float((ours - expected).norm() / expected.norm()):.2g} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--clips", default="1,4,8", help="clips batched together, comma-separated")
    parser.add_argument("--precisions", default="fp32,autocast-fp16,autocast-bf16,fp16,bf16")
    parser.add_argument("--max-windows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=32, help="frames per preprocessing batch")
    parser.add_argument("--threads", type=int, default=8, help="siglip2_pixels threads")
    parser.add_argument("--tiny", action="store_true", help="a 64-wide, 2-block Synchformer")
    parser.add_argument("--skip-preprocessing", action="store_true")
    parser.add_argument("--golden", type=Path, help="a synchformer-tiny golden directory")
    args = parser.parse_args()
    unknown = set(args.precisions.split(",")) - set(PRECISIONS)
    if unknown:
        parser.error(f"unknown precisions {sorted(unknown)}; choose from {sorted(PRECISIONS)}")
    if args.golden is not None:
        golden_table(args.golden, torch.device(args.device), args.precisions.split(","))
    if not args.skip_preprocessing:
        preprocessing_table(args.frames, args.repeats, args.threads)
    synchformer_table(
        TINY if args.tiny else OFFICIAL,
        torch.device(args.device),
        [int(c) for c in args.clips.split(",")],
        args.precisions.split(","),
        args.max_windows,
        args.repeats,
    )


if __name__ == "__main__":
    main()
