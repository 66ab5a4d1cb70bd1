"""How fast does our HunyuanVideo-Foley DiT denoise, by batch size, eager and compiled?

Builds the full-size XXL (or XL) DiT with seeded random bf16 weights (no checkpoint needed; see
`build_random`), and runs the real sampler (`sample`: CFG as 2 rows per request, Euler) on 10 s
clips: T=500 latents, 80 visual, 240 sync and 20 text tokens. For each batch size and mode it
prints the median time per denoising step (CUDA events, after a warm-up), the seconds of DiT per
clip at `--steps` steps, the peak memory, and the achieved TFLOP/s.

    python benchmarks/hunyuan_dit.py --model xxl --batches 1,4,8,16,32 \
        --modes eager,compile --steps 50 --official .official --check --profile 16
    python benchmarks/hunyuan_dit.py --tiny --device cpu --steps 2 --batches 1,2   # smoke test

"compile" compiles each transformer block in place (`FoleyDiT.compile_blocks`), so it runs after
every eager measurement; the compile time (the first warm-up) is printed per batch size, since
a new batch size may recompile. `--timed-steps N` times N steps rather than all `--steps` (the
cost of a step does not depend on how many follow); seconds per clip still count `--steps`.

`--official DIR` adds the official DiT code, eager, one request, as a row of the same table:
DIR holds its `hunyuanvideo_foley` package (and a stand-in for the two diffusers base classes
it imports); it gets our random weights (same key names) and runs our Euler loop with its
forward. The row is skipped, with a message, when DIR does not hold it. The official code is
never part of this repository. `--check` prints how far the final latents of 50 steps (one
request) in bf16 land from our float32 eager reference path. `--profile N` prints where the GPU
time of one step at N requests goes, by kernel category (torch.profiler).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from foleyserve.engines.hunyuan.benchmarking import build_random, dit_flops
from foleyserve.engines.hunyuan.config import PRESETS, DiTConfig
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.engines.hunyuan.sampler import (
    SampleRequest,
    SamplerSettings,
    flow_sigmas,
    initial_noise,
    sample,
)

TINY = DiTConfig(
    hidden_size=256, num_heads=2, depth_triple_blocks=2, depth_single_blocks=2, name="tiny"
)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
TEXT_TOKENS = 20
OFFICIAL_CONFIG = "configs/hunyuanvideo-foley-xxl.yaml"


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
    """Weights plus the run's activations; None off CUDA."""
    tflops: float
    """Achieved rate counting the official forward's work (3.857 TFLOP per row-step at 10 s)."""
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


def make_requests(config: DiTConfig, shapes: Shapes, batch: int, seed: int) -> list[SampleRequest]:
    generator = torch.Generator().manual_seed(seed)

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


Sampler = Callable[[Sequence[SampleRequest], SamplerSettings, StepClock | None], torch.Tensor]


def ours(model: FoleyDiT, latent_len: int) -> Sampler:
    def run(
        requests: Sequence[SampleRequest], settings: SamplerSettings, clock: StepClock | None
    ) -> torch.Tensor:
        progress = None if clock is None else clock.mark
        return sample(model, requests, latent_len, settings, progress=progress)

    return run


def measure(
    run: Sampler, model: nn.Module, shapes: Shapes, batch: int, mode: str, args: argparse.Namespace
) -> Result:
    device = torch.device(args.device)
    config = args.config
    requests = make_requests(config, shapes, batch, args.seed)
    start = time.perf_counter()
    run(requests, SamplerSettings(args.warmup_steps, args.guidance), None)
    _synchronize(device)
    warmup_s = time.perf_counter() - start
    base_bytes = 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_bytes = torch.cuda.memory_allocated(device)
    clock = StepClock(device)
    settings = SamplerSettings(args.timed_steps or args.steps, args.guidance)
    run(requests, settings, clock)
    step_ms = clock.step_ms()
    ms = statistics.median(step_ms) if step_ms else float("nan")
    rows = batch * (2 if settings.uses_guidance else 1)
    flops = dit_flops(config, shapes.latent, shapes.visual, shapes.sync, shapes.text)
    peak = None
    if device.type == "cuda":
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        peak = (torch.cuda.max_memory_allocated(device) - base_bytes + weights) / 2**30
    return Result(mode, batch, warmup_s, ms, peak, flops * rows / (ms / 1000) / 1e12, args.steps)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------- the official code


