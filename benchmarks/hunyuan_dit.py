"""How fast does our HunyuanVideo-Foley DiT denoise, by batch size, eager and compiled?

Builds the full-size XXL (or XL) DiT with seeded random bf16 weights (no checkpoint needed; see
`build_random`), and runs the real sampler (`sample`: CFG as 2 rows per request, Euler) on 10 s
clips: T=500 latents, 80 visual, 240 sync and 20 text tokens. For each batch size and mode it
prints the median time per denoising step (CUDA events, after a warm-up), the seconds of DiT per
clip at `--steps` steps, the peak memory, and the achieved TFLOP/s.

    python benchmarks/hunyuan_dit.py --model xxl --batches 1,4,8,16,32 \
        --modes eager,compile --steps 50
    python benchmarks/hunyuan_dit.py --tiny --device cpu --steps 2 --batches 1,2   # smoke test

"compile" compiles each transformer block in place (`FoleyDiT.compile_blocks`), so it runs after
every eager measurement; the compile time (the first warm-up) is printed per batch size, since
a new batch size may recompile.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from foleyserve.engines.hunyuan.benchmarking import build_random, dit_flops
from foleyserve.engines.hunyuan.config import PRESETS, DiTConfig
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.engines.hunyuan.sampler import SampleRequest, SamplerSettings, sample

TINY = DiTConfig(
    hidden_size=256, num_heads=2, depth_triple_blocks=2, depth_single_blocks=2, name="tiny"
)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
TEXT_TOKENS = 20


@dataclass(frozen=True)
class Shapes:
    """Sequence lengths of one clip, as the official feature extractors give them."""

    latent: int
    visual: int
    sync: int
    text: int

    @classmethod
    def for_seconds(cls, seconds: float) -> Shapes:
        frames_25 = int(seconds * 25)
        return cls(
            latent=int(seconds * 50),
            visual=int(seconds * 8),
            sync=((frames_25 - 16) // 8 + 1) * 8,
            text=TEXT_TOKENS,
        )


@dataclass(frozen=True)
class Result:
    mode: str
    batch: int
    warmup_s: float
    ms_per_step: float
    peak_gib: float | None
    """None off CUDA."""
    tflops: float
    steps: int

    @property
    def dit_s_per_clip(self) -> float:
        return self.ms_per_step * self.steps / 1000 / self.batch


class StepClock:
    """Timestamps taken at each progress callback: CUDA events on a GPU, wall time on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[torch.cuda.Event | float] = []

    def mark(self, _done: int = 0, _total: int = 0) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def step_ms(self) -> list[float]:
        """Durations between consecutive marks (the first step, which includes the per-batch
        preparation, is not measured)."""
        if self.cuda:
            torch.cuda.synchronize()
            events = [m for m in self.marks if isinstance(m, torch.cuda.Event)]
            return [a.elapsed_time(b) for a, b in itertools.pairwise(events)]
        times = [m for m in self.marks if isinstance(m, float)]
        return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


def make_requests(model: FoleyDiT, shapes: Shapes, batch: int, seed: int) -> list[SampleRequest]:
    generator = torch.Generator().manual_seed(seed)
    config = model.config

    def features(length: int, dim: int) -> torch.Tensor:
        return torch.randn((length, dim), generator=generator)

    return [
        SampleRequest(
            text=features(shapes.text, config.text_dim),
            negative_text=features(shapes.text, config.text_dim),
            visual=features(shapes.visual, config.visual_dim),
            sync=features(shapes.sync, config.sync_dim),
            seed=seed + i,
        )
        for i in range(batch)
    ]


