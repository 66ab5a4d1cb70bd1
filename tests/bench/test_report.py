"""Percentiles and the report's aggregation, from hand-computed inputs."""

from __future__ import annotations

import math

import pytest

from foleyserve.bench.report import Outcome, aggregate, percentile
from foleyserve.jobs.model import Priority


def test_percentiles_interpolate_between_closest_ranks() -> None:
    values = [10.0, 1.0, 4.0, 2.0, 3.0]  # sorted: 1 2 3 4 10
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 95) == pytest.approx(4 + 0.8 * 6)  # rank 3.8
    assert percentile(values, 25) == 2.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile(values, 101)


def ok(
    priority: Priority,
    created: float,
    started: float,
    finished: float,
    batch: str,
    size: int,
    worker: str = "w1",
) -> Outcome:
    return Outcome(
        priority, "t", 4.0, "succeeded", None, created, started, finished, size, batch, worker
    )


def test_aggregation_by_priority_with_busy_time_and_batches() -> None:
    outcomes = [
        # w1: batch a of two runs 10..14 (its jobs finish at 13 and 14), batch b 20..22
        ok(Priority.HIGH, 9.0, 10.0, 13.0, "a", 2),
        ok(Priority.NORMAL, 8.0, 10.0, 14.0, "a", 2),
        ok(Priority.NORMAL, 19.0, 20.0, 22.0, "b", 1),
        # w2: one batch 12..16, overlapping w1's: each worker counts its own time
        ok(Priority.NORMAL, 12.0, 12.0, 16.0, "c", 1, "w2"),
        Outcome(Priority.NORMAL, "t", 4.0, "failed", "engine_error", 10.0, 11.0, 12.0),
        Outcome(Priority.LOW, "t", 4.0, "rejected", "rate_limited"),
    ]
    report = aggregate(outcomes)
    assert [r.group for r in report.rows] == ["high", "normal", "low", "all"]
    assert report.span_s == 22.0 - 8.0
    high, normal, low, overall = report.rows
    assert (high.jobs, high.succeeded, high.latency_p50_s) == (1, 1, 4.0)
    assert (normal.jobs, normal.succeeded) == (4, 3)
    assert normal.success_rate == 0.75
    # normal latencies 6, 3, 4 -> mean 13/3, p50 4; waits 2, 1, 0; runs 4, 2, 4
    assert normal.latency_mean_s == pytest.approx(13 / 3)
    assert normal.latency_p50_s == 4.0
    assert normal.queue_wait_mean_s == pytest.approx(1.0)
    assert normal.run_mean_s == pytest.approx(10 / 3)
    assert (low.jobs, low.succeeded, low.success_rate) == (1, 0, 0.0)
    assert math.isnan(low.latency_p95_s)
    assert overall.jobs == 6 and overall.succeeded == 4
    assert overall.throughput_per_min == pytest.approx(4 / 14 * 60)
    assert report.busy_fraction == {"w1": pytest.approx(6 / 14), "w2": pytest.approx(4 / 14)}
    assert report.batch_sizes == {2: 1, 1: 2}
    assert report.mean_batch_size == pytest.approx(4 / 3)
    assert report.errors == {"engine_error": 1, "rate_limited": 1}


def test_overlapping_batches_of_one_worker_are_counted_once() -> None:
    # Two batches one worker reports as overlapping (clock skew): union, not sum.
    report = aggregate([ok(Priority.NORMAL, 0, 0, 4, "a", 1), ok(Priority.NORMAL, 0, 2, 6, "b", 1)])
    assert report.busy_fraction == {"w1": pytest.approx(1.0)}


def test_an_empty_or_all_rejected_run_has_no_figures_but_does_not_crash() -> None:
    report = aggregate([Outcome(Priority.NORMAL, "t", 1.0, "rejected", "queue_full")])
    assert report.span_s == 0.0 and report.busy_fraction == {}
    assert report.overall.success_rate == 0.0 and math.isnan(report.overall.throughput_per_min)
    assert report.to_json()["errors"] == {"queue_full": 1}