def load_official(folder: Path, ours_model: FoleyDiT) -> nn.Module | None:
    """The official `HunyuanVideoFoley` from `folder`, holding `ours_model`'s weights; None
    (with a message) when the folder does not hold the official package."""
    if not (folder / "hunyuanvideo_foley" / "models" / "hifi_foley.py").is_file():
        print(f"official code not found in {folder}: its row is skipped")
        return None
    import yaml  # the device's image has PyYAML; only this optional path needs it

    sys.path.insert(0, str(folder.resolve()))
    from hunyuanvideo_foley.models.hifi_foley import (  # type: ignore[import-not-found]
        HunyuanVideoFoley,
    )

    kwargs = yaml.safe_load((folder / OFFICIAL_CONFIG).read_text())["model_config"]["model_kwargs"]
    c = ours_model.config
    kwargs |= {
        "hidden_size": c.hidden_size,
        "num_heads": c.num_heads,
        "depth_triple_blocks": c.depth_triple_blocks,
        "depth_single_blocks": c.depth_single_blocks,
        "mlp_ratio": c.mlp_ratio,
    }
    weight = ours_model.final_layer.linear.weight
    cfg = SimpleNamespace(model_config=SimpleNamespace(model_kwargs=kwargs))
    with torch.device("meta"):
        official: nn.Module = HunyuanVideoFoley(cfg)
    official.to(weight.dtype).to_empty(device=weight.device)
    result = official.load_state_dict(ours_model.state_dict(), strict=False)
    print(
        f"official model: {len(result.missing_keys)} missing, "
        f"{len(result.unexpected_keys)} unexpected keys: {result.missing_keys[:5]}"
    )
    return official.eval().requires_grad_(False)


def official_sampler(official: nn.Module, config: DiTConfig, latent_len: int) -> Sampler:
    """The official forward in our Euler loop (the official `denoise_process` math: CFG rows
    [uncond, cond], the empty features for uncond, bf16 autocast, float32 latents)."""

    def run(
        requests: Sequence[SampleRequest], settings: SamplerSettings, clock: StepClock | None
    ) -> torch.Tensor:
        weight = next(official.parameters())
        device, dtype = weight.device, weight.dtype
        shape = (config.latent_dim, latent_len)
        x = torch.stack([initial_noise(r.seed, *shape, dtype=dtype) for r in requests]).to(device)
        visual = torch.stack([r.visual for r in requests]).to(device)
        sync = torch.stack([r.sync for r in requests]).to(device)
        text = torch.stack([r.text for r in requests]).to(device)
        negative = torch.stack([r.negative_text for r in requests]).to(device)
        b = len(requests)
        empty_clip: Any = official.get_empty_clip_sequence  # the official model's methods
        empty_sync_of: Any = official.get_empty_sync_sequence
        empty_visual = empty_clip(bs=b, len=visual.shape[1])
        empty_sync = empty_sync_of(bs=b, len=sync.shape[1])
        clip_in = torch.cat([empty_visual.to(visual.dtype), visual])
        sync_in = torch.cat([empty_sync.to(sync.dtype), sync])
        text_in = torch.cat([negative, text])
        sigmas = flow_sigmas(settings.steps)
        autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
        with torch.no_grad(), autocast:
            for step in range(settings.steps):
                x_in = torch.cat([x, x])
                t = (sigmas[step] * 1000).to(device).expand(2 * b)
                out = official(x=x_in, t=t, clip_feat=clip_in, cond=text_in, sync_feat=sync_in)
                uncond, cond = out["x"].float().chunk(2)
                velocity = uncond + settings.guidance_scale * (cond - uncond)
                x = x + velocity * float(sigmas[step + 1] - sigmas[step])
                if clock is not None:
                    clock.mark()
        return x

    return run


# ---------------------------------------------------------------------- equivalence, profile


