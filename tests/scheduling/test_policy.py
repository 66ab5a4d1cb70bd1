from __future__ import annotations

import math

import pytest

from foleyserve.engines.base import LinearMemoryModel
from foleyserve.jobs.model import Charge, Priority
from foleyserve.scheduling.policy import (
    BatchPolicy,
    Plan,
    PlanReason,
    PolicyName,
    plan_batch,
)
from tests.scheduling.builders import cand, drain, order_of

NONE = BatchPolicy(PolicyName.NONE)
FIXED3 = BatchPolicy(PolicyName.FIXED, fixed_size=3, max_wait_ms=100.0)
DYNAMIC4 = BatchPolicy(PolicyName.DYNAMIC, max_batch_size=4, max_wait_ms=50.0)


def test_an_empty_queue_plans_nothing_and_waits_for_arrivals() -> None:
    for policy in (NONE, FIXED3, DYNAMIC4):
        assert plan_batch([], now_s=5.0, policy=policy, fairness={}) == Plan(
            (), None, {}, PlanReason.EMPTY
        )


def test_none_runs_the_oldest_job_alone() -> None:
    jobs = [cand("j2", at_s=2.0), cand("j1", at_s=1.0), cand("j3", at_s=3.0)]
    plan = plan_batch(jobs, now_s=3.0, policy=NONE, fairness={})
    assert plan == Plan(("j1",), None, {"a": Charge(0.0, 1.0)}, PlanReason.SINGLE)


def test_fixed_waits_for_a_full_batch_then_times_out() -> None:
    jobs = [cand("j1", at_s=10.0), cand("j2", at_s=10.02)]
    waiting = plan_batch(jobs, now_s=10.03, policy=FIXED3, fairness={})
    assert (waiting.job_ids, waiting.charge, waiting.reason) == ((), {}, PlanReason.WAITING)
    assert waiting.wait_until_s == pytest.approx(10.1)  # the head's arrival + max_wait

    timed_out = plan_batch(jobs, now_s=10.1, policy=FIXED3, fairness={})
    assert timed_out.job_ids == ("j1", "j2")
    assert timed_out.reason is PlanReason.FIXED_TIMEOUT


def test_fixed_takes_exactly_fixed_size_as_soon_as_it_can() -> None:
    jobs = [cand(f"j{i}", at_s=10.0 + i / 1000) for i in range(5)]
    for now_s in (10.004, 99.0):  # before and after the timeout
        plan = plan_batch(jobs, now_s=now_s, policy=FIXED3, fairness={})
        assert plan.job_ids == ("j0", "j1", "j2")
        assert plan.reason is PlanReason.FULL


def test_fixed_counts_only_jobs_of_the_heads_key() -> None:
    jobs = [cand("x1", at_s=0.0, key="x"), cand("y1", at_s=0.01, key="y")]
    jobs += [cand("y2", at_s=0.02, key="y"), cand("x2", at_s=0.03, key="x")]
    assert plan_batch(jobs, now_s=0.03, policy=FIXED3, fairness={}).job_ids == ()
    assert plan_batch(jobs, now_s=0.1, policy=FIXED3, fairness={}).job_ids == ("x1", "x2")


def test_dynamic_waits_max_wait_when_not_full() -> None:
    jobs = [cand("j1", at_s=1.0), cand("j2", at_s=1.03)]
    waiting = plan_batch(jobs, now_s=1.03, policy=DYNAMIC4, fairness={})
    # Every compatible job fits, and still it waits: more may come within max_wait.
    assert waiting.job_ids == ()
    assert waiting.wait_until_s == pytest.approx(1.05)  # counted from the head's arrival
    assert waiting.reason is PlanReason.WAITING

    ran = plan_batch(jobs, now_s=1.05, policy=DYNAMIC4, fairness={})
    assert ran.job_ids == ("j1", "j2")
    assert ran.reason is PlanReason.MAX_WAIT


def test_dynamic_runs_a_full_batch_at_once() -> None:
    jobs = [cand(f"j{i}", at_s=1.0) for i in range(6)]
    plan = plan_batch(jobs, now_s=1.0, policy=DYNAMIC4, fairness={})
    assert plan.job_ids == ("j0", "j1", "j2", "j3")
    assert plan.reason is PlanReason.FULL


