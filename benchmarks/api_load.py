"""API overhead under load: foleyserve's endpoints against a bare FastAPI app, one run.

Two servers on loopback, each uvicorn in a subprocess of its own, one process and one event loop
each:

- `foleyserve`: `foleyserve serve` on embedded defaults (SQLite, a local folder, no keys) with
  the `null` engine, so the one job it runs finishes at once.
- `bare`: a FastAPI app with two endpoints and no logic: `GET /bare/{id}` answers a fixed JSON
  object of the size of a job; `POST /bare` reads a multipart upload and answers 200.

Scenarios, each `--rounds` times `--seconds` per server, the servers alternating, at
`--concurrency` requests in flight (one asyncio client process, httpx, keep-alive):

- `GET /v1/jobs/{id}` of a finished job, against `GET /bare/{id}`.
- a result-cache hit: `POST /v1/jobs` of the same small clip and prompt (probed, hashed,
  answered from the cache, result file copied), against `POST /bare` of the same upload.

    python benchmarks/api_load.py --seconds 4 --rounds 5 --concurrency 16

Prints one table: requests/s, p50 and p99 latency per scenario and server, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

PROMPT = "a ball bouncing"
START_TIMEOUT_S = 120.0


def bare_app() -> FastAPI:
    app = FastAPI()
    body = {"id": "job_0", "state": "succeeded", "padding": "x" * 900}

    @app.get("/bare/{job_id}")
    def get(job_id: str) -> dict[str, str]:
        return body | {"id": job_id}

    @app.post("/bare")
    async def post(request: Request) -> dict[str, str]:
        form = await request.form()
        await form.close()
        return body

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise SystemExit(f"server exited ({process.returncode})")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


async def _load(
    method: str, url: str, seconds: float, concurrency: int, clip: bytes | None
) -> list[float]:
    """Latencies (s) of every request completed within `seconds`; any non-2xx stops the run."""
    latencies: list[float] = []
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def one_client() -> None:
            while time.monotonic() < end:
                started = time.perf_counter()
                if clip is None:
                    response = await client.request(method, url)
                else:
                    files = {"video": ("clip.mp4", clip, "video/mp4")}
                    data = {"prompt": PROMPT, "output_format": "wav"}
                    response = await client.post(url, files=files, data=data)
                if response.status_code >= 300:
                    raise SystemExit(f"{method} {url}: {response.status_code} {response.text}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


def _row(name: str, latencies: list[float], seconds: float) -> tuple[str, float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return name, len(ordered) / seconds, statistics.median(ordered) * 1e3, p99 * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        import uvicorn

        uvicorn.run(bare_app(), host="127.0.0.1", port=args.bare_server, log_level="warning")
        return
    with tempfile.TemporaryDirectory(prefix="foleyserve-api-load-") as tmp:
        run(Path(tmp), args.seconds, args.concurrency, args.rounds)


def run(folder: Path, seconds: float, concurrency: int, rounds: int) -> None:
    from foleyserve.media.synthetic import make_bouncing_ball

    clip_path = folder / "clip.mp4"
    make_bouncing_ball(clip_path, impact_times_s=[0.5], duration_s=1.0)
    clip = clip_path.read_bytes()
    ours_port, bare_port = _free_port(), _free_port()
    env = os.environ | {
        "FOLEYSERVE_DATA_DIR": str(folder / "data"),
        "FOLEYSERVE_ENGINE": "null",
        "FOLEYSERVE_RATE_LIMIT_PER_S": "1000000",
        "FOLEYSERVE_RATE_LIMIT_BURST": "1000000",
    }
    ours = subprocess.Popen(
        [sys.executable, "-m", "foleyserve", "serve", "--port", str(ours_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = subprocess.Popen(
        [sys.executable, __file__, "--bare-server", str(bare_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base, bare_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{bare_port}"
    try:
        _wait_up(f"{base}/healthz", ours)
        _wait_up(f"{bare_base}/bare/x", bare)
        job_id = _first_job(base, clip)
        scenarios = [
            (
                "GET job",
                ("GET", f"{base}/v1/jobs/{job_id}", None),
                ("GET", f"{bare_base}/bare/{job_id}", None),
            ),
            (
                "cache-hit POST",
                ("POST", f"{base}/v1/jobs", clip),
                ("POST", f"{bare_base}/bare", clip),
            ),
        ]
        print(f"{'scenario':<16} {'server':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, mine, theirs in scenarios:
            pooled: dict[str, list[float]] = {"foleyserve": [], "bare": []}
            # Alternating short rounds: load from elsewhere on the machine hits both alike.
            for _ in range(rounds):
                for server, (method, url, upload) in (("foleyserve", mine), ("bare", theirs)):
                    pooled[server] += asyncio.run(_load(method, url, seconds, concurrency, upload))
            rows = [_row(server, pooled[server], seconds * rounds) for server in pooled]
            for server, rate, p50, p99 in rows:
                print(f"{name:<16} {server:<11} {rate:>8.1f} {p50:>8.1f} {p99:>8.1f}")
            print(
                f"{name:<16} {'ratio':<11} {rows[0][1] / rows[1][1]:>8.2f} "
                f"{rows[0][2] / rows[1][2]:>8.2f} {rows[0][3] / rows[1][3]:>8.2f}"
            )
    finally:
        for process in (ours, bare):
            process.terminate()
            process.wait(timeout=60)


def _first_job(base: str, clip: bytes) -> str:
    """Submit the clip once and wait until it has succeeded: later submissions hit the cache."""
    files = {"video": ("clip.mp4", clip, "video/mp4")}
    job = httpx.post(
        f"{base}/v1/jobs", files=files, data={"prompt": PROMPT, "output_format": "wav"}
    )
    job.raise_for_status()
    job_id: str = job.json()["id"]
    give_up = time.monotonic() + START_TIMEOUT_S
    while httpx.get(f"{base}/v1/jobs/{job_id}").json()["state"] != "succeeded":
        if time.monotonic() > give_up:
            raise SystemExit("the first job did not finish")
        time.sleep(0.1)
    return job_id


if __name__ == "__main__":
    main()