def reference_copy(model: FoleyDiT) -> FoleyDiT:
    """A float32 copy of `model` on its device, eager, on the reference path (torch's conv1d,
    modulation per latent): what every fast path is compared against."""
    device = model.final_layer.linear.weight.device
    with torch.device("meta"):
        reference = FoleyDiT(model.config)
    reference.to_empty(device=device)
    reference.load_state_dict(model.state_dict())
    reference.modulation_at_sync_rate = False
    return reference.eval().requires_grad_(False)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def check(
    model: FoleyDiT, official: nn.Module | None, shapes: Shapes, args: argparse.Namespace
) -> dict[str, float]:
    """Relative error of the final latents (one request, `--steps` steps, CFG) against our
    float32 eager reference path, with TF32 off."""
    requests = make_requests(model.config, shapes, 1, args.seed + 100)
    settings = SamplerSettings(args.steps, args.guidance)
    fast = ours(model, shapes.latent)(requests, settings, None)
    off = None
    if official is not None:
        off = official_sampler(official, model.config, shapes.latent)(requests, settings, None)
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        reference = reference_copy(model)
        exact = ours(reference, shapes.latent)(requests, settings, None)
        del reference
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    label = f"ours {args.dtype} {args.conv} {args.modulation}-rate {args.mode_list[-1]}"
    errors = {f"{label} vs ours fp32 reference": relative_error(fast, exact)}
    if off is not None:
        errors[f"official {args.dtype} eager vs ours fp32 reference"] = relative_error(off, exact)
        errors[f"official {args.dtype} eager vs {label}"] = relative_error(off, fast)
    return errors


CATEGORIES = [
    ("attention", ("flash", "fmha", "attention", "sdpa")),
    ("layout transform", ("nchw", "nhwc", "transpose")),
    ("convolution", ("conv", "cudnn", "implicit")),
    ("GEMM", ("gemm", "cutlass", "nvjet", "xmma", "cublas", "matmul", "sm90")),
    ("fused elementwise/norm (Triton)", ("triton",)),
    ("elementwise/copy (ATen)", ("elementwise", "copy", "cat", "index", "reduce", "norm")),
]


def profile(
    model: FoleyDiT, shapes: Shapes, batch: int, args: argparse.Namespace
) -> dict[str, Any]:
    """GPU time of two denoising steps at `batch` requests by kernel category."""
    from torch.autograd import DeviceType  # type: ignore[attr-defined]
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    requests = make_requests(model.config, shapes, batch, args.seed)
    run = ours(model, shapes.latent)
    settings = SamplerSettings(2, args.guidance)
    run(requests, settings, None)
    torch.cuda.synchronize()
    with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
        run(requests, settings, None)
        torch.cuda.synchronize()
    totals: dict[str, float] = {}
    kernels: dict[str, float] = {}
    for event in prof.events():
        if event.device_type != DeviceType.CUDA:
            continue
        name = event.name.lower()
        us = float(event.device_time_total)
        category = next((c for c, keys in CATEGORIES if any(k in name for k in keys)), "other")
        totals[category] = totals.get(category, 0.0) + us
        kernels[event.name[:90]] = kernels.get(event.name[:90], 0.0) + us
    total = sum(totals.values()) or 1.0
    print(f"\nprofile: 2 steps at {batch} requests, {total / 2000:.1f} ms GPU time per step")
    for category, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {category:<34} {us / 2000:8.1f} ms/step {100 * us / total:5.1f}%")
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[:12]
    for name, us in top:
        print(f"    {us / 2000:7.2f} ms  {name}")
    return {"batch": batch, "ms_per_step": totals, "top_kernels": top}


# ---------------------------------------------------------------------- output


