"""Cost profiles: pricing batches, fitting timings, files; predictions and their comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foleyserve.bench.predict import compare, predict, scaling
from foleyserve.bench.profile import (
    CostProfile,
    DeviceMemory,
    Timing,
    fit_costs,
    fit_from_run,
    load_profile,
    save_profile,
)
from foleyserve.bench.report import Outcome, aggregate
from foleyserve.bench.workload import PlannedJob
from foleyserve.errors import InvalidInput
from foleyserve.jobs.model import Priority
from foleyserve.scheduling.policy import BatchPolicy, PolicyName

CPU = CostProfile("cpu", "procedural", "test", "by hand", 0.01, 0.05, 0.1)
GPU = CostProfile(
    "gpu", "hunyuan", "test", "by hand", 0.0, 0.5, 0.0,
    steps=50, step_ms={1: 100.0, 4: 120.0, 8: 220.0}, batch_by_duration=True,
    memory=DeviceMemory(80 * 10**9, 14 * 10**9, 10**7),
)  # fmt: skip


def test_a_cpu_batch_costs_its_turn_plus_each_job_at_its_own_length() -> None:
    assert CPU.batch_s([2.0, 6.0]) == pytest.approx(0.01 + 2 * 0.05 + 0.8)
    assert CPU.service_time_s(2, 6.0) == pytest.approx(0.01 + 2 * 0.05 + 1.2)
    assert CPU.batch_s([]) == 0.0


def test_gpu_steps_read_the_table_in_reference_rows() -> None:
    # 10 s clips: rows = batch size. 2 rows: between 100 (1) and 120 (4) -> 106.67 ms.
    assert GPU.step_s(2, 10.0) == pytest.approx((100 + 20 / 3) / 1000)
    assert GPU.step_s(8, 10.0) == pytest.approx(0.220)
    # Beyond the table: the last slope, 25 ms per row.
    assert GPU.step_s(16, 10.0) == pytest.approx(0.420)
    # Four 5 s clips are two rows of work; one 5 s clip is never cheaper than one row.
    assert GPU.step_s(4, 5.0) == pytest.approx(GPU.step_s(2, 10.0))
    assert GPU.step_s(1, 5.0) == pytest.approx(0.100)
    assert GPU.batch_s([10.0] * 4) == pytest.approx(4 * 0.5 + 50 * 0.120)


def test_fitting_recovers_known_costs_and_charges_per_job_when_sizes_never_vary() -> None:
    def cost(n: int, d: float) -> float:
        return 0.02 + 0.05 * n + 0.1 * n * d

    shapes = [(1, 2.0), (1, 8.0), (4, 2.0), (4, 8.0), (8, 2.0)]
    fixed, per_job, per_audio = fit_costs([Timing((d,) * n, cost(n, d)) for n, d in shapes])
    assert (fixed, per_job, per_audio) == pytest.approx((0.02, 0.05, 0.1), abs=1e-9)
    singles = [Timing((d,), 0.07 + 0.1 * d) for d in (2.0, 4.0, 8.0)]
    assert fit_costs(singles) == pytest.approx((0.0, 0.07, 0.1), abs=1e-9)
    with pytest.raises(InvalidInput, match="two shapes"):
        fit_costs([Timing((2.0,), 1.0), Timing((2.0,), 1.1)])


def test_a_profile_is_fitted_from_a_runs_batches() -> None:
    outcomes = [
        Outcome(Priority.NORMAL, "t", d, "succeeded", None, 0.0, start, start + 0.1 + 0.2 * d,
                1, f"b{i}", "w")
        for i, (d, start) in enumerate([(2.0, 0.0), (4.0, 1.0), (8.0, 3.0)])
    ]  # fmt: skip
    fitted = fit_from_run(outcomes, name="f", engine="e", device="d", source="s")
    assert (fitted.job_fixed_s, fitted.job_per_audio_s) == pytest.approx((0.1, 0.2))


def test_profiles_round_trip_through_json_and_bad_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "gpu.json"
    save_profile(GPU, path)
    assert load_profile(path) == GPU
    path.write_text(json.dumps(GPU.to_json() | {"job_fixed_s": -1}))
    with pytest.raises(InvalidInput, match="job_fixed_s must be >= 0"):
        load_profile(path)
    path.write_text(json.dumps(GPU.to_json() | {"colour": "red"}))
    with pytest.raises(InvalidInput, match="not a cost profile"):
        load_profile(path)
    path.write_text("[]")
    with pytest.raises(InvalidInput, match="JSON object"):
        load_profile(path)


def test_a_prediction_is_the_simulated_run_as_outcomes() -> None:
    jobs = [PlannedJob(0.0, 2.0, "rain"), PlannedJob(0.0, 4.0, "rain", Priority.HIGH)]
    outcomes = predict(jobs, CPU, BatchPolicy(PolicyName.NONE), poll_interval_s=None)
    # High first (0 .. 0.46), then normal (0.46 .. 0.72).
    high, normal = outcomes[1], outcomes[0]
    assert (high.started_s, high.finished_s) == pytest.approx((0.0, 0.46))
    assert (normal.started_s, normal.finished_s) == pytest.approx((0.46, 0.72))
    assert normal.batch_size == 1 and normal.worker_id == "w0"
    together = predict(jobs, CPU, BatchPolicy(PolicyName.DYNAMIC, max_wait_ms=0.0),
                       poll_interval_s=None)  # fmt: skip
    assert [o.finished_s for o in together] == pytest.approx([0.01 + 0.1 + 0.6] * 2)


def test_comparison_and_scaling() -> None:
    jobs = [PlannedJob(i * 0.1, 4.0, "rain") for i in range(40)]  # 10 jobs/s, 0.46 s each
    rows = scaling(jobs, CPU, BatchPolicy(PolicyName.NONE), [1, 2, 4, 8])
    throughputs = [r.report.overall.throughput_per_min for r in rows]
    assert throughputs == sorted(throughputs)
    assert rows[1].factor(rows[0].report) == pytest.approx(2.0, rel=0.1)  # still overloaded
    p95s = [r.report.overall.latency_p95_s for r in rows]
    assert p95s == sorted(p95s, reverse=True)
    same = compare(rows[0].report, rows[0].report)
    assert same.throughput_error == 0.0 and same.within(0.15)
    off = compare(rows[0].report, rows[1].report)
    assert not off.within(0.15) and off.throughput_error > 0.5


def test_predicting_with_an_empty_workload_or_bad_policy_input() -> None:
    assert aggregate(predict([], CPU, BatchPolicy())).overall.jobs == 0
    with pytest.raises(ValueError, match="workers"):
        predict([PlannedJob(0.0, 1.0, "x")], CPU, BatchPolicy(), workers=0)


def test_measured_spread_keeps_the_mean_and_is_drawn_reproducibly() -> None:
    fitted = fit_from_run(
        [
            Outcome(Priority.NORMAL, "t", d, "succeeded", None, 0.0, 10.0 * i,
                    10.0 * i + seconds, 1, f"b{i}", "w")
            for i, (d, seconds) in enumerate([(2.0, 0.5), (2.0, 1.5), (4.0, 2.0), (4.0, 2.0)])
        ],
        name="f", engine="e", device="d", source="s",
    )  # fmt: skip
    assert sum(fitted.jitter) / len(fitted.jitter) == pytest.approx(1.0)
    assert min(fitted.jitter) < 1 < max(fitted.jitter)  # the two 2 s batches took 0.5 and 1.5
    jobs = [PlannedJob(i * 5.0, 2.0, "rain") for i in range(20)]
    policy = BatchPolicy(PolicyName.NONE)
    first = predict(jobs, fitted, policy, seed=1)
    assert predict(jobs, fitted, policy, seed=1) == first
    assert predict(jobs, fitted, policy, seed=2) != first
    runs = {round(o.run_s or 0, 6) for o in first}
    assert len(runs) > 1  # batches of one shape no longer all cost the same
    with pytest.raises(InvalidInput, match="jitter"):
        CostProfile("p", "e", "d", "s", 0, 0, 0, jitter=(1.0, -1.0))


def test_the_real_worker_is_timed_in_process_and_fitted(tmp_path: Path) -> None:
    from foleyserve.bench.measure import measure_worker_profile
    from foleyserve.settings import Settings

    lines: list[str] = []
    profile, timings = measure_worker_profile(
        Settings(engine="null", data_dir=tmp_path),
        batch_sizes=(1, 3),
        durations_s=(0.5, 1.0),
        repeats=1,
        progress=lines.append,
    )
    assert [t.durations_s for t in timings] == [(0.5,), (1.0,), (0.5,) * 3, (1.0,) * 3]
    assert len(lines) == 5 and lines[0].startswith("batch 1 x 0.5 s")
    assert profile.engine == "null" and profile.host_rss_fixed_bytes
    assert profile.batch_s([1.0, 1.0]) > 0 and len(profile.jitter) == 4
    assert not list(tmp_path.iterdir())  # it measures in a folder of its own
