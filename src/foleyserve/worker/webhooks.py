"""`WebhookDispatcher`: delivers the job store's webhook events, durably and at least once.

The store writes an event into its outbox in the transaction of the job change it announces
(`foleyserve.jobs.events`). Every worker process runs one dispatcher thread beside its loop
(`foleyserve worker`, and the worker of `foleyserve serve`); the store's leases make any
number of them safe together, so no leader is needed and a fleet of API servers runs none.

One delivery is one request. A failure that may pass (no answer, 5xx, 408, 429) puts a final
event (succeeded, failed, canceled, expired) back in the outbox, due after an exponential
backoff (`webhook_backoff_s`, doubling, at most an hour, or longer if the receiver's
`Retry-After` says so), until `webhook_max_attempts`; the backoff lives in the store, so it
survives restarts and no thread sleeps on it. A `running` event is tried once: by the time a
retry could reach a receiver, the job has usually finished. Other answers, and URLs the address
gate refuses (`foleyserve.api.pinned`), give an event up at once. Given-up events are logged
and forgotten.

A dispatcher that dies mid-delivery loses nothing: its lease ends and another sends the event
again, with the same delivery id (`Foleyserve-Delivery`), so receivers can drop repeats.
"""

from __future__ import annotations

import logging
import random as _random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from foleyserve.api.pinned import PinnedTransport, webhook_policy
from foleyserve.api.webhooks import (
    DeliveryResult,
    deliver,
    event_payload,
    exponential_backoff,
    webhook_headers,
)
from foleyserve.auth.keys import KeyStore
from foleyserve.errors import FoleyError, InvalidInput, StorageError
from foleyserve.jobs.events import JobEvent
from foleyserve.settings import Settings
from foleyserve.store.base import JobStore
from foleyserve.worker.context import utc_now

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0
EVENTS_PER_TURN = 32
"""Events one turn delivers at most before looking at the clock and the stop flag again."""
IDLE_WAIT_S = 0.5
"""How often an idle dispatcher looks at the outbox."""
OUTAGE_WAIT_S = 2.0


class WebhookDispatcher:
    """Leases due events from `store` under the name `owner` and delivers them, signed with
    each tenant's secret from `keys`. `client` defaults to one over `PinnedTransport`; tests
    may pass another (with the same gate) and a `random` for the backoff's jitter."""

    def __init__(
        self,
        store: JobStore,
        keys: KeyStore,
        settings: Settings,
        owner: str,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.store = store
        self.keys = keys
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.client = client or httpx.Client(transport=PinnedTransport(webhook_policy(settings)))
        self._backoff_s = exponential_backoff(
            base_s=settings.webhook_backoff_s, cap_s=MAX_BACKOFF_S, random=random
        )
        self._secrets: dict[str, str] = {}
        self.delivered = 0
        self.given_up = 0

    @property
    def lease_s(self) -> float:
        """Longer than one delivery can take (`webhook_policy` bounds it)."""
        return 4 * self.settings.webhook_timeout_s

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set. Store outages are waited out."""
        while not stop.is_set():
            try:
                handled = self.run_once()
            except StorageError as e:
                log.warning("webhooks: store unavailable (%s)", e.message)
                stop.wait(OUTAGE_WAIT_S)
                continue
            if handled == 0:
                stop.wait(IDLE_WAIT_S)

    def run_once(self) -> int:
        """Deliver (or reschedule) the events due now, one at a time, up to
        `EVENTS_PER_TURN`. Returns how many were handled."""
        handled = 0
        while handled < EVENTS_PER_TURN:
            leased = self.store.events_due(
                self.owner, limit=1, lease_s=self.lease_s, now=self.clock()
            )
            if not leased:
                break
            self._handle(leased[0])
            handled += 1
        return handled

    def close(self) -> None:
        self.client.close()

    def _handle(self, event: JobEvent) -> None:
        body = event_payload(event.job, event.event)
        secret = self._secret(event.tenant)

        def headers() -> dict[str, str]:
            now_s = int(self.clock().timestamp())
            return webhook_headers(
                body, secret=secret, event=event.event, delivery_id=event.id, now_s=now_s
            )

        try:
            outcome = deliver(
                event.url,
                body,
                headers,
                client=self.client,
                attempts=1,
                backoff_s=self._backoff_s,
                sleep=lambda _: None,  # never called with attempts=1
                timeout_s=self.settings.webhook_timeout_s,
            )
        except InvalidInput as refused:  # the address gate said no
            self._give_up(event, refused.message)
            return
        if outcome.delivered:
            self.delivered += 1
            self.store.event_done(event.id, self.owner)
        elif self._retries(event, outcome):
            wait_s = max(self._backoff_s(event.attempts + 1), outcome.retry_after_s or 0.0)
            due_at = self.clock() + timedelta(seconds=wait_s)
            self.store.event_retry(event.id, self.owner, due_at=due_at, error=_error(outcome))
        else:
            self._give_up(event, _error(outcome))

    def _retries(self, event: JobEvent, outcome: DeliveryResult) -> bool:
        return (
            outcome.retryable
            and event.event != "running"
            and event.attempts + 1 < self.settings.webhook_max_attempts
        )

    def _give_up(self, event: JobEvent, why: str) -> None:
        self.given_up += 1
        log.warning(
            "webhook %s (job.%s of %s) given up after %d deliveries: %s",
            event.id,
            event.event,
            event.job.id,
            event.attempts + 1,
            why,
        )
        self.store.event_done(event.id, self.owner)

    def _secret(self, tenant: str) -> str:
        if tenant not in self._secrets:
            self._secrets[tenant] = self.keys.webhook_secret(tenant)
        return self._secrets[tenant]


def _error(outcome: DeliveryResult) -> str:
    return outcome.error or f"the receiver answered {outcome.status_code}"


def start_dispatcher(dispatcher: WebhookDispatcher, stop: threading.Event) -> threading.Thread:
    """`dispatcher.run(stop)` on a daemon thread of its own, started."""

    def run() -> None:
        try:
            dispatcher.run(stop)
        except FoleyError as e:  # not a store outage: log it rather than die silently
            log.error("webhook dispatcher stopped: %s", e.message)

    thread = threading.Thread(target=run, name="foleyserve-webhooks", daemon=True)
    thread.start()
    return thread
