"""Signed webhooks: signing, the payload, and deliveries to a real HTTP server on 127.0.0.1.

`sleep` and the clock are injected, so no test waits for a backoff; the only real waits are
the short timeouts of the one test about timeouts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from foleyserve.api.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    DeliveryResult,
    deliver,
    event_payload,
    exponential_backoff,
    load_payload,
    new_delivery_id,
    new_webhook_secret,
    sign,
    standard_signature,
    verify,
    webhook_headers,
)
from foleyserve.jobs.model import Job, JobError, JobResult, JobSpec, JobState, Progress

SECRET = "whsec_test-secret"
NOW_S = 1_900_000_000
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
RECEIVER_NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
"""What the receiver's `Date` header says."""


# -- a real receiver -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Answer nothing until the test ends (for timeouts)."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes


class Receiver:
    """An HTTP server in a thread that records every POST and answers the first requests from
    `script`, the rest with `then`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.then = Reply()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/foley"

    def fail_first(self, n: int, reply: Reply) -> None:
        self.script = [reply] * n

    def record(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else self.then

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Server(ThreadingHTTPServer):
    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) is expected; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.receiver.record(Received(self.path, headers, body))
        if reply.hang:
            self.server.receiver.release.wait(timeout=10)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return _http_date(RECEIVER_NOW)


def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


class Sleeps:
    """`sleep` for `deliver`: records instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _backoff(failures: int) -> float:
    return float(2 ** (failures - 1))


def _deliver(
    receiver: Receiver, client: httpx.Client, sleeps: Sleeps, **options: Any
) -> tuple[DeliveryResult, bytes]:
    """Deliver a job.succeeded payload, signed afresh per attempt by a clock that ticks 1 s
    per attempt."""
    body = event_payload(_job(), "succeeded")
    delivery_id = new_delivery_id()
    clock = count(NOW_S)

    def headers() -> dict[str, str]:
        return webhook_headers(
            body, secret=SECRET, event="succeeded", delivery_id=delivery_id, now_s=next(clock)
        )

    options.setdefault("backoff_s", _backoff)
    result = deliver(receiver.url, body, headers, client=client, sleep=sleeps, **options)
    return result, body


# -- jobs ------------------------------------------------------------------------------------------
def _job(state: JobState = JobState.SUCCEEDED) -> Job:
    """A job whose spec holds things a webhook must never carry."""
    spec = JobSpec(
        tenant="acme-private-tenant",
        video_key="uploads/acme/secret-clip.mp4",
        video_sha256="ab" * 32,
        duration_s=8.0,
        prompt="a confidential prompt",
        webhook_url="https://hooks.example.com/in?token=hook-token-123",
    )
    finished = state in (JobState.SUCCEEDED, JobState.FAILED)
    return Job(
        id="job_0123456789abcdef01234567",
        spec=spec,
        state=state,
        progress=Progress(stage="done", step=50, total=50),
        attempts=1,
        created_at=T0,
        started_at=T0 + timedelta(seconds=2),
        finished_at=T0 + timedelta(seconds=40) if finished else None,
        worker_id="worker-gpu-7",
        error=JobError(code="engine_error", message="out of memory")
        if state is JobState.FAILED
        else None,
        result=JobResult(
            audio_key="results/acme/out.wav",
            duration_s=8.0,
            sample_rate_hz=48_000,
            content_type="audio/wav",
        )
        if state is JobState.SUCCEEDED
        else None,
        idempotency_key="idem-key-xyz",
    )


# -- signing ---------------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"hello":"world"}'
    expected = hmac.new(SECRET.encode(), b"1900000000." + body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET, NOW_S) == f"t=1900000000,v1={expected}"


@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=64))
def test_what_is_signed_verifies(body: bytes, secret: str) -> None:
    assert verify(body, sign(body, secret, NOW_S), secret, now_s=NOW_S)


@given(body=st.binary(max_size=64), other=st.binary(max_size=64))
def test_another_body_does_not_verify(body: bytes, other: bytes) -> None:
    header = sign(body, SECRET, NOW_S)
    assert verify(other, header, SECRET, now_s=NOW_S) == (other == body)


