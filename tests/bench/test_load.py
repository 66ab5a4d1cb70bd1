"""The load generator against a real `foleyserve serve` (null engine) on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foleyserve.bench.load import REJECTED, LoadOptions, run_load
from foleyserve.bench.report import aggregate
from foleyserve.bench.server import BenchServer
from foleyserve.bench.workload import PlannedJob, write_trace
from foleyserve.cli import app
from foleyserve.jobs.model import Priority


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchServer]:
    env = {
        "FOLEYSERVE_ENGINE": "null",
        "FOLEYSERVE_MAX_VIDEO_DURATION_S": "5",
        "FOLEYSERVE_MAX_BATCH_WAIT_MS": "200",
    }
    with BenchServer(tmp_path_factory.mktemp("bench-server"), env) as running:
        yield running


def test_every_job_is_accounted_for_with_its_timings_and_batch(server: BenchServer) -> None:
    jobs = [
        PlannedJob(0.0, 1.0, "rain", Priority.HIGH, seed=1),
        PlannedJob(0.01, 2.0, "glass", seed=2),
        PlannedJob(0.02, 1.0, "wind", Priority.LOW, seed=3),
        PlannedJob(0.03, 9.0, "too long for this server", seed=4),
        PlannedJob(0.3, 1.5, "steps", seed=5),
    ]
    seen: list[tuple[int, int, int]] = []
    outcomes = run_load(
        jobs,
        LoadOptions(server.url, api_keys={}, poll_interval_s=0.05),
        progress=lambda sent, done, total: seen.append((sent, done, total)),
    )
    assert [o.state for o in outcomes] == ["succeeded"] * 3 + [REJECTED, "succeeded"]
    assert outcomes[3].error_code == "invalid_duration"
    for o in outcomes[:3] + outcomes[4:]:
        assert o.created_s is not None and o.started_s is not None and o.finished_s is not None
        assert o.created_s <= o.started_s <= o.finished_s
        assert o.batch_size is not None and o.batch_id and o.worker_id == "embedded"
    # Every job records the size of the batch it shared, and its batch mates carry its id.
    done = [o for o in outcomes if o.succeeded]
    for o in done:
        assert o.batch_size == sum(other.batch_id == o.batch_id for other in done)
    assert seen[-1] == (5, 5, 5)
    report = aggregate(outcomes)
    assert report.overall.succeeded == 4 and report.overall.success_rate == 0.8
    assert sum(size * n for size, n in report.batch_sizes.items()) == 4
    assert report.errors == {"invalid_duration": 1}
    assert 0 < report.busy_fraction["embedded"] <= 1


def test_a_server_that_is_not_there_rejects_every_job_and_loses_none() -> None:
    jobs = [PlannedJob(0.0, 1.0, "rain"), PlannedJob(0.0, 1.0, "glass")]
    outcomes = run_load(jobs, LoadOptions("http://127.0.0.1:9", api_keys={}, drain_s=1.0))
    assert [o.state for o in outcomes] == [REJECTED, REJECTED]
    assert all(o.error_code == "transport_ConnectError" for o in outcomes)


def test_the_command_replays_a_trace_and_prints_json(server: BenchServer, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    write_trace([PlannedJob(0.0, 1.0, "rain", seed=10), PlannedJob(0.1, 1.0, "fire", seed=11)],
                trace)  # fmt: skip
    result = CliRunner().invoke(app, ["bench", "load", server.url, "--trace", str(trace), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"][-1]["succeeded"] == 2 and report["errors"] == {}


def test_the_command_refuses_bad_options_with_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_key = runner.invoke(app, ["bench", "load", "http://x", "--key", "nokey", "--json"])
    assert bad_key.exit_code == 2
    assert json.loads(bad_key.stdout)["error"]["code"] == "invalid_key_option"
    (tmp_path / "t.jsonl").write_text("{}\n")
    bad_trace = runner.invoke(
        app, ["bench", "load", "http://x", "--trace", str(tmp_path / "t.jsonl"), "--json"]
    )
    assert json.loads(bad_trace.stdout)["error"]["code"] == "invalid_trace"
    bad_mix = runner.invoke(app, ["bench", "load", "http://x", "--durations", "a", "--json"])
    assert json.loads(bad_mix.stdout)["error"]["code"] == "invalid_mix"
