"""PNG plots of benchmark runs (matplotlib, headless Agg backend, small files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from foleyserve.bench.report import Outcome, Report

DPI = 90


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_cdf(runs: Mapping[str, Sequence[Outcome]], path: Path, title: str) -> None:
    """One curve per run (policy): the fraction of succeeded jobs done within x seconds."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, outcomes in runs.items():
        latency = sorted(x for o in outcomes if o.succeeded and (x := o.latency_s) is not None)
        if latency:
            ax.step(
                latency,
                [(i + 1) / len(latency) for i in range(len(latency))],
                where="post",
                label=name,
            )
    ax.set_xlabel("latency, queued to finished (s)")
    ax.set_ylabel("fraction of jobs")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def load_curves(
    series: Mapping[str, Sequence[tuple[float, Report]]], path: Path, title: str
) -> None:
    """Throughput and p95 against offered load (jobs/min), one line per series."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, points in series.items():
        offered = [rate for rate, _ in points]
        left.plot(offered, [r.overall.throughput_per_min for _, r in points], "o-", label=name)
        right.plot(offered, [r.overall.latency_p95_s for _, r in points], "o-", label=name)
    left.set_xlabel("offered load (jobs/min)")
    left.set_ylabel("throughput (jobs/min)")
    right.set_xlabel("offered load (jobs/min)")
    right.set_ylabel("p95 latency (s)")
    right.set_yscale("log")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
