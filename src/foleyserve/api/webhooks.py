"""Signed webhook deliveries: what we send when a job changes state, how we sign it, and one
delivery with its retries.

A delivery is a POST of `event_payload(job, event)` (versioned JSON) with these headers:

    Foleyserve-Event: job.completed
    Foleyserve-Delivery: dlv_5f0c...            same for every retry of one delivery
    Foleyserve-Signature: t=1767225600,v1=9a1f...
    webhook-id: dlv_5f0c...                     the Standard Webhooks three
    webhook-timestamp: 1767225600
    webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=

`Foleyserve-Signature` follows Stripe: `v1` is the hex HMAC-SHA256, keyed with the tenant's
webhook secret, of `"<t>.<body>"`, so the timestamp is signed too and a receiver refuses old
(replayed) deliveries (`verify`). The `webhook-*` headers are Standard Webhooks', signed over
`"<id>.<t>.<body>"` with the secret's base64-decoded bytes (`standard_signature`), for
receivers that use their libraries. While a secret is being rotated the header carries one `v1`
per secret, and a receiver that holds any of them accepts. Every attempt is signed afresh
(pass `deliver` a function that makes the headers), so a retry minutes later is not refused
as stale.

`deliver` is one delivery, retried in process with backoff (the outbox's dispatcher,
`foleyserve.worker.webhooks`, calls it with one attempt and keeps the backoff in the store).
It never raises for the receiver's failures; its `DeliveryResult` says whether a later retry
may succeed and, from `Retry-After`, when. It does not guard against requests to private
addresses (SSRF): give it a client whose transport refuses them (`api.pinned`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random as _random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import get_args

import httpx
from pydantic import BaseModel, ConfigDict

from foleyserve.auth.keys import new_webhook_secret as new_webhook_secret
from foleyserve.jobs.model import Job, JobError, JobState, Progress, WebhookEvent

SIGNATURE_HEADER = "Foleyserve-Signature"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
EVENT_HEADER = "Foleyserve-Event"
DELIVERY_HEADER = "Foleyserve-Delivery"
USER_AGENT = "foleyserve-webhooks/1"

WEBHOOK_PAYLOAD_VERSION = 1
"""`v` of every payload; bumped only by changes that break receivers."""

EVENTS: frozenset[str] = frozenset(get_args(WebhookEvent))
"""The events a job can send (`JobSpec.webhook_events`): the states it may reach. The payload's
type is `job.started` for `running` and `job.completed` for the final states (the job's state
says which)."""
STARTED_TYPE = "job.started"
COMPLETED_TYPE = "job.completed"

DEFAULT_TOLERANCE_S = 300
_MAX_RETRY_AFTER_S = 86_400.0
"""Longer `Retry-After`s are read as this (a day): the outbox reschedules, nobody waits it."""


# -- signing -------------------------------------------------------------------------------------
def new_delivery_id() -> str:
    """A fresh delivery id; receivers use it to drop a delivery they have already handled."""
    return "dlv_" + secrets.token_hex(12)


def sign(body: bytes, secret: str, now_s: int, *, previous_secrets: Sequence[str] = ()) -> str:
    """The `Foleyserve-Signature` value for `body` sent at `now_s` (Unix seconds):
    `t=<now_s>,v1=<hex>`, with one more `v1` per secret in `previous_secrets` (the ones being
    rotated out), so receivers still holding one of those accept."""
    if not secret or not all(previous_secrets):
        raise ValueError("a webhook secret must not be empty")
    signatures = [_hmac_hex(body, key, now_s) for key in (secret, *previous_secrets)]
    return ",".join([f"t={now_s}", *(f"v1={signature}" for signature in signatures)])


def verify(
    body: bytes,
    header: str,
    secret: str,
    *,
    now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """Whether `header` (a `Foleyserve-Signature` value) signs `body` with `secret` at a time
    within `tolerance_s` of `now_s`. Any of several `v1` values may match; unknown schemes are
    ignored. Never raises: a malformed header, or an empty secret, is simply not valid.
    The comparison takes the same time however much of a signature matches."""
    sent_s = _timestamp(header)
    if not secret or sent_s is None or abs(now_s - sent_s) > tolerance_s:
        return False
    expected = _hmac_hex(body, secret, sent_s)
    matched = False
    for candidate in _fields(header, "v1"):
        # Every candidate is compared, so the time taken does not say which one matched.
        if candidate.isascii():
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def webhook_headers(
    body: bytes,
    *,
    secret: str,
    event: str,
    delivery_id: str,
    now_s: int,
    previous_secrets: Sequence[str] = (),
) -> dict[str, str]:
    """Every header of one attempt of a delivery of `body` (made by `event_payload`): ours,
    and the Standard Webhooks three (`standard_signature`) for receivers using their libraries."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_type(event),
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: sign(body, secret, now_s, previous_secrets=previous_secrets),
        STANDARD_ID_HEADER: delivery_id,
        STANDARD_TIMESTAMP_HEADER: str(now_s),
        STANDARD_SIGNATURE_HEADER: " ".join(
            standard_signature(body, key, delivery_id, now_s) for key in (secret, *previous_secrets)
        ),
    }


