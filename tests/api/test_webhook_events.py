"""Webhooks through the HTTP API: submitted with a job, checked at the door, sent by the
dispatcher after the worker runs the job, verified by a real receiver with the tenant's
secret from `GET /v1/webhooks/secret`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foleyserve.api.webhooks import SIGNATURE_HEADER, load_payload, verify
from foleyserve.engines.procedural.engine import ProceduralEngine
from foleyserve.jobs.model import JobState
from foleyserve.worker.webhooks import WebhookDispatcher

from .test_app import TEXT_JOB, ApiRig, clip, engine, error_code, open_rig, upload
from .test_webhooks import Receiver, Reply, receiver

__all__ = ["clip", "engine", "receiver"]  # fixtures


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


@pytest.fixture
def hooked(tmp_path: Path, engine: ProceduralEngine, receiver: Receiver) -> Iterator[ApiRig]:
    """A rig whose address gate lets webhooks reach the test's receiver on loopback."""
    yield from open_rig(
        tmp_path,
        engine,
        fetch_allow_http=True,
        fetch_allow_private=True,
        fetch_allowed_ports=frozenset({80, 443, _port(receiver.url)}),
        webhook_backoff_s=0.01,
    )


def _dispatch(rig: ApiRig) -> WebhookDispatcher:
    return WebhookDispatcher(rig.store, rig.keys, rig.settings, "test-dispatcher")


def test_an_uploaded_job_announces_its_start_and_its_result(
    hooked: ApiRig, clip: Path, receiver: Receiver
) -> None:
    submitted = upload(hooked, clip, webhook_url=receiver.url, webhook_events="running,succeeded")
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    hooked.drain()
    receiver.script = [Reply(status=204), Reply(status=500)]  # the final event fails once
    hooks = _dispatch(hooked)
    for _ in range(500):
        if not hooked.store.events_pending():
            break
        hooks.run_once()
        time.sleep(0.01)  # the backoff (5-10 ms) runs on the real clock here
    secret = hooked.client.get("/v1/webhooks/secret").json()["secret"]
    seen = []
    for request in receiver.requests:
        signature = request.headers[SIGNATURE_HEADER.lower()]
        assert verify(request.body, signature, secret, now_s=int(time.time()))
        payload = load_payload(request.body)
        assert payload.job.id == job_id
        seen.append((payload.type, payload.job.state))
    started, completed = ("job.started", JobState.RUNNING), ("job.completed", JobState.SUCCEEDED)
    assert seen == [started, completed, completed]
    assert hooks.delivered == 2 and hooked.store.events_pending() == 0
    final = load_payload(receiver.requests[-1].body)
    assert final.job.state is JobState.SUCCEEDED and final.job.result is not None
    assert final.job.result.content_type == "audio/wav"


def test_a_canceled_text_job_announces_it(hooked: ApiRig, receiver: Receiver) -> None:
    groups = ["started", "completed", "canceled"]  # the two groups' names, and a repeat
    body = TEXT_JOB | {"webhook_url": receiver.url, "webhook_events": groups}
    job = hooked.client.post("/v1/jobs", json=body).json()
    events = hooked.store.get(job["id"]).spec.webhook_events
    assert events == ("running", "succeeded", "failed", "canceled", "expired")
    hooked.client.post(job["links"]["cancel"])
    assert _dispatch(hooked).run_once() == 1
    (request,) = receiver.requests
    payload = load_payload(request.body)
    assert (payload.type, payload.job.state) == ("job.completed", JobState.CANCELED)


def test_each_tenant_has_its_own_secret(hooked: ApiRig) -> None:
    acme = hooked.client.get("/v1/webhooks/secret", headers=hooked.key_for("acme")).json()
    other = hooked.client.get("/v1/webhooks/secret", headers=hooked.key_for("other")).json()
    assert acme["tenant"] == "acme" and acme["secret"].startswith("whsec_")
    assert acme["secret"] != other["secret"]
    assert hooked.keys.webhook_secret("acme") == acme["secret"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"webhook_url": "http://169.254.169.254/latest/meta-data/"}, "url_host_not_allowed"),
        ({"webhook_url": "http://metadata.google.internal/hook"}, "url_host_not_allowed"),
        ({"webhook_url": "ftp://example.com/hook"}, "url_scheme_not_allowed"),
        ({"webhook_url": "http://127.0.0.1:1/hook"}, "url_port_not_allowed"),
        ({"webhook_url": "not a url"}, "invalid_url"),
        ({"webhook_url": "http://user:pw@127.0.0.1/hook"}, "invalid_url"),
        ({"webhook_events": ["succeeded"]}, "missing_field"),
        ({"webhook_url": "RECEIVER", "webhook_events": ["done"]}, "invalid_field"),
        ({"webhook_url": "RECEIVER", "webhook_events": []}, "invalid_field"),
    ],
)
def test_bad_webhooks_are_refused_and_nothing_is_queued(
    hooked: ApiRig, receiver: Receiver, fields: dict[str, Any], code: str
) -> None:
    if fields.get("webhook_url") == "RECEIVER":
        fields = fields | {"webhook_url": receiver.url}
    response = hooked.client.post("/v1/jobs", json=TEXT_JOB | fields)
    assert response.status_code == 422, response.text
    assert error_code(response) == code
    assert hooked.store.counts()[JobState.QUEUED] == 0


def test_private_webhook_addresses_are_refused_by_default(
    tmp_path: Path, engine: ProceduralEngine, clip: Path, receiver: Receiver
) -> None:
    for rig in open_rig(tmp_path, engine, fetch_allow_http=True):
        response = upload(rig, clip, webhook_url="http://127.0.0.1/hook")
        assert response.status_code == 422 and error_code(response) == "url_host_not_allowed"
        https = upload(rig, clip, webhook_url="https://localhost/hook")
        assert error_code(https) == "url_host_not_allowed"
        assert rig.store.counts()[JobState.QUEUED] == 0
