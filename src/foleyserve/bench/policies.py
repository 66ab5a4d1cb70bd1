"""The policy table: one arrival trace against `none`, `fixed` and `dynamic`, one machine.

For each policy a fresh `foleyserve serve` starts (its own port and data directory, the same
engine and settings but `FOLEYSERVE_BATCH_POLICY`), the load generator replays the trace, and
the run's `Report`, the server's peak resident memory and the GPU utilisation (where there is a
GPU) are kept. Engine-agnostic: `FOLEYSERVE_ENGINE` and every other setting come from `env`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from foleyserve.bench.gpu import GpuSampler
from foleyserve.bench.load import LoadOptions, ProgressFn, run_load
from foleyserve.bench.report import Outcome, Report, aggregate
from foleyserve.bench.server import BenchServer
from foleyserve.bench.workload import PlannedJob

POLICIES = ("none", "fixed", "dynamic")


@dataclass(frozen=True)
class PolicyRun:
    policy: str
    outcomes: list[Outcome]
    report: Report
    peak_rss_bytes: int
    worker_peak_rss_bytes: int
    gpu_percent: float | None


def run_policies(
    jobs: Sequence[PlannedJob],
    work_dir: Path,
    *,
    policies: Sequence[str] = POLICIES,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    drain_s: float = 300.0,
    steps: int | None = None,
    progress: Callable[[str], ProgressFn] | None = None,
) -> list[PolicyRun]:
    """Run `jobs` once per policy; `workers` worker processes in all (the embedded one plus
    `workers - 1` `foleyserve worker`s on the same SQLite store). `progress(policy)` returns
    the progress callback for that policy's run."""
    runs = []
    for policy in policies:
        overrides = dict(env or {}) | {"FOLEYSERVE_BATCH_POLICY": policy}
        data_dir = work_dir / f"{policy}-{workers}w"
        with BenchServer(data_dir, overrides, workers=workers - 1) as server, GpuSampler() as gpu:
            outcomes = run_load(
                jobs,
                LoadOptions(base_url=server.url, api_keys={}, drain_s=drain_s, steps=steps),
                progress=progress(policy) if progress else None,
            )
        runs.append(
            PolicyRun(
                policy,
                outcomes,
                aggregate(outcomes),
                server.peak_rss_bytes,
                server.worker_peak_rss_bytes,
                gpu.mean_percent,
            )
        )
    return runs
