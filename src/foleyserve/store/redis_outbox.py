"""The Redis store's webhook outbox (`redis_keys.OUTBOX`, `OUTBOX_DUE`, `OUTBOX_OWNER`):
leasing due events, and forgetting or rescheduling leased ones.

Events are added by SUBMIT and TRANSITION, with the job change they announce; nothing here
changes a job. Errors are translated by the store's public methods, which call these.
"""

from __future__ import annotations

from datetime import datetime

import redis

from foleyserve.jobs.events import JobEvent, dump_event, load_event
from foleyserve.store import redis_scripts, rules
from foleyserve.store.codec import to_us
from foleyserve.store.redis_keys import RedisKeys


class RedisOutbox:
    """The outbox of the namespace `keys`, through `client` (which decodes responses)."""

    def __init__(self, client: redis.Redis, keys: RedisKeys) -> None:
        self._redis = client
        self._keys = keys
        self._keys_list = [keys.outbox, keys.outbox_due, keys.outbox_owner]
        self._lease = client.register_script(redis_scripts.EVENTS_LEASE)
        self._done = client.register_script(redis_scripts.EVENT_DONE)
        self._retry = client.register_script(redis_scripts.EVENT_RETRY)

    def lease(self, owner: str, *, limit: int, lease_s: float, now: datetime) -> list[JobEvent]:
        until = rules.lease_end(now, lease_s)
        if limit < 1:
            return []
        payloads = self._lease(keys=self._keys_list, args=[to_us(now), limit, to_us(until), owner])
        # The score is the truth about `due_at`; the stored payload may hold an older one.
        return [load_event(str(p)).model_copy(update={"due_at": until}) for p in payloads]

    def done(self, event_id: str, owner: str) -> bool:
        return bool(self._done(keys=self._keys_list, args=[event_id, owner]))

    def retry(self, event_id: str, owner: str, *, due_at: datetime, error: str) -> bool:
        payload = self._redis.hget(self._keys.outbox, event_id)
        if payload is None:
            return False
        # Only the lease's owner changes a leased event, so this read stays current; the
        # script refuses the write if the lease has passed to another dispatcher since.
        event = rules.retried(load_event(str(payload)), due_at=due_at, error=error)
        args: list[str | int] = [event_id, owner, to_us(due_at), dump_event(event)]
        return bool(self._retry(keys=self._keys_list, args=args))

    def pending(self) -> int:
        return int(self._redis.hlen(self._keys.outbox))
