"""`foleyserve serve` as a real process, and the `keys` commands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from foleyserve.api.webhooks import SIGNATURE_HEADER, load_payload, verify
from foleyserve.cli import app
from foleyserve.jobs.model import JobState

from .test_webhooks import Receiver, receiver

__all__ = ["receiver"]  # the fixture

START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(tmp_path: Path) -> dict[str, str]:
    return os.environ | {"FOLEYSERVE_DATA_DIR": str(tmp_path), "FOLEYSERVE_ENGINE": "null"}


def test_serve_runs_a_job_and_sends_its_signed_webhooks(tmp_path: Path, receiver: Receiver) -> None:
    """API and worker in one process, no keys on loopback (tenant `local`)."""
    port = _free_port()
    hook_port = receiver.url.split(":")[2].split("/")[0]
    env = _env(tmp_path) | {
        "FOLEYSERVE_FETCH_ALLOW_HTTP": "true",
        "FOLEYSERVE_FETCH_ALLOW_PRIVATE": "true",
        "FOLEYSERVE_FETCH_ALLOWED_PORTS": f"[{hook_port}]",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "foleyserve", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        assert httpx.get(f"{base}/healthz").status_code == 200
        job = httpx.post(
            f"{base}/v1/jobs",
            json={
                "prompt": "rain",
                "duration_s": 0.5,
                "output_format": "wav",
                "webhook_url": receiver.url,
                "webhook_events": ["running", "succeeded"],
            },
        )
        assert job.status_code == 202, job.text
        give_up = time.monotonic() + START_TIMEOUT_S
        while len(receiver.requests) < 2 and time.monotonic() < give_up:
            time.sleep(0.05)
        secret = httpx.get(f"{base}/v1/webhooks/secret").json()["secret"]
        metrics = httpx.get(f"{base}/metrics").text
    finally:
        process.terminate()
        process.wait(timeout=START_TIMEOUT_S)
    payloads = [load_payload(r.body) for r in receiver.requests]
    assert [(p.type, p.job.state) for p in payloads] == [
        ("job.started", JobState.RUNNING),
        ("job.completed", JobState.SUCCEEDED),
    ]
    assert {p.job.id for p in payloads} == {job.json()["id"]}
    for request in receiver.requests:
        signature = request.headers[SIGNATURE_HEADER.lower()]
        assert verify(request.body, signature, secret, now_s=int(time.time()))
    # The embedded worker's own metrics appear beside the API's.
    assert "foleyserve_batch_size_count 1.0" in metrics
    assert 'foleyserve_worker_last_seen_timestamp_seconds{worker="embedded"}' in metrics


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1.0)
            return
        except httpx.TransportError:  # not listening yet
            assert process.poll() is None, "foleyserve serve exited"
            assert time.monotonic() < give_up, "foleyserve serve did not start"
            time.sleep(0.1)


def test_serve_refuses_a_public_bind_without_keys(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "foleyserve", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=_env(tmp_path) | {"COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 2
    assert "foleyserve keys create --tenant NAME" in done.stderr


def test_keys_create_list_and_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"FOLEYSERVE_DATA_DIR": str(tmp_path)}
    created = runner.invoke(app, ["keys", "create", "--tenant", "acme"], env=env)
    assert created.exit_code == 0, created.output
    assert created.stdout.strip().startswith("fs_")
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert '"tenant_id": "acme"' in listed.stdout
    key_id = listed.stdout.split('"id": "')[1].split('"')[0]
    revoked = runner.invoke(app, ["keys", "revoke", key_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert '"revoked_at": null' not in runner.invoke(app, ["keys", "list"], env=env).stdout