def print_table(results: Sequence[Result], config: DiTConfig, shapes: Shapes, args: Any) -> None:
    flops = dit_flops(config, shapes.latent, shapes.visual, shapes.sync, shapes.text) / 1e12
    print(
        f"\n{config.name} DiT, k=3 convs {args.conv}, modulation at {args.modulation} rate, "
        f"T={shapes.latent} visual={shapes.visual} sync={shapes.sync} text={shapes.text}: "
        f"{flops:.3f} TFLOP per batch row per step (x2 rows with CFG)"
    )
    header = f"{'mode':<14} {'batch':>5} {'ms/step':>9} {'s DiT/clip':>10} {'peak GiB':>9}"
    header += f" {'TFLOP/s':>8} {'warm-up s':>10}"
    print(header + "  (warm-up includes compiling)")
    print("-" * len(header))
    for r in results:
        peak = "n/a" if r.peak_gib is None else f"{r.peak_gib:.2f}"
        print(
            f"{r.mode:<14} {r.batch:>5} {r.ms_per_step:>9.1f} {r.dit_s_per_clip:>10.3f} "
            f"{peak:>9} {r.tflops:>8.1f} {r.warmup_s:>10.1f}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", choices=sorted(PRESETS), default="xxl")
    parser.add_argument("--tiny", action="store_true", help="a 2+2-block toy model (smoke test)")
    parser.add_argument("--batches", default="1,4,8,16,32", help="requests per batch, comma list")
    parser.add_argument("--modes", default="eager,compile", help="eager and/or compile")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--timed-steps", type=int, default=0, help="steps timed (0: --steps)")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--guidance", type=float, default=4.5)
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--conv",
        choices=["conv", "gemm", "fused"],
        help="k=3 convolutions through torch's conv1d, as one GEMM per tap, or as one GEMM "
        "each (`FoleyDiT.set_conv_mode_`; default: fused on CUDA, as the loaders set it up)",
    )
    parser.add_argument(
        "--modulation",
        choices=["sync", "latent"],
        default="sync",
        help="single blocks' per-token modulation once per sync token (default) or per latent",
    )
    parser.add_argument("--official", type=Path, help="folder holding the official code")
    parser.add_argument("--check", action="store_true", help="equivalence of the final latents")
    parser.add_argument("--profile", type=int, default=0, help="profile a step at N requests")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--cudnn-benchmark", action="store_true", help="let cuDNN time its conv algorithms"
    )
    args = parser.parse_args(argv)
    args.batch_list = [int(b) for b in args.batches.split(",") if b]
    args.mode_list = [m for m in args.modes.split(",") if m]
    if unknown := set(args.mode_list) - {"eager", "compile"}:
        parser.error(f"unknown modes {sorted(unknown)}")
    return args


def _stage(name: str, work: Callable[[], Any]) -> Any:
    """Run one optional stage; a failure is printed and the others still run."""
    try:
        return work()
    except Exception:  # a benchmark reports what broke and goes on
        print(f"stage {name} failed:\n{traceback.format_exc()}", flush=True)
        return None


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
    for limit in ("cache_size_limit", "recompile_limit"):  # variants recompile the blocks
        if hasattr(torch._dynamo.config, limit):
            setattr(torch._dynamo.config, limit, 64)
    args.config = TINY if args.tiny else PRESETS[args.model]
    shapes = Shapes.for_seconds(args.seconds)
    model = build_random(args.config, args.seed, device, DTYPES[args.dtype])
    args.conv = args.conv or ("fused" if device.type == "cuda" else "conv")
    model.set_conv_mode_(args.conv)
    model.modulation_at_sync_rate = args.modulation == "sync"
    report: dict[str, Any] = {"device": _device_name(device), "torch": torch.__version__}
    results: list[Result] = []
    official = load_official(args.official, model) if args.official else None
    if official is not None:
        run = official_sampler(official, args.config, shapes.latent)
        result = _stage(
            "official", lambda: measure(run, official, shapes, 1, "official eager", args)
        )
        results += [result] if result else []
    for mode in args.mode_list:
        if mode == "compile":
            model.compile_blocks()
        for batch in args.batch_list:
            results.append(measure(ours(model, shapes.latent), model, shapes, batch, mode, args))
            print(f"  {mode} batch {batch}: {results[-1].ms_per_step:.1f} ms/step", flush=True)
    if args.profile and device.type == "cuda":
        report["profile"] = _stage("profile", lambda: profile(model, shapes, args.profile, args))
    if args.check:
        report["relative_error"] = _stage("check", lambda: check(model, official, shapes, args))
        for label, error in (report["relative_error"] or {}).items():
            print(f"relative error of the final latents, {label}: {error:.2e}")
    print_table(results, args.config, shapes, args)
    if args.json:
        report["rows"] = [asdict(r) | {"dit_s_per_clip": r.dit_s_per_clip} for r in results]
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


if __name__ == "__main__":
    sys.exit(main())
