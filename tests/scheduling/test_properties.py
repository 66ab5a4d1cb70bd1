"""Properties of `plan_batch` over random queues, budgets and memory models."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from foleyserve.engines.base import LinearMemoryModel
from foleyserve.jobs.model import Priority
from foleyserve.scheduling.fairness import effective_rank
from foleyserve.scheduling.policy import BatchPolicy, Candidate, PlanReason, PolicyName, plan_batch
from tests.scheduling.builders import drain

GiB = 1 << 30
TENANTS = "abcde"


@st.composite
def queues(draw: st.DrawFn) -> list[Candidate]:
    # Times, durations and costs in tenths: integers draw several times faster than floats.
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(TENANTS),
                st.sampled_from(Priority),
                st.integers(min_value=0, max_value=10_000),
                st.integers(min_value=0, max_value=2),
                st.integers(min_value=1, max_value=1200),
                st.integers(min_value=0, max_value=1000),
                st.none() | st.integers(min_value=0, max_value=20_000),
            ),
            max_size=24,
        )
    )
    return [
        Candidate(
            job_id=f"j{i}",
            tenant=tenant,
            priority=priority,
            queued_at_s=queued_at / 10,
            batch_key=key,
            duration_s=duration / 10,
            cost_s=cost / 10,
            deadline_s=None if deadline is None else deadline / 10,
        )
        for i, (tenant, priority, queued_at, key, duration, cost, deadline) in enumerate(rows)
    ]


@st.composite
def policies(draw: st.DrawFn, *, budget: bool = True) -> BatchPolicy:
    max_batch_size = draw(st.integers(min_value=1, max_value=16))
    return BatchPolicy(
        name=draw(st.sampled_from(PolicyName)),
        fixed_size=draw(st.integers(min_value=1, max_value=max_batch_size)),
        max_wait_ms=draw(st.floats(min_value=0.0, max_value=5000.0)),
        max_batch_size=max_batch_size,
        memory_budget_bytes=draw(st.integers(min_value=1, max_value=64 * GiB)) if budget else None,
        aging_s=draw(st.floats(min_value=1.0, max_value=1000.0)),
        fairness_window_s=draw(st.floats(min_value=0.0, max_value=1000.0)),
    )


memory_models = st.builds(
    LinearMemoryModel,
    fixed_bytes=st.integers(min_value=0, max_value=16 * GiB),
    bytes_per_item_s=st.floats(min_value=1e6, max_value=1e9),
)
counters = st.dictionaries(st.sampled_from(TENANTS), st.floats(min_value=0.0, max_value=1e6))
times = st.floats(min_value=0.0, max_value=2000.0)


@settings(max_examples=200, deadline=None)
@given(queues(), policies(), memory_models, counters, times)
def test_no_admitted_batch_exceeds_the_memory_budget(
    queue: list[Candidate],
    policy: BatchPolicy,
    memory: LinearMemoryModel,
    fairness: dict[str, float],
    now_s: float,
) -> None:
    plan = plan_batch(queue, now_s=now_s, policy=policy, fairness=fairness, memory_model=memory)
    budget = policy.memory_budget_bytes
    assert budget is not None
    by_id = {c.job_id: c for c in queue}
    live = [c for c in queue if not c.expired(now_s)]
    runnable = [c for c in live if memory.bytes_for(1, c.duration_s) <= budget]
    batch = [by_id[job_id] for job_id in plan.job_ids]

    assert set(plan.unfit) == {c.job_id for c in live} - {c.job_id for c in runnable}
    assert len(set(plan.job_ids)) == len(batch) <= policy.target_size
    assert all(c in live for c in batch)
    if batch:
        assert memory.bytes_for(len(batch), max(c.duration_s for c in batch)) <= budget
        assert len({c.batch_key for c in batch}) == 1
        # The head is from the highest class waiting.
        head = batch[0]
        assert effective_rank(head.priority, now_s - head.queued_at_s, policy.aging_s) == min(
            effective_rank(c.priority, now_s - c.queued_at_s, policy.aging_s) for c in runnable
        )
        assert set(plan.charge) == {c.tenant for c in batch}
        for tenant, charge in plan.charge.items():
            spent_s = sum(c.cost_s for c in batch if c.tenant == tenant)
            assert abs(charge.add_s - spent_s) <= 1e-9 * max(1.0, spent_s)
            assert charge.applied_to(fairness.get(tenant, 0.0)) >= fairness.get(tenant, 0.0)
        assert plan.wait_until_s is None
    elif runnable:
        assert plan.reason is PlanReason.WAITING
        assert plan.wait_until_s is not None and plan.wait_until_s > now_s
    else:
        assert (plan.reason, plan.wait_until_s, plan.charge) == (PlanReason.EMPTY, None, {})


@settings(max_examples=100, deadline=None)
@given(queues(), policies(), memory_models, counters, times, st.randoms(use_true_random=False))
def test_plans_do_not_depend_on_the_order_of_candidates(
    queue: list[Candidate],
    policy: BatchPolicy,
    memory: LinearMemoryModel,
    fairness: dict[str, float],
    now_s: float,
    rng: random.Random,
) -> None:
    shuffled = list(queue)
    rng.shuffle(shuffled)
    plans = [
        plan_batch(q, now_s=now_s, policy=policy, fairness=fairness, memory_model=memory)
        for q in (queue, shuffled)
    ]
    assert plans[0] == plans[1]


@settings(max_examples=100, deadline=None)
@given(queues(), policies(budget=False), counters, times)
def test_draining_runs_every_job_exactly_once(
    queue: list[Candidate], policy: BatchPolicy, fairness: dict[str, float], now_s: float
) -> None:
    queue = [c for c in queue if c.deadline_s is None]
    plans = drain(queue, policy=policy, now_s=now_s, fairness=fairness)
    ran = [job_id for plan in plans for job_id in plan.job_ids]
    assert sorted(ran) == sorted(c.job_id for c in queue)
    assert all(0 < len(plan.job_ids) <= policy.target_size for plan in plans)
