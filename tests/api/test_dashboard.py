"""The dashboard's pure summaries, fed hand-made histories (no store, no clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from foleyserve.api import dashboard
from foleyserve.jobs.model import Job, JobState, Priority
from tests.store.factories import T0, at, result, spec

NOW = at(3600)


def _finished(
    tenant: str,
    *,
    submitted_s: float,
    started_s: float | None,
    finished_s: float,
    state: JobState = JobState.SUCCEEDED,
    cached: bool = False,
) -> Job:
    return Job(
        id=f"job_{tenant}_{finished_s:g}",
        spec=spec(tenant),
        state=state,
        created_at=at(submitted_s),
        started_at=None if started_s is None else at(started_s),
        finished_at=at(finished_s),
        result=result() if state is JobState.SUCCEEDED else None,
        cached=cached,
    )


def test_percentile_is_nearest_rank() -> None:
    assert dashboard.percentile([], 0.5) is None
    assert dashboard.percentile([3.0], 0.95) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert dashboard.percentile(values, 0.5) == 50.0
    assert dashboard.percentile(values, 0.95) == 95.0


def test_throughput_buckets_cover_the_window_and_latencies_are_measured() -> None:
    jobs = [
        _finished("a", submitted_s=0, started_s=10, finished_s=20),  # first bucket
        _finished("a", submitted_s=3000, started_s=3500, finished_s=3600),  # at `now`: last
        _finished("b", submitted_s=1800, started_s=None, finished_s=1900, state=JobState.FAILED),
    ]
    out = dashboard.throughput_out(jobs, now=NOW, window_s=3600)
    assert (out.finished, out.succeeded, out.per_minute) == (3, 2, 3 / 60)
    assert len(out.buckets) == dashboard.BUCKETS
    assert out.buckets[0].start == T0 and out.buckets[1].start == T0 + timedelta(seconds=300)
    assert (out.buckets[0].succeeded, out.buckets[-1].succeeded, out.buckets[6].failed) == (1, 1, 1)
    assert out.total_latency.max_s == 600.0  # submitted 3000, finished 3600
    assert (out.run_latency.p50_s, out.run_latency.max_s) == (10.0, 100.0)
    empty = dashboard.throughput_out([], now=NOW, window_s=3600)
    assert empty.total_latency == dashboard.Latency(p50_s=None, p95_s=None, max_s=None)


def test_tenant_usage_counts_worker_seconds_but_not_cache_answers() -> None:
    finished = [
        _finished("a", submitted_s=0, started_s=10, finished_s=40),
        _finished("a", submitted_s=50, started_s=50, finished_s=50, cached=True),
        _finished("b", submitted_s=0, started_s=0, finished_s=5, state=JobState.FAILED),
    ]
    rows = dashboard.tenants_out(
        queued={(Priority.HIGH, "c"): 2, (Priority.LOW, "c"): 1},
        running=[],
        finished=finished,
        service_s={"a": 30.0, "d": 1.0},
    )
    by_name = {row.tenant: row for row in rows}
    assert [row.tenant for row in rows] == ["a", "b", "c", "d"]  # most worker seconds first
    assert (by_name["a"].finished, by_name["a"].run_s, by_name["a"].service_s) == (2, 30.0, 30.0)
    assert (by_name["b"].failed, by_name["c"].queued) == (1, 3)
    assert dashboard.result_cache_hit_rate(finished) == pytest.approx(0.5)
    assert dashboard.result_cache_hit_rate([]) is None


def test_batches_are_counted_per_worker_from_their_results() -> None:
    def ran(worker: str, batch: str, size: int, *, cached: bool = False) -> Job:
        made = result().model_copy(update={"batch_id": batch, "batch_size": size})
        job = _finished("a", submitted_s=0, started_s=1, finished_s=2, cached=cached)
        return job.model_copy(update={"worker_id": worker, "result": made})

    finished = [ran("gpu-0", "b1", 3), ran("gpu-0", "b1", 3), ran("gpu-0", "b2", 1)]
    finished += [ran("gpu-1", "b3", 2), ran("gpu-1", "old", 9, cached=True)]
    assert dashboard.batches_out(finished) == [
        dashboard.WorkerBatches(
            worker_id="gpu-0", batches=2, jobs=3, mean_batch_size=2.0, max_batch_size=3
        ),
        dashboard.WorkerBatches(
            worker_id="gpu-1", batches=1, jobs=1, mean_batch_size=2.0, max_batch_size=2
        ),
    ]
