"""Fixtures shared by every test folder: real services that the tests start themselves."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

_START_TIMEOUT_S = 10.0


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh redis-server on 127.0.0.1, for this session only."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not installed; the Redis store tests start their own. Install it "
            "(apt-get install redis-server), or run scripts/test, which does.",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    with (workdir / "redis.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        _wait_for_ping(url, process, workdir / "redis.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=_START_TIMEOUT_S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    give_up = time.monotonic() + _START_TIMEOUT_S
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > give_up:
                process.kill()
                process.wait()
                pytest.fail(f"redis-server did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.05)
    finally:
        client.close()
