"""nginx, from the shipped config, in front of two real `foleyserve api` processes."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from foleyserve.auth.keys import Tenant, open_key_store
from foleyserve.media.synthetic import make_static
from foleyserve.worker.context import utc_now
from tests.deploy.nginx_rig import (
    Fleet,
    body_limit_bytes,
    make_certificate,
    start_api,
    start_nginx,
    stop,
    wait_until_ready,
)

MAX_FILE_BYTES = 6_000_000
TEXT_JOB = {"prompt": "rain on a tin roof", "duration_s": 0.5, "output_format": "wav"}
KEYS = 12
BUFFERED = "a client request body is buffered to a temporary file"
"""nginx's warning when it spools a request body to disk instead of streaming it."""


@pytest.fixture(scope="module")
def store_url(redis_url: str) -> str:
    return f"{redis_url}?prefix=deploy-{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, store_url: str) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    keys = open_key_store(store_url)
    try:
        keys.create_tenant(Tenant(id="acme", name="acme"))
        plaintexts = [keys.create_key("acme", now=utc_now())[1] for _ in range(KEYS)]
    finally:
        keys.close()
    env = {
        "FOLEYSERVE_STORE": store_url,
        "FOLEYSERVE_STORAGE": str(root / "objects"),
        "FOLEYSERVE_ENGINE": "null",
        "FOLEYSERVE_TRUSTED_PROXIES": "127.0.0.1",
        "FOLEYSERVE_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
        "FOLEYSERVE_RATE_LIMIT_PER_S": "0.01",
        "FOLEYSERVE_RATE_LIMIT_BURST": "2",
    }
    apis = [start_api(root / f"api{i}", env) for i in range(2)]
    try:
        for api in apis:
            wait_until_ready(api)
        nginx = start_nginx(root / "nginx", apis, MAX_FILE_BYTES)
        try:
            yield Fleet(nginx, apis, root / "objects", plaintexts)
        finally:
            stop(nginx.process)
    finally:
        for api in apis:
            stop(api.process)


def test_requests_are_balanced_across_both_api_servers(fleet: Fleet) -> None:
    before = len(fleet.nginx.upstreams())
    with fleet.client("127.0.0.1") as client:
        for _ in range(6):
            assert client.get("/healthz").status_code == 200
    served = fleet.nginx.logged_since(before, 6)
    assert len(served) == 6
    for api in fleet.apis:
        assert served.count([api.address]) >= 2, served


def test_metrics_are_for_prometheus_not_the_public(fleet: Fleet) -> None:
    with fleet.client("127.0.0.1") as client:
        assert client.get("/metrics").status_code == 404
    direct = httpx.get(f"http://{fleet.apis[0].address}/metrics")
    assert direct.status_code == 200 and "foleyserve_queue_depth" in direct.text


def test_an_upload_over_the_limit_is_refused_before_it_reaches_an_api(fleet: Fleet) -> None:
    limit = body_limit_bytes(MAX_FILE_BYTES)
    before = len(fleet.nginx.upstreams())
    with fleet.client("127.0.0.5") as client:
        response = client.post(
            "/v1/jobs",
            content=b"\0" * (limit + 1),
            headers={"Content-Type": "multipart/form-data; boundary=x"} | fleet.take_key(),
        )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    assert str(limit) in error["message"]
    assert fleet.nginx.logged_since(before, 1) == [["-"]]  # nginx answered; no API server saw it


def test_an_upload_at_the_limit_passes_the_edge(fleet: Fleet) -> None:
    """The edge limit is the API's, not tighter: the API itself judges this one."""
    before = len(fleet.nginx.upstreams())
    with fleet.client("127.0.0.6") as client:
        response = client.post(
            "/v1/jobs",
            content=b"\0" * body_limit_bytes(MAX_FILE_BYTES),
            headers={"Content-Type": "multipart/form-data; boundary=x"} | fleet.take_key(),
        )
    assert response.status_code == 422, response.text  # not a multipart body: the API says so
    assert response.json()["error"]["code"] == "invalid_multipart"
    assert fleet.nginx.logged_since(before, 1) in [[[api.address]] for api in fleet.apis]


def _submit(fleet: Fleet, source: str, headers: dict[str, str] | None = None) -> int:
    with fleet.client(source) as client:
        response = client.post(
            "/v1/jobs", json=TEXT_JOB, headers=fleet.take_key() | (headers or {})
        )
    if response.status_code == 429:
        assert "per client address" in response.json()["error"]["message"]
    return response.status_code


