"""Scheduler overhead: jobs per second through submit -> lease -> complete when the work is free.

Three systems on the same machine, in one run:

- `store loop`: foleyserve's scheduling path alone. Worker processes run what `Worker.run_once`
  does to the store (requeue expired leases, read the queue, `plan_batch`, claim with the
  fairness charge) and complete each job at once: no engine, no files.
- `worker+null`: the real `Worker` with `NullEngine` (silence in no time), so each job also
  writes a WAV, stores it and fills the result cache: our whole per-job overhead.
- `arq`: a well-known Redis job queue doing the same empty work (an async function returning
  None) on the same Redis server. arq pins `redis<6`, so it runs from its own virtualenv
  (benchmarks/.venv-arq, made on first use) in subprocesses.

    python benchmarks/queue_overhead.py --jobs 2000

Each row: submit rate (one client, sequential), drain rate (N worker processes emptying a full
queue), and the end-to-end rate (submit + drain). Redis is a private redis-server on a free port.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARQ_VENV = HERE / ".venv-arq"
ARQ_VERSION = "0.28.0"


def _now() -> datetime:
    return datetime.now(UTC)


def _spec(i: int) -> object:
    from foleyserve.jobs.model import JobSpec
    from foleyserve.params import OutputFormat

    return JobSpec(
        tenant=f"t{i % 4}",
        video_key=None,
        video_sha256=None,
        duration_s=0.25,
        prompt="rain",
        seed=i,
        output_format=OutputFormat.WAV,
    )


def submit_all(store_url: str, n: int) -> float:
    from foleyserve.store import open_store

    store = open_store(store_url)
    start = time.perf_counter()
    for i in range(n):
        store.submit(_spec(i), now=_now())  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def store_loop(store_url: str, worker_id: str) -> None:
    """Worker.run_once's store traffic, then an immediate completion per job."""
    from foleyserve.jobs.model import JobResult
    from foleyserve.scheduling.policy import BatchPolicy, Candidate, plan_batch
    from foleyserve.store import open_store
    from foleyserve.worker.loop import SNAPSHOT_TENANTS

    store = open_store(store_url)
    policy = BatchPolicy(max_wait_ms=0, max_batch_size=16)
    result = JobResult(audio_key="x", duration_s=0.25, sample_rate_hz=16000, content_type="a/b")
    while True:
        now = _now()
        store.requeue_expired(now=now)
        queued = store.queued(limit=SNAPSHOT_TENANTS * 16, per_tenant=16)  # as Worker does
        if not queued:
            break
        candidates = [
            Candidate(
                job_id=j.id,
                tenant=j.spec.tenant,
                priority=j.spec.priority,
                queued_at_s=j.created_at.timestamp(),
                batch_key="null",
                duration_s=j.spec.duration_s,
                cost_s=j.spec.duration_s,
            )
            for j in queued
        ]
        plan = plan_batch(
            candidates, now_s=now.timestamp(), policy=policy, fairness=store.fairness()
        )
        for job in store.claim(plan.job_ids, worker_id, lease_s=30, now=now, charge=plan.charge):
            store.complete(job.id, worker_id, result, now=_now())
    store.close()


def null_worker(store_url: str, storage: str, worker_id: str) -> None:
    from foleyserve.engines.null import NullEngine
    from foleyserve.jobs.model import JobState
    from foleyserve.settings import Settings
    from foleyserve.storage import open_object_store
    from foleyserve.store import open_store
    from foleyserve.worker.loop import Worker

    store = open_store(store_url)
    settings = Settings(max_batch_wait_ms=0, max_batch_size=16)
    worker = Worker(NullEngine(), store, open_object_store(storage), settings, worker_id)
    while store.counts()[JobState.QUEUED] > 0:
        worker.run_once()
    store.close()


def _drain(target: Callable[..., None], args_per_worker: list[tuple[object, ...]]) -> float:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in args_per_worker]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a worker exited with {p.exitcode}")
    return time.perf_counter() - start


