"""Replay a trace of job arrivals through `plan_batch`: a discrete-event simulation.

Workers take batches from one queue; a batch of `n` jobs whose longest is `d` seconds keeps its
worker busy for `service_time_s(n, d)`. The clock jumps from event to event (an arrival, a
batch finishing, the time a forming batch asked to be looked at again), so hours of traffic
take milliseconds. The loop plays the worker's driver: it skips expired jobs, drops unfit
ones, claims what the plan chose and stores the new fairness counters, exactly as a worker
does against a `JobStore`. Used by the tests, and by `foleyserve.bench` for predictions and
capacity planning.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from foleyserve.jobs.model import Priority
from foleyserve.scheduling.policy import BatchPolicy, Candidate, Plan, plan_batch

if TYPE_CHECKING:
    from foleyserve.engines.base import MemoryModel

ServiceTimeFn = Callable[[int, float], float]
"""`service_time_s(batch_size, longest duration_s) -> seconds` a worker is busy."""
BatchTimeFn = Callable[[Sequence[float]], float]
"""`batch_time_s(every job's duration_s) -> seconds` a worker is busy, for engines whose cost
is not set by the longest job alone (one that renders each job at its own length)."""


@dataclass(frozen=True)
class Arrival:
    """One job of the trace."""

    job_id: str
    at_s: float
    duration_s: float
    tenant: str = "tenant"
    priority: Priority = Priority.NORMAL
    batch_key: Hashable = "default"
    cost_s: float | None = None
    """Estimated GPU-seconds charged for fairness; None: `service_time_s(1, duration_s)`."""
    deadline_s: float | None = None


@dataclass(frozen=True)
class JobRun:
    """How one job went."""

    job_id: str
    tenant: str
    priority: Priority
    arrived_s: float
    started_s: float
    finished_s: float
    batch: int
    """Index into `SimResult.batches`."""

    @property
    def queue_wait_s(self) -> float:
        return self.started_s - self.arrived_s


@dataclass(frozen=True)
class BatchRun:
    worker: int
    job_ids: tuple[str, ...]
    started_s: float
    finished_s: float
    longest_s: float
    """The longest `duration_s` in the batch."""
    reason: str


@dataclass(frozen=True)
class SimResult:
    jobs: Mapping[str, JobRun]
    """Every job that ran, by id."""
    batches: tuple[BatchRun, ...]
    """In start order."""
    expired: tuple[str, ...]
    """Jobs whose deadline passed while queued."""
    unfit: tuple[str, ...]
    """Jobs the policy refused as too big for the memory budget."""
    unstarted: tuple[str, ...]
    """Jobs still queued when the simulation stopped at `until_s`."""
    fairness: Mapping[str, float]
    """The tenants' service counters at the end."""
    plans: int
    """How many times `plan_batch` was called."""

    @property
    def batch_sizes(self) -> list[int]:
        return [len(b.job_ids) for b in self.batches]


