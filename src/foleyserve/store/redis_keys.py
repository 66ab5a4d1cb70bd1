"""The whole Redis key schema of foleyserve (the job store, the API's rate limits, API keys),
in one place.

Every key starts with a namespace prefix (default `foleyserve:`), so several deployments or test
runs can share one Redis. Each family below is a fixed word after the prefix, then (for the
families that end in `:`) a variable part taken verbatim, which keeps the mapping from
(family, variable) to key one-to-one whatever tenants and namespaces are called.

Times in scores are integer microseconds since the epoch (see `foleyserve.store.codec`).
Redis Cluster needs every key of a script in one slot: there, use a prefix with a hash tag,
e.g. `{foleyserve}:`.
"""

from __future__ import annotations

from dataclasses import dataclass

from foleyserve.jobs.model import Priority

DEFAULT_PREFIX = "foleyserve:"

JOB = "job:"
"""Hash per job, `job:<id>`: `payload` (the Job's versioned JSON, the truth), `rev` (bumped by
every change: the compare-and-set guard of the scripts), and copies the scripts need without
parsing JSON: `state`, `tenant`, `rank` (priority rank), `seq` (submission order), `idem`
(idempotency key, or empty)."""

QUEUE = "queue:"
"""Sorted set per priority, `queue:<high|normal|low>`: queued job ids scored by `seq`, so FIFO
within a priority, and a requeued job goes back ahead of newer ones."""

TENANT_QUEUE = "tenant_queue:"
"""Sorted set per (priority, tenant), `tenant_queue:<high|normal|low>:<tenant>`: the members of
`queue:<priority>` that are the tenant's, with the same scores. `queued(per_tenant=K)` reads
the first K of each backlogged tenant's, so it costs O(tenants x K), not O(queue)."""

BACKLOGGED = "backlogged:"
"""Set per priority, `backlogged:<high|normal|low>`: exactly the tenants whose `tenant_queue`
at that priority is not empty (the script that empties one removes its tenant)."""

KEY_SCHEMA = "key_schema"
"""String: the version of this key schema that the indexes are complete for, `KEY_SCHEMA_VERSION`
once `tenant_queue` and `backlogged` hold every queued job. Data written by a foleyserve from
before them has no such key; the first per-tenant read of each `RedisJobStore` fills them in
from the queues, and sets it. (Jobs that an older foleyserve queues afterwards are missing from
them until requeued: upgrade every process, or delete this key and restart the workers.)"""

KEY_SCHEMA_VERSION = "2"

AUTH = "auth:"
"""API keys and tenants (foleyserve.auth): every key `auth:...`; the families are listed in
`foleyserve.auth.redis.AuthKeys`, next to the scripts that keep them consistent."""

RATELIMIT = "ratelimit:"
"""String per rate-limited key, `ratelimit:<key>` (foleyserve.api.ratelimit): its GCRA
theoretical arrival time in seconds on the Redis server's clock, expiring when the bucket is
full again (then it means the same as no key)."""

LEASES = "leases"
"""Sorted set: running job ids scored by lease expiry (µs); `requeue_expired` reads the head."""

DEADLINES = "deadlines"
"""Sorted set: queued job ids that have a deadline, scored by it (µs)."""

FINISHED = "finished"
"""Sorted set: finished job ids scored by `finished_at` (µs); `purge` reads the head."""

TENANT_JOBS = "tenant_jobs:"
"""Sorted set per tenant, `tenant_jobs:<tenant>`: all its job ids scored by `seq`; `list`
pages through it newest first, its cursor being the last `seq` seen."""

IDEMPOTENCY = "idempotency:"
"""Hash per tenant, `idempotency:<tenant>`: idempotency key -> job id."""

SEQ = "seq"
"""Counter: the last submission sequence number given out."""

COUNTS = "counts"
"""Hash: job state -> number of jobs in it."""

