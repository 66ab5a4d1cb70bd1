"""Many workers on one store at once: threads with their own store instance (their own
connection, as separate processes would have), one instance shared by threads (a worker's
heartbeat thread), and, for SQLite, real processes."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from foleyserve.errors import RateLimited
from foleyserve.jobs.model import JobState
from foleyserve.store.base import JobStore
from foleyserve.store.sqlite import SQLiteJobStore

from .conftest import StoreFactory
from .factories import T0, at, spec

WORKERS = 4
JOBS = 200
_T = TypeVar("_T")


def _claim_all(
    store: JobStore, worker_id: str, ids: list[str], start: threading.Barrier | None
) -> list[str]:
    """A worker that tries to claim every job, in its own random order, a few at a time, so
    that every job is fought over by every worker."""
    order = list(ids)
    random.Random(worker_id).shuffle(order)
    if start is not None:
        start.wait()
    claimed: list[str] = []
    for i in range(0, len(order), 5):
        jobs = store.claim(order[i : i + 5], worker_id, lease_s=60, now=at(1))
        claimed += [job.id for job in jobs]
    return claimed


def _in_threads(n: int, work: Callable[[int, threading.Barrier], _T]) -> list[_T]:
    start = threading.Barrier(n)
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(work, i, start) for i in range(n)]
        return [future.result(timeout=60) for future in futures]


def _assert_each_claimed_once(store: JobStore, ids: list[str], claims: list[list[str]]) -> None:
    counted = Counter(job_id for claimed in claims for job_id in claimed)
    assert counted.keys() == set(ids)
    assert set(counted.values()) == {1}
    assert store.counts()[JobState.RUNNING] == len(ids)
    for i, claimed in enumerate(claims):
        assert all(store.get(job_id).worker_id == f"w{i}" for job_id in claimed)


def test_threads_with_their_own_store_claim_each_job_once(make_store: StoreFactory) -> None:
    store = make_store()
    ids = [store.submit(spec(), now=T0)[0].id for _ in range(JOBS)]
    stores = [make_store() for _ in range(WORKERS)]
    claims = _in_threads(WORKERS, lambda i, start: _claim_all(stores[i], f"w{i}", ids, start))
    _assert_each_claimed_once(store, ids, claims)


def test_threads_sharing_one_store_claim_each_job_once(store: JobStore) -> None:
    ids = [store.submit(spec(), now=T0)[0].id for _ in range(JOBS)]
    claims = _in_threads(WORKERS, lambda i, start: _claim_all(store, f"w{i}", ids, start))
    _assert_each_claimed_once(store, ids, claims)


def test_concurrent_submissions_never_pass_a_tenants_queued_cap(make_store: StoreFactory) -> None:
    cap, stores = 10, [make_store() for _ in range(WORKERS)]

    def submit_many(i: int, start: threading.Barrier) -> int:
        start.wait()
        accepted = 0
        for _ in range(3 * cap // WORKERS + 1):
            try:
                stores[i].submit(spec("a"), now=T0, tenant_max_queued=cap)
                accepted += 1
            except RateLimited:
                pass
        return accepted

    assert sum(_in_threads(WORKERS, submit_many)) == cap
    assert stores[0].counts()[JobState.QUEUED] == cap


def test_processes_claim_each_job_once_in_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path, durable=False)
    try:
        ids = [store.submit(spec(), now=T0)[0].id for _ in range(JOBS)]
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=WORKERS, mp_context=spawn) as pool:
            futures = [
                pool.submit(_claim_in_process, path, f"w{i}", ids, tmp_path / "ready")
                for i in range(WORKERS)
            ]
            claims = [future.result(timeout=60) for future in futures]
        _assert_each_claimed_once(store, ids, claims)
    finally:
        store.close()


def _claim_in_process(path: Path, worker_id: str, ids: list[str], ready: Path) -> list[str]:
    store = SQLiteJobStore(path, durable=False)
    try:
        # A start line across processes: spawning takes long enough that the first process
        # would otherwise be done before the last one starts.
        ready.mkdir(exist_ok=True)
        (ready / worker_id).touch()
        give_up = time.monotonic() + 30
        while len(list(ready.iterdir())) < WORKERS and time.monotonic() < give_up:
            time.sleep(0.005)
        return _claim_all(store, worker_id, ids, None)
    finally:
        store.close()


def test_requeue_expired_from_many_workers_changes_each_job_once(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    running = [store.submit(spec(), now=T0)[0].id for _ in range(60)]
    store.claim(running, "gone", lease_s=10, now=at(1))
    late = [store.submit(spec(deadline=at(5)), now=T0)[0].id for _ in range(40)]
    stores = [make_store() for _ in range(WORKERS)]

    def sweep(i: int, start: threading.Barrier) -> list[str]:
        start.wait()
        return [job.id for job in stores[i].requeue_expired(now=at(20))]

    changed = Counter(job_id for ids in _in_threads(WORKERS, sweep) for job_id in ids)
    assert changed.keys() == set(running + late)
    assert set(changed.values()) == {1}
    counts = store.counts()
    assert (counts[JobState.QUEUED], counts[JobState.EXPIRED]) == (60, 40)
    assert all(store.get(job_id).attempts == 1 for job_id in running)
