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

from foleyserve.cli import app

START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(tmp_path: Path) -> dict[str, str]:
    return os.environ | {"FOLEYSERVE_DATA_DIR": str(tmp_path), "FOLEYSERVE_ENGINE": "null"}


def test_serve_starts_and_answers_health(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "foleyserve", "serve", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        give_up = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < give_up, "foleyserve serve did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        job = httpx.post(
            f"http://127.0.0.1:{port}/v1/jobs",
            json={"prompt": "rain", "duration_s": 0.5, "output_format": "wav"},
        )
        assert job.status_code == 202, job.text  # tenant `local`: no keys on loopback
    finally:
        process.terminate()
        process.wait(timeout=START_TIMEOUT_S)
        if process.stderr:
            process.stderr.close()


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
