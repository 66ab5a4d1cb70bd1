"""Capacity planning from profiles: monotone in load, memory-bounded, honest when impossible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foleyserve.bench.capacity import Workload, plan_capacity
from foleyserve.bench.profile import CostProfile, DeviceMemory, save_profile
from foleyserve.bench.workload import Mix
from foleyserve.cli import app
from foleyserve.errors import InvalidInput

GPU = CostProfile(
    "gpu", "hunyuan", "test GPU", "by hand", 0.0, 0.2, 0.0,
    steps=10, step_ms={1: 100.0, 4: 120.0, 8: 220.0, 16: 420.0}, batch_by_duration=True,
    max_batch_size=16, memory=DeviceMemory(40 * 10**9, 14 * 10**9, 2 * 10**9),
    host_rss_fixed_bytes=2 * 10**9, host_rss_per_job_s_bytes=10**6,
)  # fmt: skip
MIX = Mix(durations_s={10.0: 1.0})


def workload(rate_per_s: float, p95_s: float = 10.0) -> Workload:
    return Workload(rate_per_s, MIX, p95_s, jobs=200)


def test_more_load_never_needs_fewer_workers() -> None:
    counts = []
    for rate in (0.5, 2.0, 8.0, 32.0):
        (rec,) = plan_capacity(workload(rate), [GPU])
        assert rec.workers is not None and rec.report is not None
        assert rec.report.overall.latency_p95_s <= 10.0
        counts.append(rec.workers)
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_the_batch_limit_respects_device_memory_and_batching_pays_under_load() -> None:
    # 14 GB + n x 10 s x 2 GB <= 40 GB: at most one 10 s job per batch.
    (rec,) = plan_capacity(workload(8.0), [GPU])
    assert rec.max_batch_size == 1 and rec.device_memory_bytes == 34 * 10**9
    roomy = CostProfile(**(GPU.__dict__ | {"memory": DeviceMemory(80 * 10**9, 14 * 10**9, 10**8)}))
    (batched,) = plan_capacity(workload(8.0), [roomy])
    # One 10 s job alone costs 1.2 s: 8 jobs/s need ~10 workers; batches of 16 cost 0.26 s each.
    assert batched.max_batch_size > 1 and batched.workers is not None
    assert rec.workers is not None and batched.workers < rec.workers


def test_ram_is_sized_from_the_profile_beside_the_seed_rule() -> None:
    (rec,) = plan_capacity(workload(1.0), [GPU], batch_limits=(1,))
    assert rec.host_ram_bytes == 2 * 10**9 + 10**6 * 10
    assert rec.seed_rule_bytes == (12 * 10**9, 20 * 10**9)
    # 1 job/s of 10 s wav results: 1.92 MB each, 86,400 a day.
    assert rec.disk_results_per_day_bytes == 86400 * 10 * 192_000


def test_an_unreachable_target_says_so() -> None:
    (rec,) = plan_capacity(workload(1.0, p95_s=0.5), [GPU])
    assert rec.workers is None and rec.report is None  # one job alone takes 1.2 s


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"rate_per_s": 0.0}, "invalid_rate"),
        ({"target_p95_s": -1.0}, "invalid_target"),
        ({"jobs": 3}, "invalid_count"),
    ],
)
def test_bad_workloads_are_refused(kwargs: dict[str, float], code: str) -> None:
    args: dict[str, object] = {"rate_per_s": 1.0, "mix": MIX, "target_p95_s": 5.0} | kwargs
    with pytest.raises(InvalidInput) as error:
        Workload(**args)  # type: ignore[arg-type]
    assert error.value.code == code


def test_plan_command_prints_json_and_refuses_a_missing_profile(tmp_path: Path) -> None:
    path = tmp_path / "gpu.json"
    save_profile(GPU, path)
    runner = CliRunner()
    done = runner.invoke(app, ["plan", "--rate", "2", "--p95", "10", "--durations", "10",
                               "--profile", str(path), "--jobs", "100", "--json"])  # fmt: skip
    assert done.exit_code == 0, done.output
    (row,) = json.loads(done.stdout)["recommendations"]
    assert row["profile"] == "gpu" and row["workers"] >= 1
    missing = runner.invoke(app, ["plan", "--rate", "2", "--p95", "10",
                                  "--profile", str(tmp_path / "nope.json"), "--json"])  # fmt: skip
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["error"]["code"] == "invalid_profile"


def test_headroom_asks_for_more_workers_than_the_p95_alone() -> None:
    (tight,) = plan_capacity(Workload(8.0, MIX, 60.0, jobs=300, max_busy=1.0), [GPU])
    (roomy,) = plan_capacity(Workload(8.0, MIX, 60.0, jobs=300, max_busy=0.5), [GPU])
    assert tight.workers is not None and roomy.workers is not None
    assert roomy.workers > tight.workers
    assert roomy.report is not None and roomy.report.mean_busy_fraction <= 0.5