def simulate(
    arrivals: Sequence[Arrival],
    policy: BatchPolicy,
    *,
    workers: int,
    service_time_s: ServiceTimeFn,
    memory_model: MemoryModel | None = None,
    fairness: Mapping[str, float] | None = None,
    until_s: float | None = None,
    batch_time_s: BatchTimeFn | None = None,
    poll_interval_s: float | None = None,
) -> SimResult:
    """Run the trace to the end: until every job ran, expired or was refused (or, with
    `until_s`, until no batch may start any more: arrivals after `until_s` are ignored and
    batches running then still finish). `fairness` holds the starting counters.

    `batch_time_s`, when given, prices a batch from all its jobs' durations instead of
    `service_time_s(n, longest)` (which still prices a job's fairness `cost_s`).
    `poll_interval_s` plays the real worker's idle loop: a worker that found nothing to run
    looks again only on its next poll tick (or when the forming batch's wait ends, if sooner),
    so an arrival to an idle worker waits for that tick; None: arrivals are seen at once.

    Raises `RuntimeError` if the policy stalls: jobs queued, a worker idle, and nothing that
    would ever make it look again.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if poll_interval_s is not None and not poll_interval_s > 0:
        raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s}")
    if len({a.job_id for a in arrivals}) != len(arrivals):
        raise ValueError("arrivals must have distinct job_ids")
    sim = _Simulation(policy, workers, service_time_s, memory_model, dict(fairness or {}))
    sim.batch_time_s = batch_time_s
    sim.poll_interval_s = poll_interval_s
    trace = sorted(arrivals, key=lambda a: (a.at_s, a.job_id))
    if until_s is not None:
        trace = [a for a in trace if a.at_s <= until_s]
    sim.pending.extend(trace)
    while (now_s := sim.next_event_s()) is not None:
        sim.step(now_s, dispatch=until_s is None or now_s <= until_s)
    return sim.result()


class _Simulation:
    """The simulation's state between events: queue, idle and busy workers, what happened."""

    def __init__(
        self,
        policy: BatchPolicy,
        workers: int,
        service_time_s: ServiceTimeFn,
        memory_model: MemoryModel | None,
        counters: dict[str, float],
    ) -> None:
        self.policy = policy
        self.service_time_s = service_time_s
        self.memory_model = memory_model
        self.counters = counters
        self.pending: deque[Arrival] = deque()
        self.queue: dict[str, Candidate] = {}
        self.idle = list(range(workers))
        self.running: list[tuple[float, int]] = []  # a heap of (finished_s, batch index)
        self.wake_s: float | None = None
        self.batch_time_s: BatchTimeFn | None = None
        self.poll_interval_s: float | None = None
        self.sleeping: dict[int, float] = {}  # polling workers asleep: worker -> next look
        self.batches: list[BatchRun] = []
        self.jobs: dict[str, JobRun] = {}
        self.expired: list[str] = []
        self.unfit: list[str] = []
        self.plans = 0

    def next_event_s(self) -> float | None:
        times = [self.running[0][0]] if self.running else []
        if self.pending:
            times.append(self.pending[0].at_s)
        if self.wake_s is not None:
            times.append(self.wake_s)
        times.extend(t for t in self.sleeping.values() if t != math.inf)
        return min(times, default=None)

    def step(self, now_s: float, *, dispatch: bool) -> None:
        while self.running and self.running[0][0] <= now_s:
            _, index = heapq.heappop(self.running)
            heapq.heappush(self.idle, self.batches[index].worker)
        while self.pending and self.pending[0].at_s <= now_s:
            self._admit(self.pending.popleft())
        for job_id in [j for j, c in self.queue.items() if c.expired(now_s)]:
            del self.queue[job_id]
            self.expired.append(job_id)
        for worker in [w for w, t in self.sleeping.items() if t <= now_s]:
            del self.sleeping[worker]
            heapq.heappush(self.idle, worker)
        self.wake_s = None
        if dispatch:
            self._dispatch(now_s)

    def _admit(self, arrival: Arrival) -> None:
        cost_s = arrival.cost_s
        if cost_s is None:
            cost_s = self.service_time_s(1, arrival.duration_s)
        self.queue[arrival.job_id] = Candidate(
            job_id=arrival.job_id,
            tenant=arrival.tenant,
            priority=arrival.priority,
            queued_at_s=arrival.at_s,
            batch_key=arrival.batch_key,
            duration_s=arrival.duration_s,
            cost_s=cost_s,
            deadline_s=arrival.deadline_s,
        )

    def _dispatch(self, now_s: float) -> None:
        while self.idle and self.queue:
            plan = plan_batch(
                list(self.queue.values()),
                now_s=now_s,
                policy=self.policy,
                fairness=self.counters,
                memory_model=self.memory_model,
            )
            self.plans += 1
            for job_id in plan.unfit:
                del self.queue[job_id]
                self.unfit.append(job_id)
            if plan.job_ids:
                self._start(plan, now_s)
                continue
            if plan.wait_until_s is not None:
                if plan.wait_until_s <= now_s:
                    raise RuntimeError(f"policy asked to wait until {plan.wait_until_s} at {now_s}")
                self.wake_s = plan.wait_until_s
            elif self.queue:
                raise RuntimeError(f"policy stalled at {now_s} with {len(self.queue)} jobs queued")
            break
        if self.poll_interval_s is not None:
            self._sleep_idle(now_s, self.poll_interval_s)

    def _sleep_idle(self, now_s: float, poll_s: float) -> None:
        """Polling workers that found nothing to run sleep: until the forming batch's wait ends
        or their next tick, whichever is sooner; with nothing queued, until their first tick
        after the next arrival (ticks in between would find nothing)."""
        if self.wake_s is not None:
            wake_s = min(self.wake_s, now_s + poll_s)
            self.wake_s = None
        elif self.pending:
            ticks = max(1, math.ceil((self.pending[0].at_s - now_s) / poll_s))
            wake_s = now_s + ticks * poll_s
        else:
            wake_s = math.inf
        while self.idle:
            self.sleeping[heapq.heappop(self.idle)] = wake_s

    def _start(self, plan: Plan, now_s: float) -> None:
        worker = heapq.heappop(self.idle)
        jobs = [self.queue.pop(job_id) for job_id in plan.job_ids]
        longest_s = max(c.duration_s for c in jobs)
        if self.batch_time_s is not None:
            service_s = self.batch_time_s([c.duration_s for c in jobs])
        else:
            service_s = self.service_time_s(len(jobs), longest_s)
        if not service_s >= 0:
            raise ValueError(f"service_time_s({len(jobs)}, {longest_s}) = {service_s}")
        finished_s = now_s + service_s
        index = len(self.batches)
        self.batches.append(
            BatchRun(worker, plan.job_ids, now_s, finished_s, longest_s, str(plan.reason))
        )
        heapq.heappush(self.running, (finished_s, index))
        for tenant, charge in plan.charge.items():
            self.counters[tenant] = charge.applied_to(self.counters.get(tenant, 0.0))
        for c in jobs:
            self.jobs[c.job_id] = JobRun(
                c.job_id, c.tenant, c.priority, c.queued_at_s, now_s, finished_s, index
            )

    def result(self) -> SimResult:
        return SimResult(
            jobs=self.jobs,
            batches=tuple(self.batches),
            expired=tuple(self.expired),
            unfit=tuple(self.unfit),
            unstarted=tuple(self.queue),
            fairness=dict(self.counters),
            plans=self.plans,
        )