FAIRNESS = "fairness"
"""Hash: tenant -> service counter (estimated GPU-seconds charged so far)."""

WORKERS = "workers"
"""Hash: worker id -> when it last reported in (µs), the greater of two racing reports."""

OUTBOX = "outbox"
"""Hash: webhook event id -> the JobEvent's versioned JSON (`foleyserve.jobs.events`), written
by SUBMIT and TRANSITION with the change it announces."""

OUTBOX_DUE = "outbox_due"
"""Sorted set: event ids scored by when they may be tried next (µs); while leased, by when the
lease ends. Dispatchers lease the head."""

OUTBOX_OWNER = "outbox_owner"
"""Hash: event id -> the dispatcher holding its lease (absent when not leased)."""

CACHE_ENTRIES = "cache_entries:"
"""Hash per cache namespace, `cache_entries:<namespace>`: key -> JSON
`{"object_key": ..., "size_bytes": ...}`."""

CACHE_USED = "cache_used:"
"""Sorted set per cache namespace: key scored by last use (µs); eviction takes the head."""

CACHE_BYTES = "cache_bytes"
"""Hash: cache namespace -> total `size_bytes` of its entries."""


@dataclass(frozen=True)
class RedisKeys:
    """The keys of one namespace."""

    prefix: str = DEFAULT_PREFIX

    def job(self, job_id: str) -> str:
        return f"{self.prefix}{JOB}{job_id}"

    def queue(self, priority: Priority) -> str:
        return f"{self.prefix}{QUEUE}{priority.value}"

    def queues(self) -> tuple[str, ...]:
        """Every priority's queue, by rank (served first, first)."""
        return tuple(self.queue(p) for p in by_rank())

    def tenant_queue(self, priority: Priority, tenant: str) -> str:
        return f"{self.prefix}{TENANT_QUEUE}{priority.value}:{tenant}"

    def backlogged(self, priority: Priority) -> str:
        return f"{self.prefix}{BACKLOGGED}{priority.value}"

    def backlogs(self) -> tuple[str, ...]:
        """Every priority's `backlogged` set, by rank, like `queues()`."""
        return tuple(self.backlogged(p) for p in by_rank())

    def tenant_jobs(self, tenant: str) -> str:
        return f"{self.prefix}{TENANT_JOBS}{tenant}"

    def idempotency(self, tenant: str) -> str:
        return f"{self.prefix}{IDEMPOTENCY}{tenant}"

    def cache_entries(self, namespace: str) -> str:
        return f"{self.prefix}{CACHE_ENTRIES}{namespace}"

    def cache_used(self, namespace: str) -> str:
        return f"{self.prefix}{CACHE_USED}{namespace}"

    @property
    def leases(self) -> str:
        return self.prefix + LEASES

    @property
    def deadlines(self) -> str:
        return self.prefix + DEADLINES

    @property
    def finished(self) -> str:
        return self.prefix + FINISHED

    @property
    def key_schema(self) -> str:
        return self.prefix + KEY_SCHEMA

    @property
    def seq(self) -> str:
        return self.prefix + SEQ

    @property
    def counts(self) -> str:
        return self.prefix + COUNTS

    @property
    def fairness(self) -> str:
        return self.prefix + FAIRNESS

    @property
    def cache_bytes(self) -> str:
        return self.prefix + CACHE_BYTES

    @property
    def workers(self) -> str:
        return self.prefix + WORKERS

    @property
    def outbox(self) -> str:
        return self.prefix + OUTBOX

    @property
    def outbox_due(self) -> str:
        return self.prefix + OUTBOX_DUE

    @property
    def outbox_owner(self) -> str:
        return self.prefix + OUTBOX_OWNER


def by_rank() -> list[Priority]:
    """The priorities, served first first: the order of `queues()` and `backlogs()`, and of the
    scripts' per-rank keys (`KEYS[base + rank]`)."""
    return sorted(Priority, key=lambda p: p.rank)