def measure(
    model: FoleyDiT, shapes: Shapes, batch: int, mode: str, args: argparse.Namespace
) -> Result:
    device = torch.device(args.device)
    requests = make_requests(model, shapes, batch, args.seed)
    start = time.perf_counter()
    sample(model, requests, shapes.latent, SamplerSettings(args.warmup_steps, args.guidance))
    _synchronize(device)
    warmup_s = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    clock = StepClock(device)
    settings = SamplerSettings(args.steps, args.guidance)
    sample(model, requests, shapes.latent, settings, progress=clock.mark)
    step_ms = clock.step_ms()
    ms = statistics.median(step_ms) if step_ms else float("nan")
    rows = batch * (2 if settings.uses_guidance else 1)
    flops = dit_flops(model.config, shapes.latent, shapes.visual, shapes.sync, shapes.text)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return Result(mode, batch, warmup_s, ms, peak, flops * rows / (ms / 1000) / 1e12, args.steps)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def print_table(results: Sequence[Result], config: DiTConfig, shapes: Shapes, conv: str) -> None:
    flops = dit_flops(config, shapes.latent, shapes.visual, shapes.sync, shapes.text) / 1e12
    print(
        f"\n{config.name} DiT, k=3 convs as {conv}, T={shapes.latent} visual={shapes.visual} "
        f"sync={shapes.sync} text={shapes.text}: {flops:.3f} TFLOP per batch row per step "
        "(x2 rows with CFG)"
    )
    header = f"{'mode':<8} {'batch':>5} {'ms/step':>9} {'s DiT/clip':>10} {'peak GiB':>9}"
    header += f" {'TFLOP/s':>8} {'warm-up s':>10}"
    print(header + "  (warm-up includes compiling)")
    print("-" * len(header))
    for r in results:
        peak = "n/a" if r.peak_gib is None else f"{r.peak_gib:.2f}"
        print(
            f"{r.mode:<8} {r.batch:>5} {r.ms_per_step:>9.1f} {r.dit_s_per_clip:>10.3f} "
            f"{peak:>9} {r.tflops:>8.1f} {r.warmup_s:>10.1f}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", choices=sorted(PRESETS), default="xxl")
    parser.add_argument("--tiny", action="store_true", help="a 2+2-block toy model (smoke test)")
    parser.add_argument("--batches", default="1,4,8,16,32", help="requests per batch, comma list")
    parser.add_argument("--modes", default="eager,compile", help="eager and/or compile")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--guidance", type=float, default=4.5)
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-channels-last",
        action="store_true",
        help="with --conv conv: keep conv weights in the default layout",
    )
    parser.add_argument(
        "--conv",
        choices=["conv", "gemm"],
        help="k=3 convolutions through torch's conv1d (cuDNN on CUDA) or as shifted GEMMs "
        "(default: gemm on CUDA, as the loaders set it up; conv elsewhere)",
    )
    parser.add_argument(
        "--cudnn-benchmark", action="store_true", help="let cuDNN time its conv algorithms"
    )
    args = parser.parse_args(argv)
    args.batch_list = [int(b) for b in args.batches.split(",") if b]
    args.mode_list = [m for m in args.modes.split(",") if m]
    if unknown := set(args.mode_list) - {"eager", "compile"}:
        parser.error(f"unknown modes {sorted(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("No CUDA GPU is available. Use --tiny --device cpu for a smoke test.")
        return 2
    if device.type != "cuda" and not args.tiny:
        print("The full-size DiT benchmark needs a CUDA GPU; on a CPU use --tiny for a smoke test.")
        return 2
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    config = TINY if args.tiny else PRESETS[args.model]
    shapes = Shapes.for_seconds(args.seconds)
    model = build_random(config, args.seed, device, DTYPES[args.dtype])
    args.conv = args.conv or ("gemm" if device.type == "cuda" else "conv")
    model.use_shifted_gemm_convs_(args.conv == "gemm")
    if args.no_channels_last and args.conv == "conv":
        model = _default_layout(model)
    results: list[Result] = []
    for mode in args.mode_list:
        if mode == "compile":
            model.compile_blocks()
        for batch in args.batch_list:
            results.append(measure(model, shapes, batch, mode, args))
            print(f"  {mode} batch {batch}: {results[-1].ms_per_step:.1f} ms/step", flush=True)
    print_table(results, config, shapes, args.conv)
    return 0


def _default_layout(model: FoleyDiT) -> FoleyDiT:
    with torch.no_grad():
        for param in model.parameters():
            param.data = param.data.contiguous()
    return model


if __name__ == "__main__":
    sys.exit(main())
