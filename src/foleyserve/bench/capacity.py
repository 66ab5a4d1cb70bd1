"""Capacity planning: how many workers of which profile a workload needs, from the simulator.

For each profile and each batch limit that fits its device memory, `plan_capacity` finds the
fewest workers whose simulated p95 latency meets the target, with the fleet on average no
busier than `max_busy`, on the workload (a Poisson trace
at the arrival rate; one trace per call, compressed or stretched in time for other rates, so a
higher rate is the same jobs sooner and the answer moves with the load, not with the dice). It
starts at the count that the offered work needs at full batches and `max_busy`, grows by a
quarter until the target is met, then bisects. It also sizes memory and disk:

- device memory per worker: the profile's memory model at the batch limit and longest clip;
- host RAM per worker: the profile's measured resident memory (idle engine, plus per second of
  audio in flight) beside the seed's rule, RAM = concurrent jobs x 4 GB + 8-16 GB;
- disk: the weights, plus results kept for a day (16-bit 48 kHz stereo wav, 192 kB per second;
  an m4a is about a twelfth of that).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from foleyserve.bench.predict import predict
from foleyserve.bench.profile import CostProfile
from foleyserve.bench.report import Report, aggregate
from foleyserve.bench.workload import Mix, PlannedJob, poisson_trace, scaled
from foleyserve.errors import InvalidInput
from foleyserve.scheduling.policy import BatchPolicy, PolicyName

MAX_WORKERS = 1000
WAV_BYTES_PER_S = 48_000 * 2 * 2
SEED_RULE_PER_JOB_BYTES = 4 * 10**9
SEED_RULE_BASE_BYTES = (8 * 10**9, 16 * 10**9)


@dataclass(frozen=True)
class Workload:
    rate_per_s: float
    mix: Mix
    target_p95_s: float
    jobs: int | None = None
    """How many arrivals the simulator replays per candidate; None: ten minutes of them
    (2,000 to 50,000), so that even a large fleet runs many batches in a row."""
    seed: int = 0
    max_busy: float = 0.85
    """Headroom: a fleet busier than this on average is not recommended, whatever its p95 on
    the simulated trace (a finite trace near saturation flatters p95, and real load wobbles)."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_per_s) and self.rate_per_s > 0):
            raise InvalidInput(
                f"rate must be > 0 jobs/s, got {self.rate_per_s}", code="invalid_rate"
            )
        if not self.target_p95_s > 0:
            raise InvalidInput(
                f"target p95 must be > 0 s, got {self.target_p95_s}", code="invalid_target"
            )
        if self.jobs is not None and self.jobs < 10:
            raise InvalidInput("simulate at least 10 jobs", code="invalid_count")
        if not 0 < self.max_busy <= 1:
            raise InvalidInput(
                f"max busy must be in (0, 1], got {self.max_busy}", code="invalid_target"
            )

    def trace(self) -> list[PlannedJob]:
        count = self.jobs or min(50_000, max(2_000, math.ceil(self.rate_per_s * 600)))
        unit = poisson_trace(1.0, count=count, mix=self.mix, seed=self.seed)
        return scaled(unit, 1.0 / self.rate_per_s)


@dataclass(frozen=True)
class Recommendation:
    profile: str
    device: str
    workers: int | None
    """None: the target cannot be met with up to MAX_WORKERS (or at all: one job alone is
    slower than the target)."""
    max_batch_size: int
    report: Report | None
    device_memory_bytes: int | None
    host_ram_bytes: int | None
    """Measured-profile estimate per worker; None when the profile has no RSS figures."""
    seed_rule_bytes: tuple[int, int]
    """The seed's RAM rule per worker at this batch limit (low, high)."""
    disk_weights_bytes: int
    disk_results_per_day_bytes: int
    usd_per_hour: float | None


