"""Real worker processes (`foleyserve worker`) on one queue: nothing lost, nothing run twice into
two results, and a worker killed with SIGKILL loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foleyserve.engines.null import NullEngine
from foleyserve.jobs.model import JobState
from foleyserve.jobs.service import JobService
from foleyserve.params import OutputFormat, RenderParams
from foleyserve.settings import Settings
from foleyserve.storage.local import LocalObjectStore
from foleyserve.store import open_store
from foleyserve.store.base import JobStore
from foleyserve.worker.context import Caches


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    url: str = request.getfixturevalue("redis_url")
    return f"{url}?prefix=processes:{tmp_path.name}:"


@contextmanager
def workers(
    names: list[str], tmp_path: Path, env: dict[str, str]
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs = {}
    for name in names:
        with (tmp_path / f"{name}.log").open("wb") as log:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "foleyserve", "worker", "--id", name],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError(f"worker {name} ignored SIGTERM") from None


def _wait_for(store: JobStore, state: JobState, count: int, timeout_s: float = 180.0) -> None:
    give_up = time.monotonic() + timeout_s
    while store.counts()[state] < count:
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out: {store.counts()}")
        time.sleep(0.1)


def _service(store: JobStore, objects: LocalObjectStore, engine: object) -> JobService:
    settings = Settings()
    caches = Caches.create(store, objects, settings, _now)
    return JobService(store, objects, settings, engine, caches.results, _now)  # type: ignore[arg-type]


def test_four_workers_run_200_jobs_each_exactly_once(store_url: str, tmp_path: Path) -> None:
    store, objects = open_store(store_url), LocalObjectStore(tmp_path / "objects")
    service = _service(store, objects, NullEngine())
    params = RenderParams("rain", output_format=OutputFormat.WAV)
    jobs = [service.submit_text(0.5, params, tenant=f"t{i % 3}") for i in range(200)]
    env = {
        "FOLEYSERVE_ENGINE": "null",
        "FOLEYSERVE_STORE": store_url,
        "FOLEYSERVE_STORAGE": str(tmp_path / "objects"),
        "FOLEYSERVE_MAX_BATCH_SIZE": "4",
        "FOLEYSERVE_MAX_BATCH_WAIT_MS": "0",
    }
    with workers([f"w{k}" for k in range(4)], tmp_path, env) as procs:
        _wait_for(store, JobState.SUCCEEDED, 200)
    assert all(proc.returncode == 0 for proc in procs.values())
    done = [store.get(job.id) for job in jobs]
    assert all(job.state is JobState.SUCCEEDED and job.attempts == 1 for job in done)
    assert len({job.worker_id for job in done}) > 1, "the work was not shared"
    stored = list((tmp_path / "objects" / "results").rglob("foley.wav"))
    assert len(stored) == 200
    store.close()


def test_a_killed_worker_loses_nothing(store_url: str, tmp_path: Path) -> None:
    store, objects = open_store(store_url), LocalObjectStore(tmp_path / "objects")
    from foleyserve.engines.procedural.engine import ProceduralEngine

    service = _service(store, objects, ProceduralEngine(embedder=None))
    # Long text-only jobs with several layers: a few seconds of work each.
    params = RenderParams("rain, wind, fire and crowd", output_format=OutputFormat.WAV)
    jobs = [
        service.submit_text(60.0, params, tenant="acme", idempotency_key=str(i)) for i in range(4)
    ]
    env = {
        "FOLEYSERVE_TEXT_EMBEDDER": "keywords",
        "FOLEYSERVE_STORE": store_url,
        "FOLEYSERVE_STORAGE": str(tmp_path / "objects"),
        "FOLEYSERVE_MAX_BATCH_SIZE": "2",
        "FOLEYSERVE_MAX_BATCH_WAIT_MS": "0",
        "FOLEYSERVE_LEASE_S": "2",
    }
    with workers(["victim"], tmp_path, env) as first:
        give_up = time.monotonic() + 120
        while not any(store.get(j.id).worker_id == "victim" for j in jobs):
            assert time.monotonic() < give_up, store.counts()
            time.sleep(0.05)
        held = [j.id for j in jobs if store.get(j.id).worker_id == "victim"]
        first["victim"].send_signal(signal.SIGKILL)
        first["victim"].wait()
        with workers(["rescuer"], tmp_path, env):
            _wait_for(store, JobState.SUCCEEDED, len(jobs))
    for job in jobs:
        done = store.get(job.id)
        assert done.state is JobState.SUCCEEDED and done.worker_id == "rescuer"
        assert done.attempts == (2 if job.id in held else 1)
    # One stored result per job: the killed worker left no half-written ones behind.
    assert len(list((tmp_path / "objects" / "results").rglob("foley.wav"))) == len(jobs)
    store.close()


@pytest.mark.parametrize(("grace_s", "finished"), [("60", True), ("0", False)])
def test_sigterm_finishes_the_batch_within_the_grace_period(
    tmp_path: Path, grace_s: str, finished: bool
) -> None:
    store_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store, objects = open_store(store_url), LocalObjectStore(tmp_path / "objects")
    from foleyserve.engines.procedural.engine import ProceduralEngine

    service = _service(store, objects, ProceduralEngine(embedder=None))
    params = RenderParams("rain, wind, fire and crowd", output_format=OutputFormat.WAV)
    job = service.submit_text(240.0, params, tenant="acme")
    env = {
        "FOLEYSERVE_TEXT_EMBEDDER": "keywords",
        "FOLEYSERVE_STORE": store_url,
        "FOLEYSERVE_STORAGE": str(tmp_path / "objects"),
        "FOLEYSERVE_SHUTDOWN_GRACE_S": grace_s,
        "FOLEYSERVE_LEASE_S": "1.5",  # progress reaches the store every 0.5 s
    }
    with workers(["w"], tmp_path, env) as procs:
        give_up = time.monotonic() + 120
        while store.get(job.id).progress.stage != "generating":
            assert time.monotonic() < give_up, store.get(job.id)
            time.sleep(0.02)
        procs["w"].send_signal(signal.SIGTERM)
        assert procs["w"].wait(timeout=120) == 0
    done = store.get(job.id)
    if finished:
        assert done.state is JobState.SUCCEEDED
    else:
        # Released at once: back in the queue for another worker, not lost, not failed.
        assert done.state is JobState.QUEUED and done.error is not None
        assert done.error.code == "worker_shutdown"
    store.close()
