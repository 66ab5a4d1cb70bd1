"""Rich tables of benchmark figures (the CLI prints them; tests read their cells)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.table import Table

from foleyserve.bench.predict import Comparison, ScalingRow
from foleyserve.bench.report import Report


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value * 100:.0f}%"


def report_table(report: Report, title: str = "") -> Table:
    table = Table(title=title or None)
    for column in (
        "priority",
        "jobs",
        "ok",
        "success",
        "p50 s",
        "p95 s",
        "p99 s",
        "mean s",
        "queue mean s",
        "queue p95 s",
        "run mean s",
        "jobs/min",
    ):
        table.add_column(column, justify="left" if column == "priority" else "right")
    for r in report.rows:
        table.add_row(
            r.group,
            str(r.jobs),
            str(r.succeeded),
            _pct(r.success_rate),
            _s(r.latency_p50_s),
            _s(r.latency_p95_s),
            _s(r.latency_p99_s),
            _s(r.latency_mean_s),
            _s(r.queue_wait_mean_s),
            _s(r.queue_wait_p95_s),
            _s(r.run_mean_s),
            f"{r.throughput_per_min:.1f}",
        )
    return table


def summary_lines(report: Report, gpu_percent: float | None = None) -> list[str]:
    busy = ", ".join(f"{w} {_pct(f)}" for w, f in sorted(report.busy_fraction.items()))
    sizes = ", ".join(f"{s}: {n}" for s, n in sorted(report.batch_sizes.items()))
    lines = [
        f"span {report.span_s:.1f} s; engine busy {busy or '-'}",
        f"batch sizes (size: batches) {sizes or '-'}; mean {_s(report.mean_batch_size)}",
    ]
    if gpu_percent is not None:
        lines.append(f"GPU utilisation (nvidia-smi mean) {gpu_percent:.0f}%")
    if report.errors:
        lines.append("not succeeded: " + ", ".join(f"{k} {v}" for k, v in report.errors.items()))
    return lines


def policy_table(
    rows: Sequence[tuple[str, Report, float | None]], title: str = "", measured: bool = True
) -> Table:
    """The seed's shape: policy, avg latency, p95, throughput, utilisation, success rate."""
    table = Table(title=title or None)
    for column in (
        "policy",
        "avg latency s",
        "p95 s",
        "throughput tasks/min",
        "engine busy" if measured else "predicted busy",
        "GPU util",
        "mean batch",
        "success",
    ):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for policy, report, gpu in rows:
        r = report.overall
        table.add_row(
            policy,
            _s(r.latency_mean_s),
            _s(r.latency_p95_s),
            f"{r.throughput_per_min:.1f}",
            _pct(report.mean_busy_fraction),
            "-" if gpu is None else f"{gpu:.0f}%",
            _s(report.mean_batch_size),
            _pct(r.success_rate),
        )
    return table


def validation_table(rows: Sequence[tuple[str, Comparison]]) -> Table:
    table = Table(title="simulator against the measured run (same trace)")
    for column in (
        "policy",
        "throughput measured",
        "predicted",
        "error",
        "p95 s measured",
        "predicted",
        "error",
    ):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for policy, c in rows:
        table.add_row(
            policy,
            f"{c.measured_throughput_per_min:.1f}",
            f"{c.predicted_throughput_per_min:.1f}",
            f"{c.throughput_error * 100:+.1f}%",
            _s(c.measured_p95_s),
            _s(c.predicted_p95_s),
            f"{c.p95_error * 100:+.1f}%",
        )
    return table


def scaling_table(rows: Sequence[ScalingRow], title: str = "") -> Table:
    table = Table(title=title or None)
    for column in ("workers", "throughput jobs/min", "p95 s", "busy per worker", "scaling"):
        table.add_column(column, justify="right")
    base = rows[0].report
    for row in rows:
        r = row.report.overall
        table.add_row(
            str(row.workers),
            f"{r.throughput_per_min:.1f}",
            _s(r.latency_p95_s),
            _pct(row.report.mean_busy_fraction),
            f"{row.factor(base):.2f}x",
        )
    return table
