"""Predicted policy table and plots for a cost profile: none, fixed (2) and dynamic, one worker.

Prints the seed-shaped table at one offered load and writes two PNGs: the latency CDF per
policy at that load, and throughput and p95 against offered load (a sweep of rates). Every
figure comes from the simulator driving `plan_batch` with the profile; nothing here ran on a
GPU.

    .venv/bin/python benchmarks/policy_curves.py \
        --profile benchmarks/profiles/h100-hunyuan-xxl-compile.json --rate 0.3 --out docs/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from foleyserve.bench.plots import latency_cdf, load_curves
from foleyserve.bench.predict import predict
from foleyserve.bench.profile import load_profile
from foleyserve.bench.report import Report, aggregate
from foleyserve.bench.tables import policy_table
from foleyserve.bench.workload import Mix, poisson_trace, scaled
from foleyserve.scheduling.policy import BatchPolicy, PolicyName

POLICIES = {
    "none": BatchPolicy(PolicyName.NONE),
    "fixed": BatchPolicy(PolicyName.FIXED, fixed_size=2, max_batch_size=32),
    "dynamic": BatchPolicy(PolicyName.DYNAMIC, max_batch_size=32),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=0.3, help="jobs/s for the table")
    parser.add_argument("--sweep", default="0.05,0.1,0.2,0.3,0.5,0.8,1.2")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    profile = load_profile(args.profile)
    unit = poisson_trace(1.0, count=args.count, mix=Mix(durations_s={args.duration: 1.0}))
    at_rate = scaled(unit, 1 / args.rate)
    outcomes = {name: predict(at_rate, profile, p) for name, p in POLICIES.items()}
    rows = [(name, aggregate(o), None) for name, o in outcomes.items()]
    title = f"{profile.name}: {args.rate:g} jobs/s of {args.duration:g} s clips, 1 worker"
    Console(width=120).print(policy_table(rows, f"predicted, {title}", measured=False))
    args.out.mkdir(parents=True, exist_ok=True)
    latency_cdf(outcomes, args.out / f"{profile.name}-latency-cdf.png", f"predicted, {title}")
    series: dict[str, list[tuple[float, Report]]] = {name: [] for name in POLICIES}
    for rate in (float(x) for x in args.sweep.split(",")):
        trace = scaled(unit, 1 / rate)
        for name, p in POLICIES.items():
            series[name].append((rate * 60, aggregate(predict(trace, profile, p))))
    load_curves(series, args.out / f"{profile.name}-load.png",
                f"predicted, {profile.name}, {args.duration:g} s clips, 1 worker")  # fmt: skip


if __name__ == "__main__":
    main()