def test_another_secret_or_an_empty_one_does_not_verify() -> None:
    header = sign(b"{}", SECRET, NOW_S)
    assert not verify(b"{}", header, "whsec_other", now_s=NOW_S)
    assert not verify(b"{}", header, "", now_s=NOW_S)
    with pytest.raises(ValueError, match="empty"):
        sign(b"{}", "", NOW_S)


def test_timestamps_outside_the_tolerance_are_refused() -> None:
    header = sign(b"{}", SECRET, NOW_S)
    assert verify(b"{}", header, SECRET, now_s=NOW_S + 300)
    assert verify(b"{}", header, SECRET, now_s=NOW_S - 300)
    assert not verify(b"{}", header, SECRET, now_s=NOW_S + 301)  # replayed later
    assert not verify(b"{}", header, SECRET, now_s=NOW_S - 301)  # from the future
    assert verify(b"{}", header, SECRET, now_s=NOW_S + 3000, tolerance_s=3600)


def test_any_v1_verifies_during_a_rotation() -> None:
    old, new = "whsec_old", "whsec_new"
    header = sign(b"{}", new, NOW_S, previous_secrets=[old])
    assert header.count("v1=") == 2
    assert verify(b"{}", header, new, now_s=NOW_S)
    assert verify(b"{}", header, old, now_s=NOW_S)
    assert not verify(b"{}", header, "whsec_unrelated", now_s=NOW_S)
    # Order, spaces and unknown schemes do not matter.
    good = sign(b"{}", SECRET, NOW_S).split(",")[1]
    assert verify(b"{}", f"v0=zz, v1=00ff, {good} ,t={NOW_S}", SECRET, now_s=NOW_S)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=",
        f"t={NOW_S}",
        "v1=" + "0" * 64,
        f"t=abc,v1={'0' * 64}",
        f"t=-{NOW_S},v1={'0' * 64}",
        f"t={NOW_S},t={NOW_S},v1={'0' * 64}",
        f"t={NOW_S},v1=ünïcödé",
        f"t={'9' * 40},v1={'0' * 64}",
    ],
)
def test_malformed_headers_do_not_verify(header: str) -> None:
    assert not verify(b"{}", header, SECRET, now_s=NOW_S)


@given(header=st.text(max_size=200))
def test_verify_never_raises(header: str) -> None:
    assert not verify(b"{}", header, SECRET, now_s=NOW_S)


def test_secrets_and_delivery_ids_are_fresh() -> None:
    secrets = {new_webhook_secret() for _ in range(50)}
    ids = {new_delivery_id() for _ in range(50)}
    assert len(secrets) == len(ids) == 50
    assert all(s.startswith("whsec_") and len(s) >= 40 for s in secrets)


# -- payload ---------------------------------------------------------------------------------------
def test_payload_is_versioned_json_of_the_job_status() -> None:
    body = event_payload(_job(), "succeeded")
    assert json.loads(body) == {
        "v": 1,
        "type": "job.completed",
        "job": {
            "id": "job_0123456789abcdef01234567",
            "state": "succeeded",
            "progress": {"stage": "done", "step": 50, "total": 50},
            "error": None,
            "result": {
                "duration_s": 8.0,
                "sample_rate_hz": 48000,
                "content_type": "audio/wav",
                "cached": False,
            },
            "created_at": "2030-01-01T12:00:00Z",
            "started_at": "2030-01-01T12:00:02Z",
            "finished_at": "2030-01-01T12:00:40Z",
        },
        "created_at": "2030-01-01T12:00:40Z",
    }
    assert load_payload(body).job.state is JobState.SUCCEEDED


def test_failed_and_running_payloads() -> None:
    failed = load_payload(event_payload(_job(JobState.FAILED), "failed"))
    assert (failed.type, failed.job.state) == ("job.completed", JobState.FAILED)
    assert failed.job.error == JobError(code="engine_error", message="out of memory")
    assert failed.job.result is None
    running = load_payload(event_payload(_job(JobState.RUNNING), "running"))
    assert running.type == "job.started"
    assert running.created_at == T0 + timedelta(seconds=2)  # when it started


