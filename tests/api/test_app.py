"""The HTTP API end to end: real SQLite (and Redis), real files, real keys, a worker run
in-process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
from fastapi.testclient import TestClient

from foleyserve.api.app import create_app
from foleyserve.api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from foleyserve.auth.keys import KeyStore, Tenant, open_key_store
from foleyserve.engines.base import FoleyEngine
from foleyserve.engines.null import NullEngine
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobState
from foleyserve.media.audio import decode_audio
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import make_bouncing_ball
from foleyserve.settings import Settings
from foleyserve.storage.base import ObjectStore
from foleyserve.storage.local import LocalObjectStore
from foleyserve.store import open_store
from foleyserve.store.base import JobStore
from foleyserve.worker.context import utc_now
from foleyserve.worker.loop import Worker


@dataclass
class ApiRig:
    client: TestClient
    store: JobStore
    objects: ObjectStore
    keys: KeyStore
    settings: Settings
    engine: FoleyEngine

    def key_for(self, tenant: str) -> dict[str, str]:
        """Authorization headers with a new key of `tenant` (created if new)."""
        if tenant not in {t.id for t in self.keys.list_tenants()}:
            self.keys.create_tenant(Tenant(id=tenant, name=tenant))
        _, plaintext = self.keys.create_key(tenant, now=utc_now())
        return {"Authorization": f"Bearer {plaintext}"}

    def drain(self, turns: int = 50) -> None:
        """Run a worker until nothing is queued or running."""
        worker = Worker(self.engine, self.store, self.objects, self.settings, "test-worker")
        for _ in range(turns):
            worker.run_once()
            counts = self.store.counts()
            if counts[JobState.QUEUED] == 0 and counts[JobState.RUNNING] == 0:
                return
        raise AssertionError(f"queue did not drain: {self.store.counts()}")


def open_rig(
    folder: Path,
    engine: FoleyEngine,
    *,
    store_url: str | None = None,
    limiter: RateLimiter | None = None,
    keys: KeyStore | None = None,
    **settings: Any,
) -> Iterator[ApiRig]:
    """Yield a rig; close its stores afterwards. Settings default to a generous rate limit
    (tests that count requests set their own) and no worker wait."""
    values: dict[str, Any] = {
        "api_keys_required": False,
        "rate_limit_burst": 1000.0,
        "rate_limit_per_s": 1000.0,
        "max_batch_wait_ms": 0,
        "data_dir": folder,
    } | settings
    config = Settings(**values)
    url = store_url or f"sqlite:///{folder / 'jobs.db'}"
    store = open_store(url)
    key_store = keys or open_key_store(url)
    objects = LocalObjectStore(folder / "objects")
    app = create_app(
        config,
        store=store,
        objects=objects,
        keys=key_store,
        limiter=limiter or MemoryRateLimiter(),
        engine_identity=engine,
        clock=utc_now,
    )
    with TestClient(app) as client:
        yield ApiRig(client, store, objects, key_store, config, engine)
    key_store.close()
    store.close()


TEXT_JOB = {"prompt": "rain on a tin roof", "duration_s": 1.0, "output_format": "wav"}


@pytest.fixture(scope="module")
def engine() -> ProceduralEngine:
    return ProceduralEngine(embedder=None)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "ball.mp4"
    make_bouncing_ball(path, impact_times_s=[0.3, 0.8], duration_s=1.2)
    return path


@pytest.fixture
def rig(tmp_path: Path, engine: ProceduralEngine) -> Iterator[ApiRig]:
    yield from open_rig(tmp_path, engine)


def upload(rig: ApiRig, clip: Path, **fields: str) -> httpx2.Response:
    data = {"prompt": "ball bouncing", "output_format": "wav"} | fields
    with clip.open("rb") as f:
        return rig.client.post("/v1/jobs", files={"video": ("ball.mp4", f)}, data=data)


def error_code(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_uploaded_video_runs_and_its_result_downloads(rig: ApiRig, clip: Path) -> None:
    submitted = upload(rig, clip)
    assert submitted.status_code == 202, submitted.text
    job: dict[str, Any] = submitted.json()
    assert job["state"] == "queued" and not job["cached"]
    assert submitted.headers["Location"] == job["links"]["self"]
    assert "RateLimit-Remaining" in submitted.headers

    rig.drain()
    done = rig.client.get(job["links"]["self"]).json()
    assert done["state"] == "succeeded" and done["progress"]["stage"]
    assert done["started_at"] and done["finished_at"]
    assert done["result"]["content_type"] == "audio/wav"

    result = rig.client.get(job["links"]["result"])
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("audio/wav")
    assert f'filename="{job["id"]}.wav"' in result.headers["content-disposition"]
    local = rig.settings.data_dir / "result.wav"
    local.write_bytes(result.content)
    assert decode_audio(local).duration_s == pytest.approx(probe(clip).duration_s, abs=1e-3)

    again = upload(rig, clip)
    assert again.status_code == 200 and again.json()["cached"] is True
    assert again.json()["state"] == "succeeded"
    metrics = rig.client.get("/metrics").text
    assert 'foleyserve_cache_hits_total{cache="results"} 1.0' in metrics


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"prompt": ""}, "empty_prompt"),
        ({"seed": "-1"}, "invalid_seed"),
        ({"seed": "99999999999"}, "invalid_seed"),
        ({"steps": "100000"}, "invalid_steps"),
        ({"steps": "many"}, "invalid_field"),
        ({"volume": "11"}, "unknown_field"),
        ({"output_format": "bmp"}, "invalid_field"),
    ],
)
def test_bad_fields_are_refused_with_their_code(
    rig: ApiRig, clip: Path, fields: dict[str, str], code: str
) -> None:
    response = upload(rig, clip, **fields)
    assert response.status_code == 422 and error_code(response) == code
    assert response.json()["error"]["message"]
    assert rig.store.counts()[JobState.QUEUED] == 0


def test_missing_prompt_names_the_field(rig: ApiRig, clip: Path) -> None:
    with clip.open("rb") as f:
        response = rig.client.post("/v1/jobs", files={"video": ("ball.mp4", f)})
    assert response.status_code == 422 and error_code(response) == "missing_field"
    assert "prompt" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("content", "code"), [(b"hello, I am not a video" * 100, "not_a_video"), (b"", "empty_file")]
)
def test_files_that_are_not_videos_are_refused(rig: ApiRig, content: bytes, code: str) -> None:
    response = rig.client.post(
        "/v1/jobs", files={"video": ("clip.mp4", content)}, data={"prompt": "rain"}
    )
    assert response.status_code == 422 and error_code(response) == code


def test_oversize_upload_is_413(tmp_path: Path, engine: ProceduralEngine, clip: Path) -> None:
    for small in open_rig(tmp_path, engine, max_file_bytes=1000):
        response = upload(small, clip)
        assert response.status_code == 413 and error_code(response) == "file_too_large"
        # Without a Content-Length (chunked), the byte count while reading refuses it.
        boundary = "b0undary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nrain\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="video"; '
            'filename="big.mp4"\r\n\r\n'
        ).encode()

        def body(head: bytes = head) -> Iterator[bytes]:
            yield head
            for _ in range(100):
                yield b"\0" * 65536

        streamed = small.client.post(
            "/v1/jobs",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert streamed.status_code == 413 and error_code(streamed) == "file_too_large"


def test_bodies_that_are_neither_form_nor_json_are_refused(rig: ApiRig) -> None:
    plain = rig.client.post("/v1/jobs", content=b"rain", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and error_code(plain) == "unsupported_content_type"
    broken = rig.client.post(
        "/v1/jobs", content=b'{"prompt": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and error_code(broken) == "invalid_json"
    neither = rig.client.post("/v1/jobs", json={"prompt": "rain"})
    assert neither.status_code == 422 and error_code(neither) == "missing_field"
    extra = rig.client.post("/v1/jobs", json=TEXT_JOB | {"colour": "red"})
    assert extra.status_code == 422 and "colour" in extra.json()["error"]["message"]


def test_video_urls_go_through_the_fetch_policy(rig: ApiRig) -> None:
    refused = rig.client.post("/v1/jobs", json=TEXT_JOB | {"video_url": "http://127.0.0.1/a.mp4"})
    assert refused.status_code == 422 and error_code(refused) == "missing_field"
    body = {"prompt": "rain", "video_url": "http://127.0.0.1/a.mp4"}
    plain = rig.client.post("/v1/jobs", json=body)
    assert plain.status_code == 422 and error_code(plain) == "url_scheme_not_allowed"


def test_text_only_job_and_its_lifecycle(rig: ApiRig) -> None:
    job = rig.client.post("/v1/jobs", json=TEXT_JOB).json()
    early = rig.client.get(job["links"]["result"])
    assert early.status_code == 409 and error_code(early) == "job_not_succeeded"
    assert rig.client.delete(job["links"]["self"]).status_code == 409
    canceled = rig.client.post(job["links"]["cancel"])
    assert canceled.status_code == 200 and canceled.json()["state"] == "canceled"
    assert rig.client.delete(job["links"]["self"]).status_code == 204
    gone = rig.client.get(job["links"]["self"])
    assert gone.status_code == 404 and error_code(gone) == "job_not_found"


def test_list_pages_with_a_cursor_and_filters_by_state(rig: ApiRig) -> None:
    ids = [rig.client.post("/v1/jobs", json=TEXT_JOB | {"seed": i}).json()["id"] for i in range(3)]
    first = rig.client.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["jobs"]] == ids[:0:-1] and first["next_cursor"]
    second = rig.client.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [j["id"] for j in second.json()["jobs"]] == ids[:1]
    assert second.json()["next_cursor"] is None
    rig.client.post(f"/v1/jobs/{ids[0]}/cancel")
    canceled = rig.client.get("/v1/jobs", params={"state": "canceled"}).json()
    assert [j["id"] for j in canceled["jobs"]] == ids[:1]
    bad = rig.client.get("/v1/jobs", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.json()["error"]["message"]


def test_idempotency_key_returns_the_first_job(rig: ApiRig) -> None:
    headers = {"Idempotency-Key": "order-17"}
    first = rig.client.post("/v1/jobs", json=TEXT_JOB, headers=headers).json()
    second = rig.client.post("/v1/jobs", json=TEXT_JOB | {"seed": 5}, headers=headers).json()
    assert second["id"] == first["id"] and second["params"]["seed"] == 0


def test_keys_decide_the_tenant(tmp_path: Path, engine: ProceduralEngine) -> None:
    for rig in open_rig(tmp_path, engine, api_keys_required=True):
        acme, other = rig.key_for("acme"), rig.key_for("other")
        missing = rig.client.post("/v1/jobs", json=TEXT_JOB)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = rig.client.get("/v1/jobs", headers={"Authorization": "Bearer fs_nope"})
        assert wrong.status_code == 401 and error_code(wrong) == "unauthorized"

        job = rig.client.post("/v1/jobs", json=TEXT_JOB, headers=acme).json()
        assert rig.client.get(f"/v1/jobs/{job['id']}", headers=acme).status_code == 200
        theirs = rig.client.get(f"/v1/jobs/{job['id']}", headers=other)
        nobody = rig.client.get("/v1/jobs/job_000000000000000000000000", headers=other)
        assert theirs.status_code == nobody.status_code == 404
        strip = str.replace
        assert strip(theirs.text, job["id"], "ID") == strip(
            nobody.text, "job_000000000000000000000000", "ID"
        )
        assert rig.client.get("/v1/jobs", headers=other).json()["jobs"] == []
        assert rig.client.post(f"/v1/jobs/{job['id']}/cancel", headers=other).status_code == 404


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, engine: ProceduralEngine) -> None:
    frozen = MemoryRateLimiter(clock=lambda: 1000.0)
    for rig in open_rig(
        tmp_path, engine, limiter=frozen, rate_limit_per_s=0.5, rate_limit_burst=2.0
    ):
        statuses = [rig.client.post("/v1/jobs", json=TEXT_JOB | {"seed": i}) for i in range(3)]
        assert [r.status_code for r in statuses] == [202, 202, 429]
        refused = statuses[-1]
        assert error_code(refused) == "rate_limited"
        assert refused.headers["Retry-After"] == "2"
        assert refused.headers["RateLimit-Limit"] == "2"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert "foleyserve_rate_limited_total 1.0" in rig.client.get("/metrics").text


def test_full_queue_answers_503(tmp_path: Path, engine: ProceduralEngine) -> None:
    for rig in open_rig(tmp_path, engine, max_queued_jobs=1):
        assert rig.client.post("/v1/jobs", json=TEXT_JOB).status_code == 202
        full = rig.client.post("/v1/jobs", json=TEXT_JOB | {"seed": 1})
        assert full.status_code == 503 and error_code(full) == "queue_full"
        assert int(full.headers["Retry-After"]) >= 1


def test_a_refused_upload_leaves_no_file_behind(
    tmp_path: Path, engine: ProceduralEngine, clip: Path
) -> None:
    for rig in open_rig(tmp_path, engine, max_queued_jobs=1):
        uploads = tmp_path / "objects" / "uploads"  # open_rig stores files there
        assert upload(rig, clip).status_code == 202
        (kept,) = (p for p in uploads.rglob("*") if p.is_file())
        refused = upload(rig, clip, prompt="another prompt")
        assert refused.status_code == 503 and error_code(refused) == "queue_full"
        assert [p for p in uploads.rglob("*") if p.is_file()] == [kept]


def test_health_readiness_and_metrics(rig: ApiRig) -> None:
    rig.client.post("/v1/jobs", json=TEXT_JOB)
    assert rig.client.get("/healthz").status_code == 200
    assert rig.client.get("/readyz").status_code == 200
    metrics = rig.client.get("/metrics")
    assert metrics.status_code == 200
    assert 'foleyserve_queue_depth{priority="normal"} 1.0' in metrics.text
    assert 'foleyserve_jobs{state="queued"} 1.0' in metrics.text
    assert 'route="/v1/jobs",status="202"' in metrics.text
    rig.store.close()
    down = rig.client.get("/readyz")
    assert down.status_code == 503 and error_code(down) == "not_ready"
    assert rig.client.get("/healthz").status_code == 200


def test_openapi_documents_the_routes(rig: ApiRig) -> None:
    paths = rig.client.get("/openapi.json").json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result"} <= set(paths)
    assert rig.client.get("/docs").status_code == 200


def test_jobs_keys_and_rate_limit_on_redis(tmp_path: Path, redis_url: str) -> None:
    prefix = f"api-test:{tmp_path.name}:"
    url = f"{redis_url}?prefix={prefix}"
    client = redis.Redis.from_url(redis_url)
    limiter = RedisRateLimiter(client, prefix=prefix)
    for rig in open_rig(
        tmp_path,
        NullEngine(),
        store_url=url,
        keys=open_key_store(url),
        limiter=limiter,
        api_keys_required=True,
        rate_limit_per_s=0.01,
        rate_limit_burst=2.0,
    ):
        acme = rig.key_for("acme")
        body = {"prompt": "rain", "duration_s": 1.0, "output_format": "wav"}
        first = rig.client.post("/v1/jobs", json=body, headers=acme)
        assert first.status_code == 202, first.text
        job_id = first.json()["id"]
        assert rig.client.get(f"/v1/jobs/{job_id}", headers=acme).json()["state"] == "queued"
        listed = rig.client.get("/v1/jobs", headers=acme).json()["jobs"]
        assert [job["id"] for job in listed] == [job_id]
        assert rig.client.post("/v1/jobs", json=body, headers=acme).status_code == 202
        refused = rig.client.post("/v1/jobs", json=body, headers=acme)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 1
        rig.drain()
        done = rig.client.get(f"/v1/jobs/{job_id}", headers=acme).json()
        assert done["state"] == "succeeded"
        assert rig.client.get(f"/v1/jobs/{job_id}/result", headers=acme).status_code == 200
    client.close()