def test_dynamic_does_not_wait_for_a_head_that_already_waited() -> None:
    jobs = [cand("old", at_s=0.0), cand("new", at_s=9.99)]
    plan = plan_batch(jobs, now_s=10.0, policy=DYNAMIC4, fairness={})
    assert plan.job_ids == ("old", "new")
    assert plan.reason is PlanReason.MAX_WAIT


def test_zero_max_wait_never_waits() -> None:
    policy = BatchPolicy(PolicyName.DYNAMIC, max_wait_ms=0.0)
    plan = plan_batch([cand("j1", at_s=3.0)], now_s=3.0, policy=policy, fairness={})
    assert plan.job_ids == ("j1",)


def test_a_batch_holds_only_the_heads_key() -> None:
    jobs = [cand("x1", at_s=0.0, key=("x", 50)), cand("y1", at_s=0.1, key=("y", 50))]
    jobs += [cand("x2", at_s=0.2, key=("x", 50))]
    plan = plan_batch(jobs, now_s=10.0, policy=DYNAMIC4, fairness={})
    assert plan.job_ids == ("x1", "x2")


def test_fifo_within_a_tenant_and_priority() -> None:
    jobs = [cand(f"j{i}", at_s=float(i)) for i in (5, 3, 9, 0, 7)]
    assert order_of(drain(jobs, policy=NONE, now_s=10.0)) == ["j0", "j3", "j5", "j7", "j9"]


def test_high_before_normal_before_low() -> None:
    jobs = [
        cand("low", priority=Priority.LOW, at_s=0.0),
        cand("normal", priority=Priority.NORMAL, at_s=1.0),
        cand("high", priority=Priority.HIGH, at_s=2.0),
    ]
    assert order_of(drain(jobs, policy=NONE, now_s=3.0)) == ["high", "normal", "low"]


def test_a_dynamic_batch_takes_higher_priorities_first() -> None:
    jobs = [cand(f"n{i}", at_s=float(i)) for i in range(4)]
    jobs += [cand(f"h{i}", priority=Priority.HIGH, at_s=10.0 + i) for i in range(2)]
    plan = plan_batch(jobs, now_s=20.0, policy=DYNAMIC4, fairness={})
    assert plan.job_ids == ("h0", "h1", "n0", "n1")


@pytest.mark.parametrize(
    ("waited_s", "expected"),
    [
        (0.0, ["high", "low"]),
        (119.0, ["high", "low"]),
        (120.0, ["high", "low"]),  # low is now normal: still after high
        (240.0, ["low", "high"]),  # low is now high, and older
    ],
)
def test_aging_moves_a_job_up_one_class_per_aging_s(waited_s: float, expected: list[str]) -> None:
    now_s = 1000.0
    jobs = [
        cand("low", priority=Priority.LOW, at_s=now_s - waited_s),
        cand("high", priority=Priority.HIGH, at_s=now_s - 1.0),
    ]
    assert order_of(drain(jobs, policy=NONE, now_s=now_s)) == expected


def test_aging_s_infinite_disables_aging() -> None:
    policy = BatchPolicy(PolicyName.NONE, aging_s=math.inf)
    jobs = [
        cand("low", priority=Priority.LOW, at_s=0.0),
        cand("high", priority=Priority.HIGH, at_s=1e6),
    ]
    assert order_of(drain(jobs, policy=policy, now_s=1e6)) == ["high", "low"]


def test_expired_jobs_are_skipped() -> None:
    jobs = [cand("late", at_s=0.0, deadline_s=5.0), cand("ok", at_s=1.0, deadline_s=50.0)]
    plan = plan_batch(jobs, now_s=5.0, policy=NONE, fairness={})
    assert plan.job_ids == ("ok",)
    assert plan_batch(jobs, now_s=50.0, policy=NONE, fairness={}).reason is PlanReason.EMPTY


def test_a_batch_does_not_wait_past_a_deadline() -> None:
    jobs = [cand("j1", at_s=1.0), cand("j2", at_s=1.01, deadline_s=1.04)]
    plan = plan_batch(jobs, now_s=1.01, policy=DYNAMIC4, fairness={})
    assert plan.job_ids == ("j1", "j2")
    assert plan.reason is PlanReason.DEADLINE

    later = [cand("j1", at_s=1.0), cand("j2", at_s=1.01, deadline_s=1.06)]
    assert plan_batch(later, now_s=1.01, policy=DYNAMIC4, fairness={}).job_ids == ()


