"""The order in which queued jobs are served: priority classes with aging, then fair sharing of
GPU-seconds between tenants, then first come, first served within a tenant.

1. Class. A job's effective class is `priority.rank - floor(waited_s / aging_s)`, at least 0:
   a job moves up one class per `aging_s` waited, so low still runs under sustained high load.
   Lower classes are served first.
2. Tenant. Within a class the next job comes from the tenant with the lowest service counter
   (estimated GPU-seconds charged so far: start-time fair queuing). Serving a job adds its
   `cost_s` to its tenant's counter, so two tenants that are always backlogged get equal
   GPU-seconds however differently sized their jobs are. Ties go to the tenant with the lower
   stored counter, then to the one whose next job is older, then by name.
3. Job. Within a tenant and class, oldest `queued_at_s` first (then `job_id`).

A batch is filled from this order with one twist: within a class, a tenant that has nothing in
the batch yet goes before every tenant that has, so a tenant with a thousand queued jobs (or a
large credit) cannot take a whole batch while another tenant waits. This gives every waiting
tenant at least one job per batch, which is no more than its fair share as long as jobs that
share a batch key cost about the same (they do: the key fixes the latent length and the
steps). Where they do not, and batches are small, a tenant of the costly jobs gets more than
its share: one job per batch, when its share is less.

Credit is bounded by virtual time. A tenant that was idle keeps an old, low counter; left
alone, it would have the GPU to itself until it caught up. So each tenant's effective counter
is `max(counter, virtual_time)`, with `virtual_time = max(counters of backlogged tenants) -
window_s`: no tenant holds more than `window_s` GPU-seconds of credit (or debt) against the
most-served tenant that is waiting now. Tenants that keep up stay within a few job costs of
each other, so the floor never touches them when `window_s` is larger than that.

(The floor sits below the *largest* counter, not at the smallest: the smallest counter among
the backlogged tenants is the newcomer's own, and "the smallest among the *other* tenants"
would lift a tenant of small jobs to the counter of a tenant of big ones at every turn,
sharing jobs instead of GPU-seconds.)

Pure functions: no clock (callers pass `now_s`), no I/O, no randomness.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from operator import attrgetter
from typing import Protocol, TypeVar

from foleyserve.jobs.model import Priority


class Queued(Protocol):
    """What the ordering reads of a queued job (`policy.Candidate` is one)."""

    @property
    def job_id(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def queued_at_s(self) -> float: ...
    @property
    def cost_s(self) -> float: ...


Q = TypeVar("Q", bound=Queued)


def effective_rank(priority: Priority, waited_s: float, aging_s: float) -> int:
    """The class a job is served in after waiting `waited_s`: 0 is served first."""
    return max(0, priority.rank - math.floor(max(0.0, waited_s) / aging_s))


def effective_counters(
    counters: Mapping[str, float], tenants: Iterable[str], *, window_s: float
) -> dict[str, float]:
    """Each backlogged tenant's counter, raised to the virtual time (see the module docstring).
    A tenant missing from `counters` has never been charged: 0."""
    raw = {tenant: counters.get(tenant, 0.0) for tenant in tenants}
    if not raw:
        return {}
    virtual_time = max(raw.values()) - window_s
    return {tenant: max(counter, virtual_time) for tenant, counter in raw.items()}


def fair_order(
    jobs: Iterable[Q],
    *,
    now_s: float,
    aging_s: float,
    counters: Mapping[str, float],
    stored: Mapping[str, float],
) -> Iterator[Q]:
    """Yield `jobs` in serving order (lazily: take only as many as you need).

    `counters` are the effective counters of every tenant in `jobs` (`effective_counters`);
    `stored` the counters as stored, for ties. Each yielded job charges its tenant's counter
    before the next pick, and within one call a tenant that has had nothing yet goes before
    every tenant that has (within a class): so a batch filled from this order holds a job of
    every waiting tenant before it holds a second job of any.
    """
    by_class: defaultdict[int, defaultdict[str, list[Q]]] = defaultdict(lambda: defaultdict(list))
    for job in jobs:
        rank = effective_rank(job.priority, now_s - job.queued_at_s, aging_s)
        by_class[rank][job.tenant].append(job)
    counter = dict(counters)
    tie = {tenant: stored.get(tenant, 0.0) for tenant in counter}
    served: set[str] = set()

    for rank in sorted(by_class):
        yield from _serve_class(by_class[rank], counter, tie, served)


def _serve_class(
    queues: Mapping[str, list[Q]],
    counter: dict[str, float],
    tie: dict[str, float],
    served: set[str],
) -> Iterator[Q]:
    """One class's jobs in order; charges `counter` and `tie`, and records `served`."""
    fifos = {
        tenant: deque(sorted(queue, key=attrgetter("queued_at_s", "job_id")))
        for tenant, queue in queues.items()
    }

    def key(tenant: str) -> tuple[bool, float, float, float, str]:
        return (
            tenant in served,
            counter[tenant],
            tie[tenant],
            fifos[tenant][0].queued_at_s,
            tenant,
        )

    heap = [key(tenant) for tenant in fifos]
    heapq.heapify(heap)
    while heap:
        tenant = heapq.heappop(heap)[-1]
        job = fifos[tenant].popleft()
        yield job
        served.add(tenant)
        counter[tenant] += job.cost_s
        tie[tenant] += job.cost_s
        if fifos[tenant]:
            heapq.heappush(heap, key(tenant))
