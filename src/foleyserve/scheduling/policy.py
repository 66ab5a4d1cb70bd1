"""The batching policy: which queued jobs a free worker runs next, as one pure function.

`plan_batch(candidates, now_s=..., policy=..., fairness=..., memory_model=...) -> Plan`

The worker's loop (the driver) reads a snapshot of the queue (`JobStore.queued`) and the
tenants' service counters (`JobStore.fairness`), builds a `Candidate` per job, calls
`plan_batch`, and then either claims `Plan.job_ids` with `charge=Plan.charge`, or sleeps until
`Plan.wait_until_s` (or the next arrival). It fails the jobs in `Plan.unfit`. The policy has no
I/O and no clock of its own, so `scheduling.simulate` drives it through hours of traffic in
milliseconds.

How a plan is made:
1. Jobs past their deadline are skipped (the store expires them). Jobs whose predicted memory
   alone exceeds the budget go to `Plan.unfit`: they can never run on this worker.
2. The *head* is the first job in serving order (`fairness.fair_order`: effective priority
   class with aging, then the tenant with the lowest service counter, then FIFO).
3. Only jobs with the head's `batch_key` may join. They join in serving order again (every
   waiting tenant gets a place before any tenant gets a second), up to the policy's target
   size, skipping any job that would push the predicted peak memory of the batch,
   `memory_model.bytes_for(len(batch), longest duration_s)`, over the budget. No admitted batch
   ever exceeds the budget.
4. `none` runs the head alone. `fixed` aims for exactly `fixed_size` jobs, `dynamic` for up to
   `max_batch_size`. A batch that reached its target, or that memory keeps from growing, runs
   now. A smaller one waits until the head has been queued `max_wait_ms`, even when every
   compatible job already fits (more may come; an idle GPU for 50 ms costs less than a batch
   of one), unless a job in it would pass its deadline while waiting.
5. `Plan.charge` holds a `Charge` for every tenant in the batch: its effective counter as the
   floor, plus the `cost_s` of its jobs in the batch; the store applies it atomically.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING

from foleyserve.jobs.model import Charge, Priority
from foleyserve.scheduling.fairness import effective_counters, fair_order

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from foleyserve.engines.base import MemoryModel


class PolicyName(StrEnum):
    NONE = "none"
    """One job per batch."""
    FIXED = "fixed"
    """Wait for `fixed_size` jobs of one batch key (at most `max_wait_ms`), run exactly those."""
    DYNAMIC = "dynamic"
    """Run as many compatible jobs as are queued, up to `max_batch_size` and the memory budget;
    wait up to `max_wait_ms` for more while the batch is not full."""


class PlanReason(StrEnum):
    """Why a plan is what it is (for logs and metrics)."""

    EMPTY = "empty"
    """Nothing runnable is queued."""
    WAITING = "waiting"
    """A batch is forming: look again at `wait_until_s` or when a job arrives."""
    SINGLE = "single"
    """Policy `none`: the head alone."""
    FULL = "full"
    """The batch reached its target size."""
    MEMORY = "memory"
    """No further compatible job fits in the memory budget."""
    MAX_WAIT = "max_wait"
    """Dynamic: the head waited `max_wait_ms`; run what there is."""
    FIXED_TIMEOUT = "fixed_timeout"
    """Fixed: the head waited `max_wait_ms` for `fixed_size` jobs; run what there is."""
    DEADLINE = "deadline"
    """Waiting would let a job in the batch pass its deadline."""


@dataclass(frozen=True)
class BatchPolicy:
    name: PolicyName = PolicyName.DYNAMIC
    fixed_size: int = 2
    """FIXED: wait for this many jobs of one batch key."""
    max_wait_ms: float = 50.0
    """FIXED: how long to wait for a full batch; DYNAMIC: how long to wait for more when not
    full. Counted from when the head was queued."""
    max_batch_size: int = 16
    """Never more jobs per batch (the driver passes min(this, the engine's max_batch_size))."""
    memory_budget_bytes: int | None = None
    """None: no memory limit (CPU engines)."""
    aging_s: float = 120.0
    """A queued job moves up one priority class per `aging_s` waited."""
    fairness_window_s: float = 300.0
    """The most GPU-seconds of credit (or debt) a tenant carries against the most-served
    backlogged tenant. Keep it above a few jobs' `cost_s`."""

    def __post_init__(self) -> None:
        if not 1 <= self.fixed_size <= self.max_batch_size:
            raise ValueError(
                f"fixed_size must be between 1 and max_batch_size ({self.max_batch_size}), "
                f"got {self.fixed_size}"
            )
        if self.max_wait_ms < 0 or math.isnan(self.max_wait_ms):
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.memory_budget_bytes is not None and self.memory_budget_bytes <= 0:
            raise ValueError(f"memory_budget_bytes must be > 0, got {self.memory_budget_bytes}")
        if not self.aging_s > 0:
            raise ValueError(f"aging_s must be > 0 (math.inf: no aging), got {self.aging_s}")
        if not self.fairness_window_s >= 0:
            raise ValueError(f"fairness_window_s must be >= 0, got {self.fairness_window_s}")

    @property
    def target_size(self) -> int:
        """How many jobs a batch aims for."""
        if self.name is PolicyName.NONE:
            return 1
        if self.name is PolicyName.FIXED:
            return self.fixed_size
        return self.max_batch_size


@dataclass(frozen=True)
class Candidate:
    """What the policy sees of a queued job (built from a `Job` by the driver)."""

    job_id: str
    tenant: str
    priority: Priority
    queued_at_s: float
    """Seconds on the driver's clock (monotonic or unix: the policy doesn't care)."""
    batch_key: Hashable
    """Jobs with equal keys may share a batch."""
    duration_s: float
    """For the memory model."""
    cost_s: float
    """Estimated GPU-seconds, charged to the tenant's service counter."""
    deadline_s: float | None = None
    """On the same clock as `queued_at_s`; None: no deadline."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cost_s) and self.cost_s >= 0):
            raise ValueError(f"job {self.job_id}: cost_s must be finite and >= 0")

    def expired(self, now_s: float) -> bool:
        return self.deadline_s is not None and self.deadline_s <= now_s


@dataclass(frozen=True)
class Plan:
    job_ids: tuple[str, ...]
    """The batch to claim, head first; empty: run nothing now."""
    wait_until_s: float | None
    """When to look again while a batch forms (None: only when new jobs arrive)."""
    charge: Mapping[str, Charge]
    """Tenant -> its new service counter after this batch (pass to `JobStore.claim`)."""
    reason: PlanReason
    unfit: tuple[str, ...] = field(default=())
    """Jobs that alone exceed the memory budget: they can never run on this worker."""


def plan_batch(
    candidates: Sequence[Candidate],
    *,
    now_s: float,
    policy: BatchPolicy,
    fairness: Mapping[str, float],
    memory_model: MemoryModel | None = None,
) -> Plan:
    """Choose the next batch (see the module docstring). Deterministic: equal inputs, in any
    order, give equal plans. `memory_model` is required when the policy has a budget."""
    budget = policy.memory_budget_bytes
    if budget is not None and memory_model is None:
        raise ValueError("the policy has a memory budget but no memory_model was given")
    if len({c.job_id for c in candidates}) != len(candidates):
        raise ValueError("candidates must have distinct job_ids")

    live = [c for c in candidates if not c.expired(now_s)]
    fits = partial(_fits, budget=budget, memory_model=memory_model)
    runnable = live
    unfit: tuple[str, ...] = ()
    if budget is not None:
        runnable = [c for c in live if fits(1, c.duration_s)]
        too_big = sorted((c for c in live if not fits(1, c.duration_s)), key=_fifo)
        unfit = tuple(c.job_id for c in too_big)
    if not runnable:
        return Plan((), None, {}, PlanReason.EMPTY, unfit)

    counters = effective_counters(
        fairness, {c.tenant for c in runnable}, window_s=policy.fairness_window_s
    )
    order = partial(
        fair_order, now_s=now_s, aging_s=policy.aging_s, counters=counters, stored=fairness
    )
    head = next(order(runnable))
    compatible = [c for c in runnable if c.batch_key == head.batch_key]
    batch, memory_bound = _fill(order(compatible), policy.target_size, fits)
    # The head comes first in both orders: compatible jobs are a subset, ordered the same way.
    assert batch[0] is head

    if len(batch) == policy.target_size:
        reason = PlanReason.SINGLE if policy.name is PolicyName.NONE else PlanReason.FULL
    elif memory_bound:
        reason = PlanReason.MEMORY
    else:
        wait_until_s = head.queued_at_s + policy.max_wait_ms / 1000.0
        if now_s >= wait_until_s:
            fixed = policy.name is PolicyName.FIXED
            reason = PlanReason.FIXED_TIMEOUT if fixed else PlanReason.MAX_WAIT
        elif any(c.deadline_s is not None and c.deadline_s <= wait_until_s for c in batch):
            reason = PlanReason.DEADLINE
        else:
            return Plan((), wait_until_s, {}, PlanReason.WAITING, unfit)

    spent_s: dict[str, float] = {}
    for job in batch:
        spent_s[job.tenant] = spent_s.get(job.tenant, 0.0) + job.cost_s
    charge = {tenant: Charge(counters[tenant], cost_s) for tenant, cost_s in spent_s.items()}
    return Plan(tuple(c.job_id for c in batch), None, charge, reason, unfit)


_fifo = attrgetter("queued_at_s", "job_id")


def _fits(
    batch_size: int, longest_s: float, *, budget: int | None, memory_model: MemoryModel | None
) -> bool:
    """Whether a batch of this shape is predicted to stay within the budget."""
    if budget is None or memory_model is None:
        return True
    return memory_model.bytes_for(batch_size, longest_s) <= budget


def _fill(
    order: Iterator[Candidate], target: int, fits: Callable[[int, float], bool]
) -> tuple[list[Candidate], bool]:
    """Take jobs from `order` up to `target`, skipping those that would break the budget.
    Returns (batch, memory_bound): memory_bound when a job was left out for memory.

    Assumes predicted memory grows with batch size and with duration (it does for every
    engine's measured model): once a job no longer than the batch's longest is refused, no
    further job can join, so the scan stops there.
    """
    batch: list[Candidate] = []
    longest_s = 0.0
    memory_bound = False
    for job in order:
        if len(batch) == target:
            break
        if not fits(len(batch) + 1, max(longest_s, job.duration_s)):
            memory_bound = True
            if job.duration_s <= longest_s:
                break
            continue
        batch.append(job)
        longest_s = max(longest_s, job.duration_s)
    return batch, memory_bound
