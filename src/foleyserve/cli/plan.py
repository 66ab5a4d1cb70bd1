"""`foleyserve plan`: workers, batch limit, memory and disk for a workload, from profiles."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from foleyserve.bench.capacity import Recommendation
from foleyserve.cli.common import print_json, reported_errors

DEFAULT_PROFILES = Path("benchmarks/profiles")
GB = 10**9


def _gb(value: int | None) -> str:
    return "-" if value is None else f"{value / GB:.1f}"


def plan(
    rate: Annotated[float, typer.Option(help="Arrivals, jobs per second.")],
    p95: Annotated[float, typer.Option("--p95", help="Target p95 latency, seconds.")],
    durations: Annotated[str, typer.Option(help="Clip durations s with weights: 5:1,10:2.")] = (
        "8:1,10:1"
    ),
    profile: Annotated[
        list[Path] | None,
        typer.Option(help="Cost profiles (JSON); default every file in benchmarks/profiles/."),
    ] = None,
    batch_limits: Annotated[str, typer.Option(help="Batch limits to try.")] = "1,4,8,16,32",
    jobs: Annotated[
        int | None, typer.Option(help="Arrivals simulated per candidate (default: 10 minutes).")
    ] = None,
    max_busy: Annotated[float, typer.Option(help="Busiest average a fleet may run at.")] = 0.85,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recommend device type and count, batch limit, RAM and disk for a workload."""
    from foleyserve.bench.capacity import Workload, plan_capacity
    from foleyserve.bench.profile import load_profile
    from foleyserve.bench.workload import mix_from_options
    from foleyserve.errors import InvalidInput

    with reported_errors(as_json=as_json):
        paths = profile or sorted(DEFAULT_PROFILES.glob("*.json"))
        if not paths:
            raise InvalidInput("no cost profiles: pass --profile FILE", code="invalid_profile")
        profiles = [load_profile(p) for p in paths]
        try:
            limits = [int(x) for x in batch_limits.split(",")]
        except ValueError:
            raise InvalidInput(f"--batch-limits: {batch_limits!r}", code="invalid_option") from None
        mix = mix_from_options(durations, "normal", "local", None)
        workload = Workload(rate, mix, p95, jobs=jobs, max_busy=max_busy)
        recs = plan_capacity(workload, profiles, batch_limits=limits)
        if as_json:
            print_json({"recommendations": [_json_row(r) for r in recs]})
            return
        Console(width=160).print(
            _table(recs, f"{rate:g} jobs/s of {durations} s clips, p95 <= {p95:g} s")
        )


def _table(recs: list[Recommendation], title: str) -> Table:
    table = Table(title=title)
    for column in (
        "profile",
        "workers",
        "max batch",
        "p95 s",
        "jobs/min",
        "busy",
        "device GB/worker",
        "RAM GB/worker (profile)",
        "RAM GB (seed rule)",
        "disk: results GB/day",
        "$/hour",
    ):
        table.add_column(
            column,
            justify="left" if column == "profile" else "right",
            no_wrap=column == "profile",
        )
    for r in recs:
        overall = r.report.overall if r.report else None
        table.add_row(
            r.profile,
            "unreachable" if r.workers is None else str(r.workers),
            str(r.max_batch_size),
            "-" if overall is None else f"{overall.latency_p95_s:.2f}",
            "-" if overall is None else f"{overall.throughput_per_min:.0f}",
            "-" if r.report is None else f"{r.report.mean_busy_fraction:.0%}",
            _gb(r.device_memory_bytes),
            _gb(r.host_ram_bytes),
            f"{r.seed_rule_bytes[0] / GB:.0f}-{r.seed_rule_bytes[1] / GB:.0f}",
            _gb(r.disk_results_per_day_bytes),
            "-" if r.usd_per_hour is None else f"{r.usd_per_hour:.0f}",
        )
    return table


def _json_row(r: object) -> dict[str, object]:
    from foleyserve.bench.capacity import Recommendation

    assert isinstance(r, Recommendation)
    overall = r.report.overall if r.report else None
    return {
        "profile": r.profile,
        "device": r.device,
        "workers": r.workers,
        "max_batch_size": r.max_batch_size,
        "p95_s": overall.latency_p95_s if overall else None,
        "throughput_per_min": overall.throughput_per_min if overall else None,
        "busy_fraction": r.report.mean_busy_fraction if r.report else None,
        "device_memory_bytes": r.device_memory_bytes,
        "host_ram_bytes": r.host_ram_bytes,
        "seed_rule_bytes": list(r.seed_rule_bytes),
        "disk_results_per_day_bytes": r.disk_results_per_day_bytes,
        "usd_per_hour": None
        if r.usd_per_hour is None or math.isnan(r.usd_per_hour)
        else r.usd_per_hour,
    }