def run_ours(kind: str, store_url: str, n: int, workers: int, tmp: Path) -> tuple[float, float]:
    submit_s = submit_all(store_url, n)
    if kind == "store loop":
        drain_s = _drain(store_loop, [(store_url, f"w{k}") for k in range(workers)])
    else:
        storage = str(tmp / f"objects-{time.monotonic_ns()}")
        drain_s = _drain(null_worker, [(store_url, storage, f"w{k}") for k in range(workers)])
    return submit_s, drain_s


ARQ_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from multiprocessing import Process
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    async def noop(ctx):
        return None

    def work(settings):
        Worker(functions=[noop], redis_settings=settings, burst=True, max_jobs=16,
               handle_signals=False, log_results=False, poll_delay=0.05,
               keep_result=0).run()

    async def submit(settings, n):
        pool = await create_pool(settings)
        start = time.perf_counter()
        for _ in range(n):
            await pool.enqueue_job("noop")
        elapsed = time.perf_counter() - start
        await pool.aclose()
        return elapsed

    if __name__ == "__main__":
        port, n, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
        settings = RedisSettings(host="127.0.0.1", port=port)
        submit_s = asyncio.run(submit(settings, n))
        procs = [Process(target=work, args=(settings,)) for _ in range(workers)]
        start = time.perf_counter()
        for p in procs: p.start()
        for p in procs: p.join()
        print(submit_s, time.perf_counter() - start)
    """
)


def run_arq(port: int, n: int, workers: int, tmp: Path) -> tuple[float, float]:
    python = ARQ_VENV / "bin" / "python"
    if not python.exists():
        print("making benchmarks/.venv-arq ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(ARQ_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"arq=={ARQ_VERSION}"], check=True
        )
    script = tmp / "arq_bench.py"
    script.write_text(ARQ_SCRIPT)
    out = subprocess.run(
        [str(python), str(script), str(port), str(n), str(workers)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def _redis(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp,
    )
    time.sleep(0.5)
    return proc, port


def _flush(port: int) -> None:
    import redis

    client = redis.Redis(port=port)
    client.flushall()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--skip-arq", action="store_true")
    args = parser.parse_args()
    n = args.jobs
    rows: list[tuple[str, str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp_name:
        tmp = Path(tmp_name)
        redis_proc, port = _redis(tmp)
        try:
            for workers in (int(w) for w in args.workers.split(",")):
                for kind in ("store loop", "worker+null"):
                    sqlite_url = f"sqlite:///{tmp / f'jobs-{kind[0]}{workers}.db'}"
                    rows.append(
                        (kind, "sqlite", workers, *run_ours(kind, sqlite_url, n, workers, tmp))
                    )
                    _flush(port)
                    redis_url = f"redis://127.0.0.1:{port}/0"
                    rows.append(
                        (kind, "redis", workers, *run_ours(kind, redis_url, n, workers, tmp))
                    )
                    _flush(port)
                if not args.skip_arq:
                    rows.append(
                        ("arq " + ARQ_VERSION, "redis", workers, *run_arq(port, n, workers, tmp))
                    )
                    _flush(port)
                print(f"done {workers} worker(s)", file=sys.stderr)
        finally:
            redis_proc.terminate()
    _print(rows, n)


def _print(rows: list[tuple[str, str, int, float, float]], n: int) -> None:
    print(f"{n} jobs; {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    print("| system | store | workers | submit jobs/s | drain jobs/s | end-to-end jobs/s |")
    print("|---|---|---|---|---|---|")
    for system, store, workers, submit_s, drain_s in rows:
        print(
            f"| {system} | {store} | {workers} | {n / submit_s:,.0f} | {n / drain_s:,.0f} "
            f"| {n / (submit_s + drain_s):,.0f} |"
        )
    arq = {w: n / (s + d) for sysname, _, w, s, d in rows if sysname.startswith("arq")}
    for system, store, workers, submit_s, drain_s in rows:
        if store == "redis" and workers in arq and not system.startswith("arq"):
            ratio = (n / (submit_s + drain_s)) / arq[workers]
            print(f"{system} on redis, {workers} worker(s): {ratio:.2f}x arq end to end")


if __name__ == "__main__":
    main()
