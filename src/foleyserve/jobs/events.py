"""Job events: what a job's webhook announces, kept in the job store's outbox until delivered.

A `JobEvent` is written by the store in the same transaction as the state change it announces
(see `foleyserve.store.rules.job_event`), so an accepted change never loses its event, even if
the process dies a moment later. Dispatchers (`foleyserve.worker.webhooks`) lease due events,
deliver them, and either forget them or put them back with a later `due_at`: at-least-once.

Events carry a snapshot of the job as it was at that moment: the payload a receiver gets
describes the change it announces, even when the job has moved on (or been purged) since.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from foleyserve.errors import StorageError
from foleyserve.jobs.model import Job, WebhookEvent

EVENT_PAYLOAD_VERSION = 1
EVENT_ID_PREFIX = "dlv_"


def new_event_id() -> str:
    """A fresh delivery id (96 random bits): the `Foleyserve-Delivery` header of every attempt,
    so receivers drop a delivery they have already handled."""
    return EVENT_ID_PREFIX + secrets.token_hex(12)


class JobEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = EVENT_PAYLOAD_VERSION
    id: str
    event: WebhookEvent
    """The state the job reached (`running` is the started event)."""
    url: str
    """Where to deliver it: the job's `webhook_url`."""
    job: Job
    """The job as it was when it reached `event`."""
    attempts: int = Field(0, ge=0)
    """Deliveries tried so far (each may have made several requests)."""
    due_at: datetime
    """When it may next be tried (while leased: when the lease ends)."""
    last_error: str | None = None

    @property
    def tenant(self) -> str:
        return self.job.spec.tenant


def dump_event(event: JobEvent) -> str:
    return event.model_dump_json()


def load_event(payload: str) -> JobEvent:
    """The event in `payload`; `StorageError` for one this version cannot read."""
    try:
        event = JobEvent.model_validate_json(payload)
    except ValidationError as exc:
        raise StorageError(
            f"a stored job event cannot be read ({exc.error_count()} errors)"
        ) from exc
    if event.v != EVENT_PAYLOAD_VERSION:
        raise StorageError(
            f"event {event.id} was written with version {event.v}, this foleyserve reads "
            f"version {EVENT_PAYLOAD_VERSION}; run the same foleyserve version everywhere"
        )
    return event
