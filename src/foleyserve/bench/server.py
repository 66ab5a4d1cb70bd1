"""Start `foleyserve serve` as a child process for a benchmark, and watch its memory.

`BenchServer` runs the real command (`python -m foleyserve serve`) on a free loopback port with
a fresh data directory and the given `FOLEYSERVE_*` overrides, waits for `/readyz`, samples the
process's resident memory (psutil) while it runs, and stops it on exit. The rate limits are
raised for the bench (an open-loop generator from one address would otherwise be throttled
long before the engine is the bottleneck); any override the caller passes wins.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from foleyserve.errors import ConfigError

START_TIMEOUT_S = 300.0
RSS_SAMPLE_S = 0.2
BENCH_ENV = {
    "FOLEYSERVE_RATE_LIMIT_PER_S": "100000",
    "FOLEYSERVE_RATE_LIMIT_BURST": "100000",
    "FOLEYSERVE_API_KEYS_REQUIRED": "false",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BenchServer:
    """`with BenchServer(data_dir, {"FOLEYSERVE_BATCH_POLICY": "none"}) as server: server.url`"""

    def __init__(self, data_dir: Path, env: Mapping[str, str], *, workers: int = 0) -> None:
        """`workers` extra `foleyserve worker` processes against the same store (beside the
        embedded one)."""
        self.data_dir = data_dir
        self.env = dict(os.environ) | BENCH_ENV | {"FOLEYSERVE_DATA_DIR": str(data_dir)} | dict(env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_workers = workers
        self.peak_rss_bytes = 0
        """The largest resident memory seen of the server (its embedded worker included)."""
        self.worker_peak_rss_bytes = 0
        """The largest of the extra workers'."""
        self._processes: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> BenchServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "server.log").open("wb")
        command = [sys.executable, "-m", "foleyserve", "serve", "--port", str(self.port)]
        self._processes.append(
            subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )
        for i in range(self.extra_workers):
            worker = [sys.executable, "-m", "foleyserve", "worker", "--id", f"bench-w{i + 1}"]
            self._processes.append(
                subprocess.Popen(worker, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise
        self._sampler.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._sampler.is_alive():
            self._sampler.join()
        self._terminate()

    def _wait_ready(self) -> None:
        give_up = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < give_up:
            if self._processes[0].poll() is not None:
                raise ConfigError(
                    f"foleyserve serve exited with {self._processes[0].returncode}: "
                    f"see {self.data_dir / 'server.log'}",
                    code="bench_server_failed",
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise ConfigError(
            f"foleyserve serve was not ready within {START_TIMEOUT_S:.0f} s", code="bench_timeout"
        )

    def _sample(self) -> None:
        handles = []
        for p in self._processes:
            try:
                handles.append(psutil.Process(p.pid))
            except psutil.Error:
                handles.append(None)
        while not self._stop.wait(RSS_SAMPLE_S):
            for i, handle in enumerate(handles):
                if handle is None:
                    continue
                try:
                    rss = int(handle.memory_info().rss)
                except psutil.Error:
                    continue
                if i == 0:
                    self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
                else:
                    self.worker_peak_rss_bytes = max(self.worker_peak_rss_bytes, rss)

    def _terminate(self) -> None:
        for p in self._processes:
            if p.poll() is None:
                p.terminate()
        for p in self._processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
