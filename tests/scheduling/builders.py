"""Small builders shared by the scheduling tests."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from foleyserve.engines.base import MemoryModel
from foleyserve.jobs.model import Priority
from foleyserve.scheduling.policy import BatchPolicy, Candidate, Plan, plan_batch


def cand(
    job_id: str,
    *,
    tenant: str = "a",
    priority: Priority = Priority.NORMAL,
    at_s: float = 0.0,
    key: Hashable = "k",
    duration_s: float = 10.0,
    cost_s: float = 1.0,
    deadline_s: float | None = None,
) -> Candidate:
    return Candidate(
        job_id=job_id,
        tenant=tenant,
        priority=priority,
        queued_at_s=at_s,
        batch_key=key,
        duration_s=duration_s,
        cost_s=cost_s,
        deadline_s=deadline_s,
    )


def drain(
    candidates: Iterable[Candidate],
    *,
    policy: BatchPolicy,
    now_s: float,
    fairness: Mapping[str, float] | None = None,
    memory_model: MemoryModel | None = None,
    max_plans: int = 10_000,
) -> list[Plan]:
    """Plan batch after batch from a queue no one adds to, as a worker that finishes each batch
    at once would: claim the batch, store the charge, and when the plan waits, look again at
    `wait_until_s`. Returns the plans that ran something, in order."""
    queue = {c.job_id: c for c in candidates}
    counters = dict(fairness or {})
    plans: list[Plan] = []
    while queue and len(plans) < max_plans:
        for job_id in [j for j, c in queue.items() if c.expired(now_s)]:
            del queue[job_id]
        plan = plan_batch(
            list(queue.values()),
            now_s=now_s,
            policy=policy,
            fairness=counters,
            memory_model=memory_model,
        )
        for job_id in plan.unfit:
            del queue[job_id]
        if plan.job_ids:
            plans.append(plan)
            for job_id in plan.job_ids:
                del queue[job_id]
            for tenant, charge in plan.charge.items():
                counters[tenant] = charge.applied_to(counters.get(tenant, 0.0))
        elif plan.wait_until_s is not None:
            assert plan.wait_until_s > now_s
            now_s = plan.wait_until_s
        else:
            assert not [c for c in queue.values() if not c.expired(now_s)], "stalled"
    return plans


def order_of(plans: Iterable[Plan]) -> list[str]:
    return [job_id for plan in plans for job_id in plan.job_ids]
