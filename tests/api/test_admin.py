"""The admin endpoints `/v1/admin/...` over real SQLite, keys and a worker run in-process: who
may call them, what the overview counts, failed jobs and their retry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from foleyserve.auth.keys import Tenant
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobError, JobState, Progress
from foleyserve.worker.context import utc_now
from tests.api.test_app import TEXT_JOB, ApiRig, error_code, open_rig


@pytest.fixture(scope="module")
def engine() -> ProceduralEngine:
    return ProceduralEngine(embedder=None)


@pytest.fixture
def keyed(tmp_path: Path, engine: ProceduralEngine) -> Iterator[ApiRig]:
    yield from open_rig(tmp_path, engine, api_keys_required=True)


@pytest.fixture
def rig(tmp_path: Path, engine: ProceduralEngine) -> Iterator[ApiRig]:
    yield from open_rig(tmp_path, engine)


def _admin(rig: ApiRig) -> dict[str, str]:
    rig.keys.create_tenant(Tenant(id="ops", name="ops", admin=True))
    _, plaintext = rig.keys.create_key("ops", now=utc_now())
    return {"Authorization": f"Bearer {plaintext}"}


def _fail_for_good(rig: ApiRig, job_id: str, message: str = "CUDA out of memory") -> None:
    (claimed,) = rig.store.claim([job_id], "gpu-1", lease_s=60, now=utc_now())
    error = JobError(code="engine_error", message=message)
    assert rig.store.fail(claimed.id, "gpu-1", error, retryable=False, now=utc_now())


ROUTES = [
    ("GET", "/v1/admin/overview"),
    ("GET", "/v1/admin/failed"),
    ("POST", "/v1/admin/jobs/job_000000000000000000000000/retry"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_only_admins_may_call_the_admin_routes(keyed: ApiRig, method: str, path: str) -> None:
    nobody = keyed.client.request(method, path)
    assert nobody.status_code == 401 and error_code(nobody) == "unauthorized"
    tenant = keyed.client.request(method, path, headers=keyed.key_for("acme"))
    assert tenant.status_code == 403 and error_code(tenant) == "forbidden"
    assert "--admin" in tenant.json()["error"]["message"]
    admin = keyed.client.request(method, path, headers=_admin(keyed))
    assert admin.status_code in (200, 404)  # the retried job does not exist


def test_without_keys_the_local_operator_is_an_admin(rig: ApiRig) -> None:
    assert rig.client.get("/v1/admin/overview").status_code == 200


def test_the_pages_are_served_beside_the_documented_api(rig: ApiRig) -> None:
    paths = set(rig.client.get("/openapi.json").json()["paths"])
    assert {"/v1/admin/overview", "/v1/admin/failed", "/v1/admin/jobs/{job_id}/retry"} <= paths
    assert not {"/", "/admin"} & paths  # pages, not API
    for page, script in (("/", "/static/app.js"), ("/admin", "/static/admin.js")):
        html = rig.client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert script in html.text
        js = rig.client.get(script)
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_overview_counts_queue_batches_throughput_and_tenants(keyed: ApiRig) -> None:
    admin, acme, zeta = _admin(keyed), keyed.key_for("acme"), keyed.key_for("zeta")
    done = keyed.client.post("/v1/jobs", json=TEXT_JOB, headers=acme).json()["id"]
    keyed.drain()
    keyed.client.post("/v1/jobs", json=TEXT_JOB | {"priority": "high"}, headers=acme)
    busy = keyed.client.post("/v1/jobs", json=TEXT_JOB | {"seed": 2}, headers=zeta).json()["id"]
    keyed.store.claim([busy], "gpu-9", lease_s=60, now=utc_now())
    progress = {busy: Progress(stage="generating", step=5, total=10)}
    keyed.store.heartbeat("gpu-9", progress, lease_s=60, now=utc_now())

    overview = keyed.client.get("/v1/admin/overview?window_s=600", headers=admin).json()
    assert overview["window_s"] == 600
    assert overview["queue"]["by_priority"] == {"high": 1, "normal": 0, "low": 0}
    assert overview["queue"]["by_tenant"] == [{"tenant": "acme", "priority": "high", "queued": 1}]
    (worker,) = overview["workers"]
    assert worker["worker_id"] == "gpu-9"
    assert [(j["id"], j["tenant"], j["fraction"]) for j in worker["running"]] == [
        (busy, "zeta", 0.5)
    ]
    (batches,) = overview["batches"]  # the drained job's batch, by the rig's worker
    assert (batches["worker_id"], batches["batches"], batches["jobs"]) == ("test-worker", 1, 1)
    throughput = overview["throughput"]
    assert (throughput["finished"], throughput["succeeded"]) == (1, 1)
    assert sum(b["succeeded"] for b in throughput["buckets"]) == 1
    assert throughput["run_latency"]["p50_s"] > 0
    assert overview["result_cache_hit_rate"] is None  # no video job yet
    tenants = {row["tenant"]: row for row in overview["tenants"]}
    assert (tenants["acme"]["queued"], tenants["acme"]["finished"]) == (1, 1)
    assert tenants["zeta"]["running"] == 1
    assert tenants["acme"]["service_s"] > 0  # charged by the claim of its finished job
    assert {c["namespace"] for c in overview["caches"]} == {
        "results",
        "video-features",
        "text-features",
    }
    assert keyed.store.get(done).state is JobState.SUCCEEDED


def test_failed_jobs_are_listed_and_retried_once(keyed: ApiRig) -> None:
    admin, acme = _admin(keyed), keyed.key_for("acme")
    job_id = keyed.client.post("/v1/jobs", json=TEXT_JOB, headers=acme).json()["id"]
    _fail_for_good(keyed, job_id)
    (failed,) = keyed.client.get("/v1/admin/failed", headers=admin).json()["jobs"]
    assert (failed["id"], failed["tenant"], failed["worker_id"]) == (job_id, "acme", "gpu-1")
    assert failed["error"] == {"code": "engine_error", "message": "CUDA out of memory"}

    retried = keyed.client.post(f"/v1/admin/jobs/{job_id}/retry", headers=admin)
    assert retried.status_code == 200
    assert (retried.json()["state"], retried.json()["attempts"]) == ("queued", 0)
    assert keyed.client.get("/v1/admin/failed", headers=admin).json()["jobs"] == []
    again = keyed.client.post(f"/v1/admin/jobs/{job_id}/retry", headers=admin)
    assert again.status_code == 409 and error_code(again) == "job_not_failed"
    keyed.drain()
    mine = keyed.client.get(f"/v1/jobs/{job_id}", headers=acme).json()
    assert mine["state"] == "succeeded"  # the tenant sees its job done


def test_failed_jobs_are_those_of_the_window(keyed: ApiRig) -> None:
    admin, acme = _admin(keyed), keyed.key_for("acme")
    job_id = keyed.client.post("/v1/jobs", json=TEXT_JOB, headers=acme).json()["id"]
    two_days_ago = utc_now() - timedelta(days=2)
    keyed.store.claim([job_id], "gpu-1", lease_s=60, now=two_days_ago)
    error = JobError(code="engine_error", message="old news")
    keyed.store.fail(job_id, "gpu-1", error, retryable=False, now=two_days_ago)
    assert keyed.client.get("/v1/admin/failed", headers=admin).json()["jobs"] == []
    week = keyed.client.get("/v1/admin/failed?window_s=604800", headers=admin).json()["jobs"]
    assert [job["id"] for job in week] == [job_id]


def test_bad_admin_arguments_are_refused(keyed: ApiRig) -> None:
    admin = _admin(keyed)
    missing = keyed.client.post("/v1/admin/jobs/job_000000000000000000000000/retry", headers=admin)
    assert missing.status_code == 404 and error_code(missing) == "job_not_found"
    for query in ("window_s=1", "window_s=soon"):
        bad = keyed.client.get(f"/v1/admin/overview?{query}", headers=admin)
        assert bad.status_code == 422 and error_code(bad) == "invalid_field"
    assert keyed.client.get("/v1/admin/failed?limit=0", headers=admin).status_code == 422
    assert keyed.client.get("/v1/admin/failed?window_s=1e9", headers=admin).status_code == 422