@pytest.mark.parametrize("state", [JobState.SUCCEEDED, JobState.FAILED])
def test_payload_carries_no_secrets_and_nothing_else_of_the_tenant(state: JobState) -> None:
    body = event_payload(_job(state), state.value).decode()
    for private in (
        "hook-token-123",
        "hooks.example.com",
        "confidential",
        "acme",  # tenant id, object keys
        "secret-clip",
        "idem-key-xyz",
        "worker-gpu-7",
        "results/",
        "ab" * 32,  # the video's hash
    ):
        assert private not in body


def test_payload_bytes_are_a_pure_function_of_the_job() -> None:
    assert event_payload(_job(), "succeeded") == event_payload(_job(), "succeeded")


def test_payload_refuses_unknown_events_and_events_the_job_is_not_in() -> None:
    with pytest.raises(ValueError, match="unknown webhook event"):
        event_payload(_job(), "job.completed")
    with pytest.raises(ValueError, match="cannot announce"):
        event_payload(_job(JobState.FAILED), "succeeded")


def test_payloads_of_another_version_are_refused() -> None:
    fields = json.loads(event_payload(_job(), "succeeded"))
    fields["v"] = 2
    with pytest.raises(ValueError, match="version 2"):
        load_payload(json.dumps(fields).encode())


# -- delivery --------------------------------------------------------------------------------------
def test_a_delivery_arrives_signed(receiver: Receiver, client: httpx.Client) -> None:
    sleeps = Sleeps()
    result, body = _deliver(receiver, client, sleeps)
    assert result == DeliveryResult(
        delivered=True, attempts=1, status_code=204, error=None, retryable=False
    )
    assert sleeps.waits == []
    (request,) = receiver.requests
    assert request.path == "/hooks/foley"
    assert request.body == body
    assert request.headers["content-type"] == "application/json"
    assert request.headers[EVENT_HEADER.lower()] == "job.completed"
    assert request.headers[DELIVERY_HEADER.lower()].startswith("dlv_")
    signature = request.headers[SIGNATURE_HEADER.lower()]
    assert verify(request.body, signature, SECRET, now_s=NOW_S + 5)
    assert not verify(request.body, signature, "whsec_wrong", now_s=NOW_S)
    assert load_payload(request.body).job.id == _job().id


