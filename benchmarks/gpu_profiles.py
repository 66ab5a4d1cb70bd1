"""Write the GPU cost profiles under benchmarks/profiles/ from measured figures.

The DiT step times are the table in docs/benchmarks.md ("HunyuanVideo-Foley DiT (ours), full
XXL size, random weights": one H100 80GB, 10 s clips, 50 steps, CFG as two rows per request).
The per-job terms come from the shared model notes (encoders and DAC about 0.5-1 s per clip
in fp32 as the official code runs them; DAC decode 16 ms per 10 s clip) plus the worker's own
pipeline costs, measured on the CPU by `foleyserve bench profile` with the null engine (pass
that profile as --pipeline). What is estimated rather than measured is said in each profile's
`notes`.

    .venv/bin/python benchmarks/gpu_profiles.py --pipeline /tmp/null.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from foleyserve.bench.profile import CostProfile, DeviceMemory, load_profile, save_profile

GiB = 2**30
H100_MS_PER_STEP = {
    "eager": {1: 134.4, 4: 117.1, 8: 226.4, 16: 430.3, 32: 843.7},
    "compile": {1: 65.8, 4: 74.3, 8: 143.4, 16: 277.2, 32: 549.7},
}
PEAK_GIB = {1: 9.77, 32: 12.34}
"""Eager peak device memory at 1 and 32 requests of 10 s (weights included)."""
WEIGHTS_GIB = 9.65
ENCODERS_GIB = 4.0  # SigLIP2 + CLAP + Synchformer + DAC decoder, fp32 (shared notes, section 8)
ENCODERS_S = 0.5  # per job; the shared notes give 0.5-1 s (fp32, official code)
WEIGHTS_BYTES = int((10.3 + 1.49 + 2.2) * 10**9)  # DiT + DAC-VAE + the three encoders' files


def profile(mode: str, pipeline: CostProfile) -> CostProfile:
    per_request_s = (PEAK_GIB[32] - PEAK_GIB[1]) * GiB / 31 / 10.0
    return CostProfile(
        name=f"h100-hunyuan-xxl-{mode}",
        engine="hunyuan",
        device="NVIDIA H100 80GB HBM3",
        source=(
            "DiT: docs/benchmarks.md H100 table (2026-11-24); pipeline: "
            f"{pipeline.source} ({pipeline.name})"
        ),
        batch_fixed_s=pipeline.batch_fixed_s,
        job_fixed_s=pipeline.job_fixed_s + ENCODERS_S,
        job_per_audio_s=pipeline.job_per_audio_s + 0.0016,  # DAC: 16 ms per 10 s
        steps=50,
        step_ms=H100_MS_PER_STEP[mode],
        step_reference_s=10.0,
        batch_by_duration=True,
        max_batch_size=32,
        memory=DeviceMemory(
            capacity_bytes=80 * 10**9,
            fixed_bytes=int((WEIGHTS_GIB + ENCODERS_GIB) * GiB),
            bytes_per_item_s=per_request_s,
        ),
        host_rss_fixed_bytes=14 * 10**9,
        host_rss_per_job_s_bytes=pipeline.host_rss_per_job_s_bytes,
        weights_bytes=WEIGHTS_BYTES,
        notes=(
            "Measured: DiT ms/step by batch (H100), peak device memory of the DiT, the worker "
            "pipeline on the CPU. Estimated: encoders 0.5 s per job and 4 GiB (shared notes), "
            "host RSS 14 GB (the weights pass through host memory once at load), not measured "
            "on a GPU host."
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipeline", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/profiles"))
    args = parser.parse_args()
    pipeline = load_profile(args.pipeline)
    args.out.mkdir(parents=True, exist_ok=True)
    for mode in H100_MS_PER_STEP:
        p = profile(mode, pipeline)
        save_profile(p, args.out / f"{p.name}.json")
        print(
            f"{p.name}: 10 s clip alone {p.batch_s([10.0]):.2f} s, 16 together "
            f"{p.batch_s([10.0] * 16):.2f} s"
        )


if __name__ == "__main__":
    main()