GiB = 1 << 30
MEMORY = LinearMemoryModel(fixed_bytes=4 * GiB, bytes_per_item_s=GiB / 10)
"""4 GiB of weights plus 1 GiB per 10 s of audio in the batch."""


def test_a_job_too_big_alone_is_unfit_and_the_rest_still_run() -> None:
    policy = BatchPolicy(PolicyName.DYNAMIC, memory_budget_bytes=10 * GiB, max_wait_ms=0.0)
    jobs = [cand("huge", at_s=0.0, duration_s=61.0), cand("small", at_s=1.0, duration_s=10.0)]
    plan = plan_batch(jobs, now_s=1.0, policy=policy, fairness={}, memory_model=MEMORY)
    assert plan.unfit == ("huge",)
    assert plan.job_ids == ("small",)

    only_huge = plan_batch(jobs[:1], now_s=1.0, policy=policy, fairness={}, memory_model=MEMORY)
    assert only_huge == Plan((), None, {}, PlanReason.EMPTY, unfit=("huge",))


def test_memory_caps_the_batch_and_it_runs_without_waiting() -> None:
    policy = BatchPolicy(PolicyName.DYNAMIC, memory_budget_bytes=10 * GiB, max_wait_ms=1e6)
    jobs = [cand(f"j{i}", at_s=float(i), duration_s=20.0) for i in range(5)]
    plan = plan_batch(jobs, now_s=5.0, policy=policy, fairness={}, memory_model=MEMORY)
    assert plan.job_ids == ("j0", "j1", "j2")  # 4 + 3 x 2 GiB = 10 GiB; a fourth would not fit
    assert plan.reason is PlanReason.MEMORY
    assert MEMORY.bytes_for(3, 20.0) <= 10 * GiB < MEMORY.bytes_for(4, 20.0)


def test_a_long_job_that_does_not_fit_lets_shorter_ones_join() -> None:
    policy = BatchPolicy(PolicyName.DYNAMIC, memory_budget_bytes=10 * GiB, max_wait_ms=0.0)
    jobs = [
        cand("head", at_s=0.0, duration_s=20.0),
        cand("long", at_s=1.0, duration_s=50.0),
        cand("short", at_s=2.0, duration_s=10.0),
    ]
    plan = plan_batch(jobs, now_s=3.0, policy=policy, fairness={}, memory_model=MEMORY)
    assert plan.job_ids == ("head", "short")  # 4 + 2 x 2 GiB; with "long": 4 + 2 x 5 GiB


def test_charge_adds_costs_to_each_tenants_counter() -> None:
    jobs = [
        cand("a1", tenant="a", cost_s=2.0),
        cand("b1", tenant="b", cost_s=5.0),
        cand("a2", tenant="a", cost_s=3.0),
    ]
    plan = plan_batch(jobs, now_s=1.0, policy=DYNAMIC4, fairness={"a": 100.0, "b": 90.0})
    assert sorted(plan.job_ids) == ["a1", "a2", "b1"]
    assert plan.charge == {"a": Charge(100.0, 5.0), "b": Charge(90.0, 5.0)}
    assert plan.charge["a"].applied_to(100.0) == 105.0


def test_a_budget_without_a_memory_model_is_refused() -> None:
    policy = BatchPolicy(memory_budget_bytes=GiB)
    with pytest.raises(ValueError, match="memory_model"):
        plan_batch([cand("j1")], now_s=0.0, policy=policy, fairness={})


def test_duplicate_job_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="distinct"):
        plan_batch([cand("j1"), cand("j1")], now_s=0.0, policy=NONE, fairness={})


def test_negative_cost_is_refused() -> None:
    with pytest.raises(ValueError, match="cost_s"):
        cand("j1", cost_s=-1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fixed_size": 0},
        {"fixed_size": 17, "max_batch_size": 16},
        {"max_batch_size": 0},
        {"max_wait_ms": -1.0},
        {"max_wait_ms": math.nan},
        {"memory_budget_bytes": 0},
        {"aging_s": 0.0},
        {"aging_s": math.nan},
        {"fairness_window_s": -1.0},
    ],
)
def test_unusable_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BatchPolicy(**kwargs)  # type: ignore[arg-type]


def test_target_sizes() -> None:
    assert BatchPolicy(PolicyName.NONE).target_size == 1
    assert BatchPolicy(PolicyName.FIXED, fixed_size=4).target_size == 4
    assert BatchPolicy(PolicyName.DYNAMIC, max_batch_size=8).target_size == 8
