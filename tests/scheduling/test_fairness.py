from __future__ import annotations

import math

import pytest

from foleyserve.jobs.model import Priority
from foleyserve.scheduling.fairness import effective_counters, effective_rank, fair_order
from foleyserve.scheduling.policy import BatchPolicy, Candidate, PolicyName, plan_batch
from foleyserve.scheduling.simulate import Arrival, simulate
from tests.scheduling.builders import cand, drain

POLICIES = {
    "none": BatchPolicy(PolicyName.NONE),
    "fixed": BatchPolicy(PolicyName.FIXED, fixed_size=4),
    "dynamic": BatchPolicy(PolicyName.DYNAMIC, max_batch_size=8),
}


def _order(jobs: list[Candidate], counters: dict[str, float], now_s: float = 0.0) -> list[str]:
    tenants = {j.tenant for j in jobs}
    effective = effective_counters(counters, tenants, window_s=300.0)
    order = fair_order(jobs, now_s=now_s, aging_s=120.0, counters=effective, stored=counters)
    return [j.job_id for j in order]


def test_effective_rank() -> None:
    assert effective_rank(Priority.LOW, 0.0, 120.0) == 2
    assert effective_rank(Priority.LOW, 119.9, 120.0) == 2
    assert effective_rank(Priority.LOW, 120.0, 120.0) == 1
    assert effective_rank(Priority.LOW, 1e9, 120.0) == 0
    assert effective_rank(Priority.HIGH, 1e9, 120.0) == 0
    assert effective_rank(Priority.NORMAL, -5.0, 120.0) == 1  # clock skew: never below 0 s


def test_counters_are_floored_at_the_window_below_the_most_served_tenant() -> None:
    counters = {"old": 1000.0, "near": 950.0, "stale": 10.0, "idle": 0.0}
    effective = effective_counters(counters, ["old", "near", "stale", "new"], window_s=300.0)
    assert effective == {"old": 1000.0, "near": 950.0, "stale": 700.0, "new": 700.0}
    # Idle tenants (not backlogged) neither count nor appear.
    assert effective_counters(counters, [], window_s=300.0) == {}


def test_the_tenant_with_the_lowest_counter_goes_first() -> None:
    jobs = [cand("a1", tenant="a", at_s=0.0), cand("b1", tenant="b", at_s=5.0)]
    assert _order(jobs, {"a": 20.0, "b": 10.0}) == ["b1", "a1"]
    assert _order(jobs, {"a": 10.0, "b": 20.0}) == ["a1", "b1"]
    # Equal counters: the tenant whose next job is older.
    assert _order(jobs, {}) == ["a1", "b1"]


def test_every_waiting_tenant_gets_a_place_before_any_gets_a_second() -> None:
    # "a" has a large credit, but "b" and "c" still get one place each before a's second job.
    jobs = [cand(f"a{i}", tenant="a", at_s=float(i)) for i in range(5)]
    jobs += [cand("b0", tenant="b", at_s=10.0), cand("c0", tenant="c", at_s=11.0)]
    assert _order(jobs, {"a": 0.0, "b": 100.0, "c": 50.0}) == [
        "a0", "c0", "b0", "a1", "a2", "a3", "a4"
    ]  # fmt: skip


def test_costs_not_job_counts_are_shared() -> None:
    jobs = [cand(f"s{i}", tenant="small", at_s=float(i), cost_s=1.0) for i in range(10)]
    jobs += [cand(f"b{i}", tenant="big", at_s=float(i), cost_s=4.0) for i in range(3)]
    order = _order(jobs, {"small": 0.0, "big": 0.0})
    # Counters equal, next jobs equally old: by name. Then four small jobs per big one.
    assert order[:11] == ["b0", "s0", "s1", "s2", "s3", "b1", "s4", "s5", "s6", "s7", "b2"]


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("a_served_s", [0.0, 5000.0])
@pytest.mark.parametrize("b_key", ["k", "other"])
def test_one_job_of_a_new_tenant_is_not_stuck_behind_a_thousand(
    name: str, a_served_s: float, b_key: str
) -> None:
    jobs = [cand(f"a{i}", tenant="a", at_s=i / 1000) for i in range(1000)]
    jobs.append(cand("b", tenant="b", at_s=2.0, key=b_key))
    fairness = {"a": a_served_s} if a_served_s else {}
    plans = drain(jobs, policy=POLICIES[name], now_s=2.0, fairness=fairness, max_plans=3)
    batch = next(i for i, p in enumerate(plans) if "b" in p.job_ids)
    if a_served_s or (b_key == "k" and name != "none"):
        assert batch == 0  # b's counter is below a's, or it shares a's batch
    else:
        assert batch == 1  # both never served, a is older: a's head first, then b


