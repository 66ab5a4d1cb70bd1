"""Workloads: seeded Poisson arrivals, mixes, and trace files (round trip and bad input)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from foleyserve.bench.workload import (
    Mix,
    PlannedJob,
    mix_from_options,
    poisson_trace,
    read_trace,
    scaled,
    write_trace,
)
from foleyserve.errors import InvalidInput
from foleyserve.jobs.model import Priority


def test_poisson_trace_is_reproducible_for_a_seed_and_differs_across_seeds() -> None:
    assert poisson_trace(2.0, count=50, seed=1) == poisson_trace(2.0, count=50, seed=1)
    assert poisson_trace(2.0, count=50, seed=1) != poisson_trace(2.0, count=50, seed=2)


def test_poisson_gaps_have_the_asked_mean_and_arrivals_are_sorted() -> None:
    jobs = poisson_trace(4.0, count=4000, seed=7)
    times = [j.at_s for j in jobs]
    assert times == sorted(times)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    # Mean 0.25 s; the standard error over 4,000 exponential gaps is 0.004 s.
    assert statistics.fmean(gaps) == pytest.approx(0.25, abs=0.02)
    # Exponential: the standard deviation equals the mean (a fixed-rate clock would give 0).
    assert statistics.pstdev(gaps) == pytest.approx(0.25, abs=0.03)


def test_the_mix_is_drawn_by_weight_and_seeds_are_distinct() -> None:
    mix = Mix(
        durations_s={2.0: 3.0, 8.0: 1.0},
        priorities={Priority.HIGH: 1.0, Priority.LOW: 0.0},
        tenants={"a": 1.0, "b": 1.0},
        prompts=("rain",),
    )
    jobs = poisson_trace(1.0, count=2000, mix=mix, seed=3)
    short = sum(j.duration_s == 2.0 for j in jobs) / len(jobs)
    assert short == pytest.approx(0.75, abs=0.04)
    assert {j.priority for j in jobs} == {Priority.HIGH}  # weight 0 never drawn
    assert {j.tenant for j in jobs} == {"a", "b"}
    assert len({j.seed for j in jobs}) == len(jobs)


def test_horizon_cuts_the_trace() -> None:
    jobs = poisson_trace(10.0, count=10_000, seed=0, horizon_s=5.0)
    assert 20 < len(jobs) < 100 and jobs[-1].at_s <= 5.0


def test_scaling_compresses_time_and_keeps_the_jobs() -> None:
    jobs = poisson_trace(1.0, count=10, seed=0)
    fast = scaled(jobs, 0.5)
    assert [j.at_s for j in fast] == [j.at_s * 0.5 for j in jobs]
    assert [j.prompt for j in fast] == [j.prompt for j in jobs]


def test_a_trace_round_trips_through_a_file_and_is_sorted_on_reading(tmp_path: Path) -> None:
    jobs = poisson_trace(3.0, count=20, seed=5, mix=Mix(priorities={Priority.HIGH: 1.0}))
    path = tmp_path / "trace.jsonl"
    write_trace(jobs, path)
    assert read_trace(path) == jobs
    lines = [
        json.dumps({"at_s": 2.0, "duration_s": 4, "prompt": "rain"}),
        "",
        json.dumps({"at_s": 1.0, "duration_s": 8, "prompt": "glass", "priority": "low"}),
    ]
    path.write_text("\n".join(lines))
    assert read_trace(path) == [
        PlannedJob(1.0, 8.0, "glass", Priority.LOW),
        PlannedJob(2.0, 4.0, "rain"),
    ]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"at_s": 1, "duration_s": 4}', "missing fields ['prompt']"),
        ('{"at_s": 1, "duration_s": 4, "prompt": "x", "colour": 1}', "unknown fields"),
        ('{"at_s": -1, "duration_s": 4, "prompt": "x"}', "at_s must be >= 0"),
        ('{"at_s": 1, "duration_s": 0, "prompt": "x"}', "duration_s must be > 0"),
        ('{"at_s": 1, "duration_s": 4, "prompt": "x", "priority": "urgent"}', "urgent"),
        ("[1, 2]", "JSON object"),
        ("not json", "Expecting value"),
    ],
)
def test_a_bad_trace_line_is_refused_with_its_line_number(
    tmp_path: Path, line: str, says: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"at_s": 0, "duration_s": 1, "prompt": "ok"}) + "\n" + line)
    with pytest.raises(InvalidInput) as error:
        read_trace(path)
    assert error.value.code == "invalid_trace"
    assert f"{path}:2:" in error.value.message and says in error.value.message


def test_a_missing_trace_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read trace"):
        read_trace(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("durations", "priorities", "tenants"),
    [
        ("4:x", "normal", "a"),
        ("0:1", "normal", "a"),
        ("4", "urgent", "a"),
        ("4", "normal", ""),
        ("4:0", "normal", "a"),
    ],
)
def test_bad_mix_options_are_refused(durations: str, priorities: str, tenants: str) -> None:
    with pytest.raises(InvalidInput) as error:
        mix_from_options(durations, priorities, tenants, None)
    assert error.value.code == "invalid_mix"


def test_mix_options_parse_weights() -> None:
    mix = mix_from_options("4:1,8:3", "normal:8,high", "a,b:2", ["rain"])
    assert mix.durations_s == {4.0: 1.0, 8.0: 3.0}
    assert mix.priorities == {Priority.NORMAL: 8.0, Priority.HIGH: 1.0}
    assert mix.tenants == {"a": 1.0, "b": 2.0}
    assert mix.mean_duration_s == 7.0


def test_bad_rates_and_counts_are_refused() -> None:
    for rate in (0.0, -1.0, float("inf")):
        with pytest.raises(InvalidInput, match="rate"):
            poisson_trace(rate, count=1)
    with pytest.raises(InvalidInput, match="count"):
        poisson_trace(1.0, count=-1)
