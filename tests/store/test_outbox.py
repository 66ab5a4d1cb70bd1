"""The webhook outbox of the `JobStore` contract, on every implementation: events are written
with the job changes they announce, leased to one dispatcher at a time, and kept until done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from foleyserve.jobs.model import JobSpec, JobState, Progress, WebhookEvent
from foleyserve.store import open_store
from foleyserve.store.base import JobStore

from .conftest import StoreFactory, flush_redis
from .factories import T0, at, error, result, spec

LEASE_S = 30.0
URL = "https://hooks.example.com/foley?token=abc"
ALL: tuple[WebhookEvent, ...] = ("running", "succeeded", "failed", "canceled", "expired")


def hooked(events: tuple[WebhookEvent, ...] = ALL, **fields: object) -> JobSpec:
    return spec(**fields).model_copy(  # type: ignore[arg-type]
        update={"webhook_url": URL, "webhook_events": events}
    )


def _due(store: JobStore, owner: str = "d1", now_s: float = 1000.0) -> list[tuple[str, str]]:
    """(job id, event) of every event leased now, in order."""
    return [
        (e.job.id, e.event)
        for e in store.events_due(owner, limit=100, lease_s=LEASE_S, now=at(now_s))
    ]


def test_each_announced_change_adds_one_event_with_a_snapshot(store: JobStore) -> None:
    job, _ = store.submit(hooked(), now=T0)
    assert store.events_pending() == 0  # queued is not an event
    store.claim([job.id], "w1", lease_s=LEASE_S, now=at(1))
    store.heartbeat(
        "w1", {job.id: Progress(stage="generating", step=1, total=2)}, lease_s=LEASE_S, now=at(2)
    )
    store.complete(job.id, "w1", result(), now=at(3))
    events = store.events_due("d1", limit=10, lease_s=LEASE_S, now=at(10))
    assert [(e.event, e.job.state, e.url) for e in events] == [
        ("running", JobState.RUNNING, URL),
        ("succeeded", JobState.SUCCEEDED, URL),
    ]
    running, succeeded = events
    assert running.job.started_at == at(1) and running.job.result is None
    assert succeeded.job.result == result() and succeeded.attempts == 0
    assert running.id != succeeded.id and running.id.startswith("dlv_")
    assert all(e.due_at == at(10 + LEASE_S) for e in events)
    assert store.events_pending() == 2


def test_only_the_asked_for_events_of_jobs_with_a_url(store: JobStore) -> None:
    plain, _ = store.submit(spec(), now=T0)
    finals, _ = store.submit(hooked(("succeeded", "failed")), now=T0)
    store.claim([plain.id, finals.id], "w1", lease_s=LEASE_S, now=at(1))
    store.complete(plain.id, "w1", result(), now=at(2))
    store.fail(finals.id, "w1", error(), retryable=True, now=at(2))  # requeued: no event
    store.claim([finals.id], "w1", lease_s=LEASE_S, now=at(3))
    store.fail(finals.id, "w1", error(), retryable=False, now=at(4))
    assert _due(store) == [(finals.id, "failed")]


def test_cancel_expiry_cache_hit_and_lost_lease(store: JobStore) -> None:
    canceled, _ = store.submit(hooked(), now=T0)
    late, _ = store.submit(hooked(deadline=at(5)), now=T0)
    lost, _ = store.submit(hooked(("canceled", "failed")), now=T0)
    store.cancel(canceled.id, None, now=at(1))
    store.claim([lost.id], "w1", lease_s=1.0, now=at(1))
    store.cancel(lost.id, None, now=at(1.5))  # running: only asked, no event yet
    store.requeue_expired(now=at(6))
    hit = store.submit_finished(hooked(), result(), now=at(7))
    due = _due(store)
    assert due[0] == (canceled.id, "canceled") and due[-1] == (hit.id, "succeeded")
    # Both happened in the sweep at 6 s: equal due times, in no particular order.
    assert sorted(due[1:3]) == sorted([(late.id, "expired"), (lost.id, "canceled")])
    assert len(due) == 4


def test_a_lease_hides_an_event_until_it_ends(store: JobStore) -> None:
    hit = store.submit_finished(hooked(), result(), now=T0)
    assert _due(store, "d1", now_s=1) == [(hit.id, "succeeded")]
    assert _due(store, "d2", now_s=1 + LEASE_S - 1) == []
    # d1 died: once its lease ends, d2 gets the event, and d1 can no longer touch it.
    (taken,) = store.events_due("d2", limit=5, lease_s=LEASE_S, now=at(2 + LEASE_S))
    assert not store.event_done(taken.id, "d1")
    assert not store.event_retry(taken.id, "d1", due_at=at(0), error="late")
    assert store.event_done(taken.id, "d2")
    assert store.events_pending() == 0
    assert not store.event_done(taken.id, "d2")


def test_retry_counts_the_attempt_and_waits_until_due(store: JobStore) -> None:
    store.submit_finished(hooked(), result(), now=T0)
    (event,) = store.events_due("d1", limit=5, lease_s=LEASE_S, now=at(1))
    assert store.event_retry(event.id, "d1", due_at=at(100), error="the receiver answered 500")
    assert store.events_due("d1", limit=5, lease_s=LEASE_S, now=at(99)) == []
    (again,) = store.events_due("d2", limit=5, lease_s=LEASE_S, now=at(100))
    assert (again.id, again.attempts, again.last_error) == (
        event.id,
        1,
        "the receiver answered 500",
    )
    assert again.job == event.job


def test_limit_takes_the_earliest_due_first(store: JobStore) -> None:
    ids = [store.submit_finished(hooked(), result(), now=at(i)).id for i in (3, 1, 2)]
    assert [job_id for job_id, _ in _due(store)[:3]] == [ids[1], ids[2], ids[0]]
    store.submit_finished(hooked(), result(), now=at(4))
    assert len(store.events_due("d2", limit=0, lease_s=LEASE_S, now=at(500))) == 0
    assert len(store.events_due("d2", limit=1, lease_s=LEASE_S, now=at(500))) == 1
    with pytest.raises(ValueError):
        store.events_due("d2", limit=1, lease_s=0, now=at(500))


def test_events_outlive_the_process_that_wrote_them(make_store: StoreFactory) -> None:
    writer = make_store()
    job = writer.submit_finished(hooked(), result(), now=T0)
    writer.close()
    reader = make_store()
    assert _due(reader) == [(job.id, "succeeded")]


_CRASH = """
import os, sys
from datetime import UTC, datetime
from foleyserve.jobs.model import JobResult, JobSpec
from foleyserve.store import open_store

store = open_store(sys.argv[1])
spec = JobSpec(tenant="acme", video_key=None, video_sha256=None, duration_s=1.0, prompt="x",
               webhook_url="https://hooks.example.com/h")
result = JobResult(audio_key="a.wav", duration_s=1.0, sample_rate_hz=48000,
                   content_type="audio/wav")
job = store.submit_finished(spec, result, now=datetime.now(UTC))
print(job.id, flush=True)
os._exit(9)  # dies at once: no close, no cleanup, no flush of anything but stdout
"""


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_an_accepted_event_survives_the_process_dying(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = f"{request.getfixturevalue('redis_url')}?prefix=crash:{uuid4().hex[:8]}:"
    done = subprocess.run(
        [sys.executable, "-c", _CRASH, url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 9, done.stderr
    store = open_store(url)
    try:
        assert _due(store) == [(done.stdout.strip(), "succeeded")]
    finally:
        store.close()
        if kind == "redis":
            flush_redis(request.getfixturevalue("redis_url"))