def test_5xx_is_retried_with_backoff_then_delivered(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.fail_first(2, Reply(503))
    sleeps = Sleeps()
    result, body = _deliver(receiver, client, sleeps)
    assert (result.delivered, result.attempts, result.status_code) == (True, 3, 204)
    assert sleeps.waits == [1.0, 2.0]
    # One delivery id for every attempt; each attempt signed afresh, and each verifies.
    assert len({r.headers[DELIVERY_HEADER.lower()] for r in receiver.requests}) == 1
    stamps = [r.headers[SIGNATURE_HEADER.lower()].split(",")[0] for r in receiver.requests]
    assert stamps == [f"t={NOW_S}", f"t={NOW_S + 1}", f"t={NOW_S + 2}"]
    for request in receiver.requests:
        assert request.body == body
        assert verify(body, request.headers[SIGNATURE_HEADER.lower()], SECRET, now_s=NOW_S)


def test_giving_up_after_the_last_attempt(receiver: Receiver, client: httpx.Client) -> None:
    receiver.then = Reply(500)
    sleeps = Sleeps()
    result, _ = _deliver(receiver, client, sleeps, attempts=3)
    assert result == DeliveryResult(
        delivered=False,
        attempts=3,
        status_code=500,
        error="the receiver answered 500",
        retryable=True,
    )
    assert len(receiver.requests) == 3
    assert sleeps.waits == [1.0, 2.0]  # none after the last


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_4xx_are_not_retried(receiver: Receiver, client: httpx.Client, status: int) -> None:
    receiver.then = Reply(status)
    sleeps = Sleeps()
    result, _ = _deliver(receiver, client, sleeps)
    assert (result.delivered, result.retryable, result.attempts) == (False, False, 1)
    assert result.status_code == status
    assert sleeps.waits == []


def test_redirects_are_not_followed(receiver: Receiver, client: httpx.Client) -> None:
    receiver.then = Reply(307, {"Location": "http://169.254.169.254/latest/meta-data"})
    result, _ = _deliver(receiver, client, Sleeps())
    assert (result.delivered, result.retryable, result.status_code) == (False, False, 307)
    assert len(receiver.requests) == 1


def test_429_waits_its_retry_after(receiver: Receiver, client: httpx.Client) -> None:
    receiver.fail_first(2, Reply(429, {"Retry-After": "7"}))
    sleeps = Sleeps()
    result, _ = _deliver(receiver, client, sleeps, backoff_s=lambda n: 10.0 * n)
    assert (result.delivered, result.attempts) == (True, 3)
    assert sleeps.waits == [10.0, 20.0]  # backoff, where that is the longer
    receiver.fail_first(1, Reply(429, {"Retry-After": "7"}))
    sleeps = Sleeps()
    _deliver(receiver, client, sleeps, backoff_s=lambda n: 0.5)
    assert sleeps.waits == [7.0]


def test_retry_after_as_an_http_date(receiver: Receiver, client: httpx.Client) -> None:
    # Read against the answer's own Date (the receiver's clock says RECEIVER_NOW), not ours.
    when = _http_date(RECEIVER_NOW + timedelta(seconds=42))
    receiver.fail_first(1, Reply(503, {"Retry-After": when}))
    sleeps = Sleeps()
    result, _ = _deliver(receiver, client, sleeps, backoff_s=lambda n: 0.0)
    assert result.delivered
    assert sleeps.waits == [42.0]


def test_a_long_retry_after_ends_the_call_for_the_outbox_to_reschedule(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.then = Reply(503, {"Retry-After": "3600"})
    sleeps = Sleeps()
    result, _ = _deliver(receiver, client, sleeps, max_retry_after_s=300.0)
    assert (result.delivered, result.retryable, result.attempts) == (False, True, 1)
    assert result.retry_after_s == 3600.0
    assert sleeps.waits == []


def test_connection_errors_are_retried(client: httpx.Client) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    sleeps = Sleeps()
    result = deliver(url, b"{}", {}, client=client, attempts=3, backoff_s=_backoff, sleep=sleeps)
    assert (result.delivered, result.retryable, result.attempts) == (False, True, 3)
    assert result.status_code is None
    assert result.error is not None and "Connect" in result.error
    assert sleeps.waits == [1.0, 2.0]


def test_timeouts_are_retried(receiver: Receiver, client: httpx.Client) -> None:
    receiver.fail_first(1, Reply(hang=True))
    sleeps = Sleeps()
    result, _ = _deliver(receiver, client, sleeps, timeout_s=0.2)
    assert (result.delivered, result.attempts) == (True, 2)
    assert sleeps.waits == [1.0]


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "example.com/hook", "http://[::1"])
def test_unusable_urls_are_not_retried(client: httpx.Client, url: str) -> None:
    sleeps = Sleeps()
    result = deliver(url, b"{}", {}, client=client, backoff_s=_backoff, sleep=sleeps)
    assert (result.delivered, result.retryable, result.attempts) == (False, False, 1)
    assert result.error is not None and "cannot be used" in result.error
    assert sleeps.waits == []


def test_attempts_must_be_positive(client: httpx.Client) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        deliver(
            "http://127.0.0.1:9/",
            b"",
            {},
            client=client,
            attempts=0,
            backoff_s=_backoff,
            sleep=Sleeps(),
        )


@given(
    failures=st.integers(min_value=1, max_value=10_000),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_backoff_grows_to_its_cap_with_jitter(failures: int, draw: float) -> None:
    backoff_s = exponential_backoff(base_s=0.5, cap_s=30.0, random=lambda: draw)
    ceiling_s = min(30.0, 0.5 * 2.0 ** (failures - 1)) if failures < 64 else 30.0
    assert ceiling_s / 2 <= backoff_s(failures) <= ceiling_s


def test_standard_webhooks_signature_matches_the_specs_example() -> None:
    # The example of the Standard Webhooks specification (secret, id, timestamp, body, answer).
    body = b'{"test": 2432232314}'
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = standard_signature(body, secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_deliveries_carry_the_standard_webhooks_headers_too() -> None:
    secret = new_webhook_secret()
    headers = webhook_headers(
        b"{}", secret=secret, event="succeeded", delivery_id="dlv_1", now_s=NOW_S
    )
    assert headers["webhook-id"] == "dlv_1" and headers["webhook-timestamp"] == str(NOW_S)
    assert headers["webhook-signature"] == standard_signature(b"{}", secret, "dlv_1", NOW_S)