def test_the_api_rate_limits_by_the_real_client_address(fleet: Fleet, store_url: str) -> None:
    """Each submission has its own key, so only the per-address limit (burst 2) refuses."""
    assert [_submit(fleet, "127.0.0.2") for _ in range(3)] == [202, 202, 429]
    spoofed = {"X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.7"}
    assert _submit(fleet, "127.0.0.2", spoofed) == 429  # a made-up address changes nothing
    assert _submit(fleet, "127.0.0.3") == 202  # another client has its own limit
    prefix = store_url.split("prefix=")[1]
    client = redis.Redis.from_url(store_url.split("?")[0])
    try:
        limited = {k.decode() for k in client.scan_iter(f"{prefix}ratelimit:ip:*")}
    finally:
        client.close()
    addresses = {key.removeprefix(f"{prefix}ratelimit:ip:") for key in limited}
    assert {"127.0.0.2", "127.0.0.3"} <= addresses
    assert not addresses & {"127.0.0.1", "198.51.100.7"}  # never the proxy, never the lie


def _multipart(clip: Path, boundary: str, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
    """A multipart body produced piece by piece, so the client sends it chunked."""
    for name, value in (("prompt", "static hiss"), ("output_format", "wav")):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    with clip.open("rb") as source:
        while chunk := source.read(chunk_bytes):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def test_a_streamed_multi_megabyte_upload_makes_a_job(fleet: Fleet, tmp_path: Path) -> None:
    clip = tmp_path / "noise.mp4"
    make_static(clip, duration_s=1.0, width=640, height=480, fps=30, noise_level=30)
    size_bytes = clip.stat().st_size
    assert 2_000_000 < size_bytes < MAX_FILE_BYTES
    boundary = uuid.uuid4().hex
    with fleet.client("127.0.0.4") as client:
        response = client.post(
            "/v1/jobs",
            content=_multipart(clip, boundary),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
            | fleet.take_key(),
        )
        assert response.status_code == 202, response.text
        job = client.get(response.headers["Location"], headers=fleet.take_key())
    assert job.status_code == 200, job.text  # any API server, any key of the tenant
    assert job.json()["state"] == "queued"
    stored = [p for p in (fleet.objects / "uploads").rglob("*") if p.is_file()]
    assert [p.stat().st_size for p in stored] == [size_bytes]
    assert stored[0].read_bytes() == clip.read_bytes()
    assert BUFFERED not in fleet.nginx.error_log()  # streamed through, never spooled


def test_other_routes_keep_nginx_buffering(fleet: Fleet) -> None:
    """The control for the check above: a body outside /v1/jobs is spooled, and logged."""
    with fleet.client("127.0.0.7") as client:
        response = client.post("/v1/jobs/none/cancel", content=b"\0" * (1 << 20))
    assert response.status_code == 401  # the API's answer: no key
    assert BUFFERED in fleet.nginx.error_log()


def _raw_submission(port: int, source: str) -> tuple[int, bytes]:
    """One JSON submission without a key, on a fresh connection; the status and the raw
    answer (an API server's 401, or nginx's own refusal)."""
    with socket.create_connection(("127.0.0.1", port), 30.0, (source, 0)) as connection:
        connection.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nHost: foley\r\nContent-Length: 2\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n\r\n{}"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return int(answer.split(b" ")[1]), answer


def test_the_edge_rate_limit_refuses_floods_itself(fleet: Fleet) -> None:
    """60 submissions at once from one address: nginx lets its burst (20) through, plus 5 a
    second of the time they took, and answers the rest itself with 429."""
    before = len(fleet.nginx.upstreams())
    start_s = time.monotonic()
    answers = [_raw_submission(fleet.nginx.port, "127.0.0.8") for _ in range(60)]
    elapsed_s = time.monotonic() - start_s
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 20 + 5 * elapsed_s + 1
    refused = [raw for status, raw in answers if status == 429]
    if refused:  # always, unless 60 small requests took over 8 s
        assert b"Retry-After: 1" in refused[0] and b'"code": "rate_limited"' in refused[0]
    served = fleet.nginx.logged_since(before, 60)
    assert served.count(["-"]) == len(refused)  # no API server saw a refused one


def test_the_tls_example_serves_https(fleet: Fleet, tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    tls = start_nginx(tmp_path / "nginx", fleet.apis, MAX_FILE_BYTES, tls=(cert, key))
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(f"https://127.0.0.1:{tls.port}/healthz", verify=trusted)
        assert response.status_code == 200
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        plain = httpx.get(f"http://127.0.0.1:{tls.port}/healthz")
        assert plain.status_code == 400  # nginx: plain HTTP sent to an HTTPS port
    finally:
        stop(tls.process)


def test_a_stopped_api_server_is_passed_over(fleet: Fleet) -> None:
    """Passive health checks, then none left. Last in this module: it stops the servers."""
    stop(fleet.apis[1].process)
    before = len(fleet.nginx.upstreams())
    with fleet.client("127.0.0.1") as client:
        assert [client.get("/healthz").status_code for _ in range(6)] == [200] * 6
    tried = fleet.nginx.logged_since(before, 6)
    alive, stopped = (api.address for api in fleet.apis)
    assert [hops[-1] for hops in tried] == [alive] * 6
    assert any(stopped in hops for hops in tried)  # tried, failed, and passed over
    stop(fleet.apis[0].process)
    with fleet.client("127.0.0.1") as client:
        down = client.get("/healthz")
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    assert down.json()["error"]["code"] == "unavailable"
