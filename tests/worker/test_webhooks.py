"""The webhook dispatcher against a real store, the real address gate and a real receiver:
signed deliveries, durable retries with backoff, give-ups, and leases between dispatchers, over
SQLite and Redis."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from foleyserve.api.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, load_payload, verify
from foleyserve.auth.keys import KeyStore
from foleyserve.auth.redis import RedisKeyStore
from foleyserve.auth.sqlite import SQLiteKeyStore
from foleyserve.jobs.model import JobResult, JobSpec, JobState, WebhookEvent
from foleyserve.settings import Settings
from foleyserve.store.base import JobStore
from foleyserve.store.redis import RedisJobStore
from foleyserve.store.sqlite import SQLiteJobStore
from foleyserve.worker.webhooks import WebhookDispatcher
from tests.api.test_webhooks import Receiver, Reply, receiver
from tests.store.conftest import flush_redis

__all__ = ["receiver"]  # the fixture

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Rig:
    store: JobStore
    keys: KeyStore
    clock: Clock
    receiver: Receiver

    def dispatcher(self, owner: str = "w1", **settings: object) -> WebhookDispatcher:
        port = int(self.receiver.url.split(":")[2].split("/")[0])
        values: dict[str, object] = {
            "fetch_allow_http": True,
            "fetch_allow_private": True,
            "fetch_allowed_ports": frozenset({port}),
            "webhook_backoff_s": 10.0,
            "webhook_timeout_s": 2.0,
        } | settings
        config = Settings(**values)  # type: ignore[arg-type]
        return WebhookDispatcher(
            self.store, self.keys, config, owner, clock=self.clock, random=lambda: 0.0
        )

    def finished_job(self, events: tuple[WebhookEvent, ...] = ("succeeded",)) -> str:
        spec = JobSpec(
            tenant="acme",
            video_key=None,
            video_sha256=None,
            duration_s=2.0,
            prompt="rain",
            webhook_url=self.receiver.url,
            webhook_events=events,
        )
        result = JobResult(
            audio_key="results/a.wav",
            duration_s=2.0,
            sample_rate_hz=48_000,
            content_type="audio/wav",
        )
        return self.store.submit_finished(spec, result, now=self.clock()).id


@pytest.fixture(params=["sqlite", "redis"])
def rig(request: pytest.FixtureRequest, tmp_path: Path, receiver: Receiver) -> Iterator[Rig]:
    """The dispatcher over each store (and key store) kind."""
    store: JobStore
    keys: KeyStore
    if request.param == "sqlite":
        store = SQLiteJobStore(tmp_path / "jobs.db", durable=False)
        keys = SQLiteKeyStore(tmp_path / "jobs.db", durable=False)
    else:
        url: str = request.getfixturevalue("redis_url")
        prefix = f"test:{uuid4().hex[:12]}:"
        store = RedisJobStore.from_url(url, prefix=prefix)
        keys = RedisKeyStore.from_url(url, prefix=prefix)
    yield Rig(store, keys, Clock(), receiver)
    keys.close()
    store.close()
    if request.param == "redis":
        flush_redis(url)


def test_a_delivery_is_signed_with_the_tenants_secret(rig: Rig) -> None:
    job_id = rig.finished_job()
    hooks = rig.dispatcher()
    assert hooks.run_once() == 1
    (request,) = rig.receiver.requests
    secret = rig.keys.webhook_secret("acme")
    now_s = int(rig.clock().timestamp())
    assert verify(request.body, request.headers[SIGNATURE_HEADER.lower()], secret, now_s=now_s)
    assert not verify(
        request.body, request.headers[SIGNATURE_HEADER.lower()], "whsec_x", now_s=now_s
    )
    # The Standard Webhooks headers, checked as that specification says, by hand.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, signed + request.body, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    assert request.headers["webhook-id"] == request.headers[DELIVERY_HEADER.lower()]
    payload = load_payload(request.body)
    assert (payload.type, payload.job.id, payload.job.state) == (
        "job.completed",
        job_id,
        JobState.SUCCEEDED,
    )
    assert request.headers["foleyserve-event"] == "job.completed"
    assert rig.store.events_pending() == 0 and hooks.delivered == 1


def test_a_500_is_retried_after_the_backoff_with_the_same_delivery_id(rig: Rig) -> None:
    rig.finished_job()
    rig.receiver.fail_first(2, Reply(status=500))
    hooks = rig.dispatcher()
    assert hooks.run_once() == 1  # 500: back in the outbox, due in 10 s (jitter 0: 5 s)
    assert hooks.run_once() == 0
    rig.clock.advance(5)
    assert hooks.run_once() == 1  # 500 again: due in 20 s (10 s)
    rig.clock.advance(9)
    assert hooks.run_once() == 0
    rig.clock.advance(1)
    assert hooks.run_once() == 1
    first, second, third = rig.receiver.requests
    ids = {r.headers[DELIVERY_HEADER.lower()] for r in (first, second, third)}
    assert len(ids) == 1 and first.body == third.body
    assert rig.store.events_pending() == 0 and hooks.delivered == 1


def test_a_retry_after_longer_than_the_backoff_is_obeyed(rig: Rig) -> None:
    rig.finished_job()
    rig.receiver.fail_first(1, Reply(status=429, headers={"Retry-After": "120"}))
    hooks = rig.dispatcher()
    hooks.run_once()
    rig.clock.advance(119)
    assert hooks.run_once() == 0
    rig.clock.advance(1)
    assert hooks.run_once() == 1 and hooks.delivered == 1


def test_final_events_are_given_up_after_the_last_attempt(rig: Rig) -> None:
    rig.finished_job()
    rig.receiver.then = Reply(status=503)
    hooks = rig.dispatcher(webhook_max_attempts=3)
    for _ in range(3):
        hooks.run_once()
        rig.clock.advance(3600)
    assert len(rig.receiver.requests) == 3
    assert rig.store.events_pending() == 0 and hooks.given_up == 1


def test_a_started_event_and_a_4xx_get_one_try(rig: Rig) -> None:
    spec_events: tuple[WebhookEvent, ...] = ("succeeded",)
    rig.finished_job(spec_events)
    rig.receiver.then = Reply(status=410)
    hooks = rig.dispatcher()
    hooks.run_once()
    assert rig.store.events_pending() == 0 and hooks.given_up == 1
    job, _ = rig.store.submit(
        JobSpec(
            tenant="acme",
            video_key=None,
            video_sha256=None,
            duration_s=1.0,
            prompt="rain",
            webhook_url=rig.receiver.url,
            webhook_events=("running",),
        ),
        now=rig.clock(),
    )
    rig.store.claim([job.id], "w", lease_s=30, now=rig.clock())
    rig.receiver.then = Reply(status=500)
    hooks.run_once()
    assert rig.store.events_pending() == 0 and hooks.given_up == 2
    assert load_payload(rig.receiver.requests[-1].body).type == "job.started"


def test_private_addresses_are_refused_without_a_request(rig: Rig) -> None:
    rig.finished_job()
    hooks = rig.dispatcher(fetch_allow_private=False)
    assert hooks.run_once() == 1
    assert rig.receiver.requests == [] and hooks.given_up == 1


def test_a_dispatcher_that_died_mid_delivery_loses_nothing(rig: Rig) -> None:
    rig.finished_job()
    dead = rig.dispatcher("w1")
    (leased,) = rig.store.events_due("w1", limit=1, lease_s=dead.lease_s, now=rig.clock())
    alive = rig.dispatcher("w2")
    assert alive.run_once() == 0  # w1's lease holds it
    rig.clock.advance(dead.lease_s + 1)
    assert alive.run_once() == 1 and alive.delivered == 1
    assert rig.receiver.requests[0].headers[DELIVERY_HEADER.lower()] == leased.id