def standard_signature(body: bytes, secret: str, delivery_id: str, now_s: int) -> str:
    """The Standard Webhooks `webhook-signature` entry: `v1,<base64 HMAC-SHA256 of
    "<id>.<timestamp>.<body>">`, keyed with the base64-decoded part of a `whsec_` secret (the
    secret's own bytes when it is not in that form)."""
    signed = f"{delivery_id}.{now_s}.".encode() + body
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _standard_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:  # binascii.Error is one: an older secret, not base64
        return secret.encode()


def _hmac_hex(body: bytes, secret: str, timestamp_s: int) -> str:
    signed = f"{timestamp_s}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _fields(header: str, name: str) -> list[str]:
    values = []
    for part in header.split(","):
        key, equals, value = part.partition("=")
        if equals and key.strip() == name:
            values.append(value.strip())
    return values


def _timestamp(header: str) -> int | None:
    """The header's one `t`, or None when it has none, several, or a malformed one."""
    found = _fields(header, "t")
    if len(found) != 1 or not (found[0].isascii() and found[0].isdigit()) or len(found[0]) > 12:
        return None
    return int(found[0])


# -- payload -------------------------------------------------------------------------------------
class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResultSummary(_Frozen):
    """What was made; the files themselves are fetched through the API, never by object key."""

    duration_s: float
    sample_rate_hz: int
    content_type: str
    cached: bool


class JobSummary(_Frozen):
    id: str
    state: JobState
    progress: Progress
    error: JobError | None
    result: ResultSummary | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class WebhookPayload(_Frozen):
    """The body of every delivery. Holds only this job's status: no prompt, no object keys, no
    webhook URL (it may carry a token), no idempotency key, nothing of the tenant's other
    jobs."""

    v: int = WEBHOOK_PAYLOAD_VERSION
    type: str
    """`job.started` or `job.completed`; `job.state` says how it completed."""
    job: JobSummary
    created_at: datetime
    """When the event happened: the job's `started_at` for `running`, else `finished_at`."""


