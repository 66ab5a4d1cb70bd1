"""What a benchmark run measured: one `Outcome` per job, aggregated into a `Report`.

Real runs (`bench.load`) and simulated ones (`bench.predict`) both produce `Outcome`s, so one
aggregation gives both their figures and they compare like for like. Times are seconds on one
clock: the server's (unix) for real runs, the simulation's for predicted ones. A job's latency
is `finished_s - created_s` (queued to finished, as the server recorded it), its queue wait
`started_s - created_s`, its run time `finished_s - started_s`.

Engine busy fraction: a batch occupies its worker from its jobs' common `started_s` to the last
of their `finished_s`; a worker's busy time is the union of its batches' intervals, divided by
the run's span (first job created to last job finished).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from foleyserve.jobs.model import Priority

SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class Outcome:
    """How one planned job went."""

    priority: Priority
    tenant: str
    duration_s: float
    state: str
    """The job's final state (`succeeded`, `failed`, ...), `rejected` when the submission was
    refused, or `unfinished` when the run ended first."""
    error_code: str | None = None
    created_s: float | None = None
    started_s: float | None = None
    finished_s: float | None = None
    batch_size: int | None = None
    batch_id: str | None = None
    worker_id: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED

    @property
    def latency_s(self) -> float | None:
        if self.created_s is None or self.finished_s is None:
            return None
        return self.finished_s - self.created_s

    @property
    def queue_wait_s(self) -> float | None:
        if self.created_s is None or self.started_s is None:
            return None
        return self.started_s - self.created_s

    @property
    def run_s(self) -> float | None:
        if self.started_s is None or self.finished_s is None:
            return None
        return self.finished_s - self.started_s


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) by linear interpolation between closest ranks (numpy's
    default); NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class Row:
    """The figures of one priority (or `all`)."""

    group: str
    jobs: int
    succeeded: int
    success_rate: float
    latency_mean_s: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    queue_wait_mean_s: float
    queue_wait_p95_s: float
    run_mean_s: float
    throughput_per_min: float
    """Succeeded jobs per minute of the run's span."""


@dataclass(frozen=True)
class Report:
    rows: tuple[Row, ...]
    """One per priority present, in priority order, then `all`."""
    span_s: float
    busy_fraction: Mapping[str, float]
    """Worker id -> fraction of the span it ran a batch."""
    batch_sizes: Mapping[int, int]
    """Batch size -> how many batches had it (succeeded jobs' batches)."""
    errors: Mapping[str, int]
    """Error code (or state) -> how many jobs did not succeed with it."""

    @property
    def overall(self) -> Row:
        return self.rows[-1]

    @property
    def mean_busy_fraction(self) -> float:
        return mean(list(self.busy_fraction.values())) if self.busy_fraction else 0.0

    @property
    def mean_batch_size(self) -> float:
        batches = sum(self.batch_sizes.values())
        return sum(s * n for s, n in self.batch_sizes.items()) / batches if batches else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [asdict(r) for r in self.rows],
            "span_s": self.span_s,
            "busy_fraction": dict(self.busy_fraction),
            "mean_busy_fraction": self.mean_busy_fraction,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "mean_batch_size": self.mean_batch_size,
            "errors": dict(self.errors),
        }


def aggregate(outcomes: Sequence[Outcome]) -> Report:
    """Aggregate a run (see the module docstring for what each figure means)."""
    span_s = _span_s(outcomes)
    by_priority: dict[Priority, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_priority[o.priority].append(o)
    rows = [_row(str(p), by_priority[p], span_s) for p in sorted(by_priority, key=lambda p: p.rank)]
    rows.append(_row("all", outcomes, span_s))
    batches = batch_spans(o for o in outcomes if o.succeeded)
    busy: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for batch in batches:
        busy[batch.worker].append((batch.start_s, batch.end_s))
    return Report(
        rows=tuple(rows),
        span_s=span_s,
        busy_fraction={w: _union_s(iv) / span_s if span_s > 0 else 0.0 for w, iv in busy.items()},
        batch_sizes=dict(Counter(b.size for b in batches)),
        errors=dict(Counter(o.error_code or o.state for o in outcomes if not o.succeeded)),
    )


def _row(group: str, outcomes: Sequence[Outcome], span_s: float) -> Row:
    done = [o for o in outcomes if o.succeeded]
    latency = [x for o in done if (x := o.latency_s) is not None]
    wait = [x for o in done if (x := o.queue_wait_s) is not None]
    run = [x for o in done if (x := o.run_s) is not None]
    return Row(
        group=group,
        jobs=len(outcomes),
        succeeded=len(done),
        success_rate=len(done) / len(outcomes) if outcomes else math.nan,
        latency_mean_s=mean(latency),
        latency_p50_s=percentile(latency, 50),
        latency_p95_s=percentile(latency, 95),
        latency_p99_s=percentile(latency, 99),
        queue_wait_mean_s=mean(wait),
        queue_wait_p95_s=percentile(wait, 95),
        run_mean_s=mean(run),
        throughput_per_min=len(done) / span_s * 60 if span_s > 0 else math.nan,
    )


def _span_s(outcomes: Iterable[Outcome]) -> float:
    created = [o.created_s for o in outcomes if o.created_s is not None]
    finished = [o.finished_s for o in outcomes if o.finished_s is not None]
    if not created or not finished:
        return 0.0
    return max(0.0, max(finished) - min(created))


@dataclass(frozen=True)
class BatchSpan:
    """One batch as its jobs recorded it."""

    worker: str
    start_s: float
    end_s: float
    size: int
    """The batch size the jobs recorded (some may have failed or been left out)."""
    durations_s: tuple[float, ...]
    """The durations of the jobs given here (succeeded ones, when called by `aggregate`)."""


def batch_spans(outcomes: Iterable[Outcome]) -> list[BatchSpan]:
    """The batches of these outcomes, in start order: a batch occupies its worker from its
    jobs' common start to the last of their finishes. A job without a batch id is a batch of
    its own (an older server records none)."""
    found: dict[str, BatchSpan] = {}
    for i, o in enumerate(outcomes):
        if o.started_s is None or o.finished_s is None:
            continue
        key = o.batch_id or f"job-{i}"
        seen = found.get(key)
        if seen is None:
            found[key] = BatchSpan(
                o.worker_id or "worker",
                o.started_s,
                o.finished_s,
                o.batch_size or 1,
                (o.duration_s,),
            )
        else:
            found[key] = BatchSpan(
                seen.worker,
                min(seen.start_s, o.started_s),
                max(seen.end_s, o.finished_s),
                seen.size,
                (*seen.durations_s, o.duration_s),
            )
    return sorted(found.values(), key=lambda b: b.start_s)


def _union_s(intervals: Sequence[tuple[float, float]]) -> float:
    """Total length covered by `intervals` (overlaps counted once)."""
    total = 0.0
    end = -math.inf
    for start_s, end_s in sorted(intervals):
        if end_s <= end:
            continue
        total += end_s - max(start_s, end)
        end = end_s
    return total
