"""`foleyserve bench policies`: run the policy table, and (with a profile) the simulator's
prediction of the same trace beside it, with the validation figure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from foleyserve.bench.policies import PolicyRun, run_policies
from foleyserve.bench.predict import Comparison, compare, predict
from foleyserve.bench.profile import CostProfile, fit_from_run, load_profile
from foleyserve.bench.report import Outcome, Report, aggregate
from foleyserve.bench.tables import policy_table, summary_lines, validation_table
from foleyserve.bench.workload import PlannedJob
from foleyserve.cli.bench import progress_bars
from foleyserve.cli.common import print_json, stderr
from foleyserve.errors import InvalidInput
from foleyserve.scheduling.policy import BatchPolicy, PolicyName
from foleyserve.settings import Settings

VALIDATION_TOLERANCE = 0.15


def policy_of(name: str, settings: Settings) -> BatchPolicy:
    """The policy a bench server runs, from the same settings (FOLEYSERVE_*) it reads."""
    return BatchPolicy(
        PolicyName(name),
        fixed_size=settings.fixed_batch_size,
        max_wait_ms=settings.max_batch_wait_ms,
        max_batch_size=settings.max_batch_size,
        aging_s=settings.aging_s,
    )


def run_policy_command(
    jobs: Sequence[PlannedJob],
    policies: Sequence[str],
    *,
    workers: int,
    profile: Path | None,
    fit_from: str,
    work_dir: Path,
    plots: Path | None,
    save: Path | None,
    steps: int | None,
    as_json: bool,
) -> None:
    with progress_bars(not as_json) as bar:
        runs = run_policies(
            jobs, work_dir, policies=policies, workers=workers, steps=steps, progress=bar
        )
    if save is not None:
        save.write_text(json.dumps(_saved(runs), indent=1, default=str))
    if plots is not None:
        from foleyserve.bench.plots import latency_cdf

        title = f"latency CDF per policy, {len(jobs)} jobs, {workers} worker(s)"
        latency_cdf({r.policy: r.outcomes for r in runs}, plots, title)
    try:
        cost: CostProfile | None = _profile(runs, profile, fit_from)
    except InvalidInput as e:
        stderr.print(f"no prediction: {e.message}")
        cost = None
    predicted = _predictions(runs, jobs, cost, workers) if cost is not None else []
    if as_json:
        print_json(_json(runs, predicted))
    else:
        _print(runs, predicted, cost, len(jobs), workers)
        stderr.print(f"servers' data and logs under {work_dir}")


Prediction = tuple[str, Report, Comparison]


def _predictions(
    runs: Sequence[PolicyRun], jobs: Sequence[PlannedJob], cost: CostProfile, workers: int
) -> list[Prediction]:
    """Each run's trace, as the server recorded its arrivals, through the simulator."""
    settings = Settings()
    predicted = []
    for run in runs:
        arrived = as_arrived(jobs, run.outcomes)
        policy = policy_of(run.policy, settings)
        outcomes = predict(
            arrived, cost, policy, workers=workers, poll_interval_s=settings.poll_interval_s
        )
        sim = aggregate(outcomes)
        predicted.append((run.policy, sim, compare(run.report, sim)))
    return predicted


def _json(runs: Sequence[PolicyRun], predicted: Sequence[Prediction]) -> dict[str, object]:
    return {
        "runs": [
            {"policy": r.policy, "peak_rss_bytes": r.peak_rss_bytes, "gpu_percent": r.gpu_percent}
            | r.report.to_json()
            for r in runs
        ],
        "validation": [
            {"policy": p, "throughput_error": c.throughput_error, "p95_error": c.p95_error}
            for p, _, c in predicted
        ],
    }


def _print(
    runs: Sequence[PolicyRun],
    predicted: Sequence[Prediction],
    cost: CostProfile | None,
    count: int,
    workers: int,
) -> None:
    out = Console(width=120)
    rows = [(r.policy, r.report, r.gpu_percent) for r in runs]
    out.print(policy_table(rows, f"measured: {count} jobs, {workers} worker(s)"))
    for r in runs:
        out.print(
            f"[bold]{r.policy}[/]: peak RSS {r.peak_rss_bytes / 2**20:.0f} MiB"
            f" (extra workers {r.worker_peak_rss_bytes / 2**20:.0f} MiB); "
            + "; ".join(summary_lines(r.report, r.gpu_percent))
        )
    if cost is None or not predicted:
        return
    out.print(f"simulator profile: {cost.name} ({cost.source})")
    sims = [(p, sim, None) for p, sim, _ in predicted]
    out.print(policy_table(sims, "predicted by the simulator", measured=False))
    out.print(validation_table([(p, c) for p, _, c in predicted]))
    ok = all(c.within(VALIDATION_TOLERANCE) for _, _, c in predicted)
    verdict = "within" if ok else "NOT within"
    out.print(f"validation: {verdict} {VALIDATION_TOLERANCE:.0%} on throughput and p95")


def _profile(runs: Sequence[PolicyRun], path: Path | None, fit_from: str) -> CostProfile:
    """The given profile, or one fitted to the batches of the `fit_from` policy's run."""
    if path is not None:
        return load_profile(path)
    source = next((r for r in runs if r.policy == fit_from), None)
    if source is None:
        raise InvalidInput(f"--fit-from {fit_from}: that policy was not run", code="invalid_option")
    return fit_from_run(
        source.outcomes,
        name=f"fitted to the {fit_from} run",
        engine=Settings().engine,
        device="this machine",
        source=f"batches of the {fit_from} run",
    )


def as_arrived(jobs: Sequence[PlannedJob], outcomes: Sequence[Outcome]) -> list[PlannedJob]:
    """The workload with each job's arrival at the time the server recorded it (relative to
    the first): what the server was actually offered, client and network delays included.
    Jobs the server never recorded keep their planned time."""
    created = [o.created_s for o in outcomes if o.created_s is not None]
    if not created:
        return list(jobs)
    first = min(created)
    return sorted(
        (
            replace(j, at_s=o.created_s - first) if o.created_s is not None else j
            for j, o in zip(jobs, outcomes, strict=True)
        ),
        key=lambda j: j.at_s,
    )


def _saved(runs: Sequence[PolicyRun]) -> list[dict[str, object]]:
    return [
        {
            "policy": r.policy,
            "peak_rss_bytes": r.peak_rss_bytes,
            "worker_peak_rss_bytes": r.worker_peak_rss_bytes,
            "gpu_percent": r.gpu_percent,
            "outcomes": [o.__dict__ for o in r.outcomes],
        }
        for r in runs
    ]
