"""Predict a run: the workload through the discrete-event simulator, with a measured profile.

`predict` turns `PlannedJob`s into the simulator's arrivals, prices every batch with the
profile, lets the simulator drive the same pure `plan_batch` the workers run (the worker's poll
interval included), and returns the same `Outcome`s a real run gives, so `report.aggregate`
reads both alike. `compare` states how far a prediction is from a measurement; `scaling` is
the table of 1..N workers on one trace.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from foleyserve.bench.profile import CostProfile
from foleyserve.bench.report import SUCCEEDED, Outcome, Report, aggregate
from foleyserve.bench.workload import PlannedJob, scaled
from foleyserve.scheduling.policy import BatchPolicy
from foleyserve.scheduling.simulate import Arrival, BatchTimeFn, simulate

DEFAULT_POLL_S = 0.2
"""`FOLEYSERVE_POLL_INTERVAL_S`'s default."""


def predict(
    jobs: Sequence[PlannedJob],
    profile: CostProfile,
    policy: BatchPolicy,
    *,
    workers: int = 1,
    poll_interval_s: float | None = DEFAULT_POLL_S,
    seed: int = 0,
) -> list[Outcome]:
    """One `Outcome` per job, in workload order (times on the workload's clock). With a
    profile's `jitter`, each batch's cost is the model's times a ratio drawn with `seed`."""
    arrivals = [
        Arrival(
            job_id=str(i),
            at_s=j.at_s,
            duration_s=j.duration_s,
            tenant=j.tenant,
            priority=j.priority,
            batch_key=j.duration_s if profile.batch_by_duration else "any",
            cost_s=j.duration_s,  # what the worker charges: seconds of audio
        )
        for i, j in enumerate(jobs)
    ]
    result = simulate(
        arrivals,
        policy,
        workers=workers,
        service_time_s=profile.service_time_s,
        batch_time_s=_with_jitter(profile, seed),
        memory_model=profile.memory if policy.memory_budget_bytes is not None else None,
        poll_interval_s=poll_interval_s,
    )
    outcomes = []
    for i, j in enumerate(jobs):
        run = result.jobs.get(str(i))
        if run is None:
            state = "failed" if str(i) in result.unfit else "expired"
            outcomes.append(Outcome(j.priority, j.tenant, j.duration_s, state, state))
            continue
        batch = result.batches[run.batch]
        outcomes.append(
            Outcome(
                priority=j.priority,
                tenant=j.tenant,
                duration_s=j.duration_s,
                state=SUCCEEDED,
                created_s=run.arrived_s,
                started_s=run.started_s,
                finished_s=run.finished_s,
                batch_size=len(batch.job_ids),
                batch_id=str(run.batch),
                worker_id=f"w{batch.worker}",
            )
        )
    return outcomes


def _with_jitter(profile: CostProfile, seed: int) -> BatchTimeFn:
    if not profile.jitter:
        return profile.batch_s
    rng = random.Random(seed)
    ratios = list(profile.jitter)

    def batch_s(durations_s: Sequence[float]) -> float:
        return profile.batch_s(durations_s) * rng.choice(ratios)

    return batch_s


@dataclass(frozen=True)
class Comparison:
    measured_throughput_per_min: float
    predicted_throughput_per_min: float
    measured_p95_s: float
    predicted_p95_s: float

    @property
    def throughput_error(self) -> float:
        """(predicted - measured) / measured."""
        return _relative(self.predicted_throughput_per_min, self.measured_throughput_per_min)

    @property
    def p95_error(self) -> float:
        return _relative(self.predicted_p95_s, self.measured_p95_s)

    def within(self, tolerance: float) -> bool:
        return abs(self.throughput_error) <= tolerance and abs(self.p95_error) <= tolerance


def compare(measured: Report, predicted: Report) -> Comparison:
    return Comparison(
        measured.overall.throughput_per_min,
        predicted.overall.throughput_per_min,
        measured.overall.latency_p95_s,
        predicted.overall.latency_p95_s,
    )


def _relative(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured if measured else math.inf


@dataclass(frozen=True)
class ScalingRow:
    workers: int
    report: Report

    def factor(self, base: Report) -> float:
        """Throughput against the first row's."""
        return self.report.overall.throughput_per_min / base.overall.throughput_per_min


def scaling(
    jobs: Sequence[PlannedJob],
    profile: CostProfile,
    policy: BatchPolicy,
    worker_counts: Sequence[int],
    *,
    per_worker: bool = False,
) -> list[ScalingRow]:
    """The same trace on each number of workers; `per_worker`: at n workers the trace runs n
    times as fast (the same load per worker: weak scaling), so the scaling factor is the
    throughput gained when the load grows with the fleet."""
    return [
        ScalingRow(
            n,
            aggregate(
                predict(scaled(jobs, 1 / n) if per_worker else jobs, profile, policy, workers=n)
            ),
        )
        for n in worker_counts
    ]
