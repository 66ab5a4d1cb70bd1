"""Per-tenant quotas and rate limits charged by a job's estimated cost, through the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foleyserve.api.admission import estimated_gpu_s, submission_cost
from foleyserve.auth.keys import Tenant, open_key_store
from foleyserve.cli import app
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobSpec, JobState

from .test_app import TEXT_JOB, ApiRig, engine, error_code, open_rig

__all__ = ["engine"]  # fixture


def _spec(duration_s: float, steps: int | None = None) -> JobSpec:
    return JobSpec(
        tenant="t",
        video_key=None,
        video_sha256=None,
        duration_s=duration_s,
        prompt="x",
        steps=steps,
    )


def test_a_10_s_job_at_50_steps_costs_one_unit() -> None:
    assert submission_cost(_spec(10.0)) == 1.0
    assert submission_cost(_spec(10.0, steps=50)) == 1.0
    assert submission_cost(_spec(20.0, steps=100)) == 4.0
    assert estimated_gpu_s(_spec(8.0, steps=25)) == 4.0


def _job(seconds: float) -> dict[str, object]:
    return TEXT_JOB | {"duration_s": seconds}


@pytest.fixture
def slow_refill(tmp_path: Path, engine: ProceduralEngine) -> Iterator[ApiRig]:
    """4 units at once, refilled at one unit every 1000 s: nothing comes back during a test."""
    yield from open_rig(tmp_path, engine, rate_limit_burst=4.0, rate_limit_per_s=0.001)


def test_submissions_are_charged_by_their_cost(slow_refill: ApiRig) -> None:
    big = slow_refill.client.post("/v1/jobs", json=_job(30.0))  # 3 units: 1 up front, 2 after
    assert big.status_code == 202, big.text
    assert big.headers["RateLimit-Remaining"] == "1"
    small = slow_refill.client.post("/v1/jobs", json=_job(2.0))  # less than 1: pays 1
    assert small.status_code == 202 and small.headers["RateLimit-Remaining"] == "0"
    refused = slow_refill.client.post("/v1/jobs", json=_job(2.0))
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert slow_refill.store.counts()[JobState.QUEUED] == 2


def test_a_job_over_the_burst_spends_the_whole_bucket(slow_refill: ApiRig) -> None:
    huge = slow_refill.client.post("/v1/jobs", json=_job(60.0))  # 6 units, burst 4
    assert huge.status_code == 202 and huge.headers["RateLimit-Remaining"] == "0"


def test_the_rest_of_the_cost_refused_queues_nothing(slow_refill: ApiRig) -> None:
    slow_refill.client.post("/v1/jobs", json=_job(20.0))  # 2 units: 2 left
    refused = slow_refill.client.post("/v1/jobs", json=_job(40.0))  # 1 up front, then 3 > 1
    assert refused.status_code == 429 and "costs 4 units" in refused.json()["error"]["message"]
    assert slow_refill.store.counts()[JobState.QUEUED] == 1


def test_a_tenant_over_its_queued_jobs_quota_gets_429(
    tmp_path: Path, engine: ProceduralEngine
) -> None:
    for rig in open_rig(tmp_path, engine, tenant_max_queued_jobs=1):
        rig.keys.create_tenant(Tenant(id="acme", name="acme", max_queued_jobs=2))
        acme = rig.key_for("acme")
        assert [
            rig.client.post("/v1/jobs", json=TEXT_JOB, headers=acme).status_code for _ in range(2)
        ] == [202, 202]
        refused = rig.client.post("/v1/jobs", json=TEXT_JOB, headers=acme)
        assert refused.status_code == 429 and error_code(refused) == "quota_queued_jobs"
        assert "2 jobs queued at once" in refused.json()["error"]["message"]
        assert refused.headers["Retry-After"] == "5"
        # The tenant `local` has the settings' default quota, 1; the others' jobs do not count.
        assert rig.client.post("/v1/jobs", json=TEXT_JOB).status_code == 202
        assert error_code(rig.client.post("/v1/jobs", json=TEXT_JOB)) == "quota_queued_jobs"
        rig.drain()
        assert rig.client.post("/v1/jobs", json=TEXT_JOB, headers=acme).status_code == 202


def test_a_tenant_over_its_gpu_seconds_quota_gets_429(
    tmp_path: Path, engine: ProceduralEngine
) -> None:
    for rig in open_rig(tmp_path, engine):
        rig.keys.create_tenant(Tenant(id="acme", name="acme", gpu_seconds_per_hour=15.0))
        acme = rig.key_for("acme")
        assert rig.client.post("/v1/jobs", json=_job(10.0), headers=acme).status_code == 202
        refused = rig.client.post("/v1/jobs", json=_job(10.0), headers=acme)
        assert refused.status_code == 429 and error_code(refused) == "quota_gpu_seconds"
        # 5 GPU-seconds short at 15 an hour: 20 minutes.
        assert refused.headers["Retry-After"] == "1200"
        assert "15 estimated GPU-seconds per hour" in refused.json()["error"]["message"]
        too_big = rig.client.post("/v1/jobs", json=_job(20.0), headers=acme)
        assert too_big.status_code == 422 and error_code(too_big) == "quota_gpu_seconds"
        assert rig.client.post("/v1/jobs", json=_job(10.0)).status_code == 202  # local: 3600
        assert rig.store.counts()[JobState.QUEUED] == 2


def test_keys_create_sets_a_new_tenants_quotas(tmp_path: Path) -> None:
    env = {"FOLEYSERVE_DATA_DIR": str(tmp_path), "FOLEYSERVE_TENANT_MAX_QUEUED_JOBS": "7"}
    runner = CliRunner()
    args = ["keys", "create", "--tenant", "acme", "--gpu-seconds-per-hour", "90"]
    assert runner.invoke(app, args, env=env).exit_code == 0
    bad = runner.invoke(app, ["keys", "create", "--tenant", "b", "--max-queued", "-1"], env=env)
    assert bad.exit_code == 2
    keys = open_key_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        tenant = keys.get_tenant("acme")
        assert (tenant.max_queued_jobs, tenant.gpu_seconds_per_hour) == (7, 90.0)
        assert [t.id for t in keys.list_tenants()] == ["acme"]
    finally:
        keys.close()