def test_a_tenant_with_a_thousand_jobs_cannot_take_a_whole_batch() -> None:
    jobs = [cand(f"a{i}", tenant="a", at_s=i / 1000) for i in range(1000)]
    jobs.append(cand("b", tenant="b", at_s=2.0))
    # Even when a has credit to spend (b is the heavier user so far).
    plan = plan_batch(jobs, now_s=2.0, policy=POLICIES["dynamic"], fairness={"b": 100.0})
    assert len(plan.job_ids) == 8
    assert "b" in plan.job_ids


def test_a_new_tenants_credit_is_bounded_by_the_window() -> None:
    policy = BatchPolicy(PolicyName.NONE, fairness_window_s=30.0, aging_s=math.inf)
    jobs = [cand(f"a{i}", tenant="a", at_s=float(i)) for i in range(100)]
    jobs += [cand(f"b{i}", tenant="b", at_s=200.0 + i) for i in range(100)]
    plans = drain(jobs, policy=policy, now_s=300.0, fairness={"a": 1e6}, max_plans=60)
    tenants = [p.job_ids[0][0] for p in plans]
    first_a = tenants.index("a")
    assert first_a == 30  # b runs window_s / cost_s jobs before a's turn comes again
    # From then on they take turns.
    assert tenants[first_a : first_a + 10] == ["a", "b"] * 5


def test_without_a_window_a_newcomer_only_wins_ties() -> None:
    policy = BatchPolicy(PolicyName.NONE, fairness_window_s=0.0)
    jobs = [cand(f"a{i}", tenant="a", at_s=float(i)) for i in range(10)]
    jobs += [cand(f"b{i}", tenant="b", at_s=20.0 + i) for i in range(10)]
    plans = drain(jobs, policy=policy, now_s=30.0, fairness={"a": 1e6}, max_plans=6)
    assert [p.job_ids[0] for p in plans] == ["b0", "a0", "b1", "a1", "b2", "a2"]


def test_a_heavy_tenants_debt_is_bounded_by_the_window() -> None:
    policy = BatchPolicy(PolicyName.NONE, fairness_window_s=30.0)
    jobs = [cand(f"a{i}", tenant="a", at_s=float(i)) for i in range(100)]
    jobs.append(cand("z", tenant="z", at_s=0.5))
    plans = drain(jobs, policy=policy, now_s=200.0, fairness={"z": 1e6}, max_plans=40)
    assert [p.job_ids for p in plans].index(("z",)) == 30


@pytest.mark.parametrize(
    ("name", "shared_key"),
    [("none", True), ("fixed", False), ("dynamic", False), ("dynamic", True)],
)
def test_two_always_backlogged_tenants_get_equal_gpu_seconds(name: str, shared_key: bool) -> None:
    # "small" sends 10 GPU-second jobs, "big" 40 GPU-second ones. Together they offer 1.5 times
    # what the GPU serves, "small" 1.5 times as much as "big" (first come, first served would
    # split 60:40), and both stay backlogged from the first minutes to the end.
    horizon_s = 2 * 3600.0
    arrivals = [
        Arrival(
            f"s{i}",
            at_s=i * 10 / 0.9,
            duration_s=5.0,
            tenant="small",
            cost_s=10.0,
            batch_key="shared" if shared_key else "small",
        )
        for i in range(int(horizon_s * 0.9 / 10))
    ]
    arrivals += [
        Arrival(
            f"b{i}",
            at_s=i * 40 / 0.6,
            duration_s=20.0,
            tenant="big",
            cost_s=40.0,
            batch_key="shared" if shared_key else "big",
        )
        for i in range(int(horizon_s * 0.6 / 40))
    ]
    result = simulate(
        arrivals,
        POLICIES[name],
        workers=1,
        # A batch costs what its jobs would alone, less 20% for each job beyond the first.
        service_time_s=lambda n, longest_s: 2 * longest_s * (1 + 0.8 * (n - 1)),
        until_s=horizon_s,
    )
    served = {"small": 0.0, "big": 0.0}
    for run in result.jobs.values():
        if run.started_s >= 600.0:
            served[run.tenant] += 10.0 if run.tenant == "small" else 40.0
    assert {job_id[0] for job_id in result.unstarted} == {"s", "b"}  # both still backlogged
    assert served["small"] == pytest.approx(served["big"], rel=0.05)