def plan_capacity(
    workload: Workload,
    profiles: Sequence[CostProfile],
    *,
    batch_limits: Sequence[int] = (1, 4, 8, 16, 32),
) -> list[Recommendation]:
    """The best batch limit per profile (fewest workers; then the lower p95), cheapest first."""
    if not profiles:
        raise InvalidInput("give at least one cost profile", code="invalid_profile")
    trace = workload.trace()
    longest_s = max(workload.mix.durations_s)
    best = []
    for profile in profiles:
        options = [
            _recommend(profile, b, trace, workload, longest_s)
            for b in _fitting(profile, batch_limits, longest_s)
        ]
        best.append(min(options, key=_rank))
    return sorted(best, key=lambda r: (r.workers is None, r.usd_per_hour or 0, r.workers or 0))


def _rank(r: Recommendation) -> tuple[float, float]:
    p95 = r.report.overall.latency_p95_s if r.report else math.inf
    return (r.workers if r.workers is not None else math.inf, p95)


def _fitting(profile: CostProfile, limits: Sequence[int], longest_s: float) -> list[int]:
    cap = min(profile.max_batch_size, max(limits))
    sizes = [b for b in limits if b <= cap] or [1]
    if profile.memory is None:
        return sizes
    memory = profile.memory
    return [b for b in sizes if memory.bytes_for(b, longest_s) <= memory.capacity_bytes] or [1]


def _recommend(
    profile: CostProfile,
    batch: int,
    trace: Sequence[PlannedJob],
    workload: Workload,
    longest_s: float,
) -> Recommendation:
    policy = BatchPolicy(
        PolicyName.DYNAMIC if batch > 1 else PolicyName.NONE, max_batch_size=batch, fixed_size=1
    )
    workers, report = _fewest_workers(profile, policy, trace, workload)
    memory = profile.memory.bytes_for(batch, longest_s) if profile.memory else None
    host = None
    if profile.host_rss_fixed_bytes is not None:
        per_s = profile.host_rss_per_job_s_bytes or 0.0
        host = int(profile.host_rss_fixed_bytes + per_s * batch * longest_s)
    low, high = SEED_RULE_BASE_BYTES
    mean_s = workload.mix.mean_duration_s
    return Recommendation(
        profile=profile.name,
        device=profile.device,
        workers=workers,
        max_batch_size=batch,
        report=report,
        device_memory_bytes=memory,
        host_ram_bytes=host,
        seed_rule_bytes=(
            batch * SEED_RULE_PER_JOB_BYTES + low,
            batch * SEED_RULE_PER_JOB_BYTES + high,
        ),
        disk_weights_bytes=profile.weights_bytes,
        disk_results_per_day_bytes=int(workload.rate_per_s * 86400 * mean_s * WAV_BYTES_PER_S),
        usd_per_hour=None
        if profile.gpu_hour_usd is None or workers is None
        else profile.gpu_hour_usd * workers,
    )


def _fewest_workers(
    profile: CostProfile, policy: BatchPolicy, trace: Sequence[PlannedJob], workload: Workload
) -> tuple[int | None, Report | None]:
    def meets(n: int) -> Report | None:
        report = aggregate(predict(trace, profile, policy, workers=n))
        meets_p95 = report.overall.latency_p95_s <= workload.target_p95_s
        return report if meets_p95 and report.mean_busy_fraction <= workload.max_busy else None

    longest_s = max(j.duration_s for j in trace)
    if profile.batch_s([longest_s]) > workload.target_p95_s:
        return None, None  # one job alone is slower than the target
    mean_s = workload.mix.mean_duration_s
    per_job_s = profile.batch_s([mean_s] * policy.max_batch_size) / policy.max_batch_size
    low = max(1, math.ceil(workload.rate_per_s * per_job_s / workload.max_busy))
    high, found = low, meets(low)
    while found is None:
        if high >= MAX_WORKERS:
            return None, None
        low, high = high, min(MAX_WORKERS, max(high + 1, math.ceil(high * 1.25)))
        found = meets(high)
    if high == low:
        return high, found
    while high - low > 1:  # `low` fails (or is the lower bound), `high` meets the target
        middle = (low + high) // 2
        report = meets(middle)
        if report is None:
            low = middle
        else:
            high, found = middle, report
    return high, found