def event_type(event: str) -> str:
    """`job.started` for `running`, `job.completed` for a final state; ValueError for others."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; use one of {sorted(EVENTS)}")
    return STARTED_TYPE if event == JobState.RUNNING.value else COMPLETED_TYPE


def event_payload(job: Job, event: str) -> bytes:
    """The JSON body announcing that `job` reached `event` (which must be its state).

    A pure function of the job: the same job and event always give the same bytes, so a
    retried delivery sends exactly what the first attempt sent."""
    kind = event_type(event)
    if job.state.value != event:
        raise ValueError(f"job {job.id} is {job.state.value}, it cannot announce {event!r}")
    result = job.result
    summary = JobSummary(
        id=job.id,
        state=job.state,
        progress=job.progress,
        error=job.error,
        result=None
        if result is None
        else ResultSummary(
            duration_s=result.duration_s,
            sample_rate_hz=result.sample_rate_hz,
            content_type=result.content_type,
            cached=job.cached,
        ),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
    happened = job.started_at if job.state is JobState.RUNNING else job.finished_at
    payload = WebhookPayload(type=kind, job=summary, created_at=happened or job.created_at)
    return payload.model_dump_json().encode()


def load_payload(body: bytes) -> WebhookPayload:
    """A received body, parsed (for receivers written in Python, and for tests). Raises
    ValueError (pydantic's ValidationError is one) for a body that is not a payload."""
    payload = WebhookPayload.model_validate_json(body)
    if payload.v != WEBHOOK_PAYLOAD_VERSION:
        raise ValueError(f"webhook payload version {payload.v} is not supported")
    return payload


# -- delivery ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    """The receiver answered 2xx."""
    attempts: int
    """Requests made (or tried) by this call."""
    status_code: int | None
    """The last answer's status; None when the last attempt got no answer."""
    error: str | None
    """What went wrong last, for logs and the tenant's delivery history; None when delivered."""
    retryable: bool
    """Not delivered, but a later try may succeed (network, 5xx, 429): reschedule it. False for
    answers that retrying will not change (other 4xx, redirects, a bad URL)."""
    retry_after_s: float | None = None
    """The receiver's last `Retry-After`, in seconds from its answer."""


Headers = Mapping[str, str] | Callable[[], Mapping[str, str]]
"""Fixed headers, or a function called before every attempt (to sign each one afresh)."""


def deliver(
    url: str,
    body: bytes,
    headers: Headers,
    *,
    client: httpx.Client,
    attempts: int = 5,
    backoff_s: Callable[[int], float],
    sleep: Callable[[float], None],
    timeout_s: float = 10.0,
    max_retry_after_s: float = 300.0,
) -> DeliveryResult:
    """POST `body` to `url` until a 2xx answer, at most `attempts` times.

    Connection errors, timeouts, 5xx, 408 and 429 are retried after `sleep(backoff_s(n))`
    (n = failed attempts so far), or after the receiver's `Retry-After` where that is longer.
    A `Retry-After` beyond `max_retry_after_s` ends the call at once, retryable, so a worker is
    never held for long; reschedule by `retry_after_s`. Other answers end it, not retryable.
    Redirects are not followed. `timeout_s` bounds connecting, and each read and write; the
    answer's body is never read.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    made = 0
    while True:
        made += 1
        sent = headers() if callable(headers) else headers
        outcome = _attempt(client, url, body, sent, timeout_s=timeout_s)
        if outcome.delivered or not outcome.retryable or made == attempts:
            return replace(outcome, attempts=made)
        wait_s = backoff_s(made)
        if outcome.retry_after_s is not None:
            if outcome.retry_after_s > max_retry_after_s:
                return replace(outcome, attempts=made)
            wait_s = max(wait_s, outcome.retry_after_s)
        sleep(wait_s)


def exponential_backoff(
    *,
    base_s: float = 1.0,
    cap_s: float = 60.0,
    random: Callable[[], float] = _random.random,
) -> Callable[[int], float]:
    """`backoff_s` for `deliver`: after the n-th failure, wait between half and all of
    `min(cap_s, base_s * 2**(n-1))`, drawn with `random` (uniform in [0, 1)), so receivers
    that come back are not hit by every sender at once."""

    def backoff_s(failures: int) -> float:
        ceiling_s = min(cap_s, base_s * 2.0 ** min(max(failures - 1, 0), 60))
        return ceiling_s / 2 + random() * ceiling_s / 2

    return backoff_s


_RETRYABLE_STATUS = frozenset({408, 429})


def _attempt(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
) -> DeliveryResult:
    def failed(error: str, *, retryable: bool) -> DeliveryResult:
        return DeliveryResult(
            delivered=False, attempts=1, status_code=None, error=error, retryable=retryable
        )

    try:
        with client.stream(
            "POST",
            url,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
        ) as response:
            status = response.status_code
            retry_after_s = _retry_after_s(response.headers)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return failed(f"the webhook URL cannot be used: {exc}", retryable=False)
    except httpx.TimeoutException:
        return failed(f"no answer within {timeout_s:g} s", retryable=True)
    except httpx.RequestError as exc:
        return failed(f"{type(exc).__name__}: {exc}", retryable=True)
    delivered = 200 <= status < 300
    retryable = status >= 500 or status in _RETRYABLE_STATUS
    return DeliveryResult(
        delivered=delivered,
        attempts=1,
        status_code=status,
        error=None if delivered else f"the receiver answered {status}",
        retryable=retryable,
        retry_after_s=retry_after_s if retryable else None,
    )


def _retry_after_s(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds: delay-seconds, or an HTTP date read against the answer's own
    `Date` (so our clock plays no part). None when absent or unreadable."""
    value = headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER_S)
    until = _http_date(value)
    sent = _http_date(headers.get("date", ""))
    if until is None or sent is None:
        return None
    return min(max((until - sent).total_seconds(), 0.0), _MAX_RETRY_AFTER_S)


def _http_date(value: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # HTTP dates are GMT; "-0000" parses naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
