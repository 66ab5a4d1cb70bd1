"""The simulator, and hours of traffic through the policy on an injected clock."""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict

import pytest

from foleyserve.engines.base import LinearMemoryModel
from foleyserve.jobs.model import Priority
from foleyserve.scheduling.policy import BatchPolicy, PolicyName
from foleyserve.scheduling.simulate import Arrival, SimResult, simulate

GiB = 1 << 30


def per_job(n: int, longest_s: float) -> float:
    """One second per job, however long."""
    return float(n)


def test_a_lone_job_runs_at_once_without_batching() -> None:
    result = simulate(
        [Arrival("j1", at_s=5.0, duration_s=8.0)],
        BatchPolicy(PolicyName.NONE),
        workers=1,
        service_time_s=lambda n, longest_s: longest_s / 2,
    )
    run = result.jobs["j1"]
    assert (run.started_s, run.finished_s, run.queue_wait_s) == (5.0, 9.0, 0.0)
    assert result.batch_sizes == [1]
    assert result.plans == 1


def test_dynamic_waits_max_wait_for_company_then_runs_alone() -> None:
    policy = BatchPolicy(PolicyName.DYNAMIC, max_wait_ms=50.0)
    result = simulate(
        [Arrival("j1", at_s=5.0, duration_s=8.0)], policy, workers=1, service_time_s=per_job
    )
    assert result.jobs["j1"].started_s == pytest.approx(5.05)
    assert result.batches[0].reason == "max_wait"


def test_dynamic_batches_jobs_that_arrive_within_max_wait() -> None:
    policy = BatchPolicy(PolicyName.DYNAMIC, max_wait_ms=50.0, max_batch_size=3)
    arrivals = [Arrival(f"j{i}", at_s=1.0 + i * 0.01, duration_s=4.0) for i in range(5)]
    result = simulate(arrivals, policy, workers=1, service_time_s=per_job)
    assert result.batch_sizes == [3, 2]
    assert result.batches[0].started_s == pytest.approx(1.02)  # full: no need to wait longer
    assert result.batches[0].reason == "full"
    assert result.batches[1].started_s == pytest.approx(4.02)  # the worker was busy until then


def test_fixed_waits_for_its_size_then_times_out() -> None:
    policy = BatchPolicy(PolicyName.FIXED, fixed_size=2, max_wait_ms=500.0)
    arrivals = [
        Arrival("a", at_s=0.0, duration_s=4.0),
        Arrival("b", at_s=0.2, duration_s=4.0),
        Arrival("c", at_s=10.0, duration_s=4.0),
    ]
    result = simulate(arrivals, policy, workers=1, service_time_s=per_job)
    assert [(b.job_ids, b.started_s, b.reason) for b in result.batches] == [
        (("a", "b"), 0.2, "full"),
        (("c",), 10.5, "fixed_timeout"),
    ]


def test_workers_run_batches_side_by_side() -> None:
    arrivals = [Arrival(f"j{i}", at_s=0.0, duration_s=4.0) for i in range(4)]
    result = simulate(arrivals, BatchPolicy(PolicyName.NONE), workers=2, service_time_s=per_job)
    assert sorted((r.started_s, r.finished_s) for r in result.jobs.values()) == [
        (0.0, 1.0), (0.0, 1.0), (1.0, 2.0), (1.0, 2.0)
    ]  # fmt: skip
    assert {b.worker for b in result.batches} == {0, 1}


def test_deadlines_unfit_jobs_and_the_horizon() -> None:
    policy = BatchPolicy(PolicyName.NONE, memory_budget_bytes=10 * GiB)
    memory = LinearMemoryModel(fixed_bytes=4 * GiB, bytes_per_item_s=GiB / 10)
    arrivals = [
        Arrival("first", at_s=0.0, duration_s=10.0),
        Arrival("impatient", at_s=0.5, duration_s=10.0, deadline_s=0.9),
        Arrival("huge", at_s=1.0, duration_s=100.0),
        Arrival("later", at_s=1.5, duration_s=10.0),
        Arrival("after", at_s=50.0, duration_s=10.0),
    ]
    result = simulate(
        arrivals, policy, workers=1, service_time_s=per_job, memory_model=memory, until_s=1.5
    )
    assert set(result.jobs) == {"first", "later"}
    assert (result.expired, result.unfit, result.unstarted) == (("impatient",), ("huge",), ())

    busy = simulate(
        arrivals,
        policy,
        workers=1,
        service_time_s=lambda n, longest_s: 10.0,
        memory_model=memory,
        until_s=5.0,
    )
    assert set(busy.jobs) == {"first"}
    assert busy.expired == ("impatient",)
    assert busy.unstarted == ("huge", "later")  # "after" came after the horizon


def test_simulations_are_deterministic() -> None:
    arrivals = _traffic(random.Random(7), hours=0.5)
    runs = [
        simulate(arrivals, BatchPolicy(), workers=2, service_time_s=_service_time_s)
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="workers"):
        simulate([], BatchPolicy(), workers=0, service_time_s=per_job)
    with pytest.raises(ValueError, match="distinct"):
        twice = [Arrival("j", at_s=0.0, duration_s=1.0)] * 2
        simulate(twice, BatchPolicy(), workers=1, service_time_s=per_job)


@pytest.mark.parametrize("name", list(PolicyName))
def test_a_new_tenant_runs_in_the_next_batch_behind_a_flood(name: PolicyName) -> None:
    policy = BatchPolicy(name, fixed_size=4, max_batch_size=8)
    arrivals = [Arrival(f"a{i}", at_s=i / 1000, duration_s=8.0, tenant="a") for i in range(1000)]
    arrivals.append(Arrival("b", at_s=100.5, duration_s=8.0, tenant="b"))
    result = simulate(arrivals, policy, workers=2, service_time_s=lambda n, d: 10.0, until_s=200.0)
    first_after = min(b.started_s for b in result.batches if b.started_s >= 100.5)
    assert result.jobs["b"].started_s == first_after


# -- hours of traffic ----------------------------------------------------------------------------

MEMORY = LinearMemoryModel(fixed_bytes=8 * GiB, bytes_per_item_s=GiB / 4)
BUDGET = 40 * GiB
"""8 GiB of weights, 1 GiB per 4 s of audio in the batch: 128 job-seconds fit (12 x 10 s)."""
TENANTS = {"studio": 0.4, "app": 0.25, "agency": 0.15, "indie": 0.1, "bot": 0.05, "tiny": 0.05}


def _service_time_s(n: int, longest_s: float) -> float:
    """A fixed overhead, then time that grows with the audio in the batch, less per job in a
    bigger batch."""
    return 0.5 + 0.1 * longest_s * (1 + 0.3 * (n - 1))


def _traffic(rng: random.Random, *, hours: float) -> list[Arrival]:
    """Poisson arrivals, 0.25 jobs/s, with half an hour at 1.1 jobs/s after the first hour
    (close to what two GPUs serve one job at a time); mixed tenants, priorities, steps and
    durations (a few too long for the GPU), some with deadlines."""
    arrivals: list[Arrival] = []
    t = 0.0
    while True:
        t += rng.expovariate(1.1 if 3600 <= t < 5400 else 0.25)
        if t > hours * 3600:
            return arrivals
        duration_s = rng.choice([4.0, 8.0, 8.0, 10.0, 10.0, 10.0, 15.0, 30.0])
        if rng.random() < 0.01:
            duration_s = 600.0
        steps = rng.choice([25, 50, 50])
        arrivals.append(
            Arrival(
                job_id=f"j{len(arrivals)}",
                at_s=t,
                duration_s=duration_s,
                tenant=rng.choices(list(TENANTS), weights=list(TENANTS.values()))[0],
                priority=rng.choices(list(Priority), weights=[1, 7, 2])[0],
                batch_key=(steps, duration_s),
                deadline_s=t + 30.0 if rng.random() < 0.05 else None,
            )
        )


POLICIES = [
    BatchPolicy(PolicyName.NONE, memory_budget_bytes=BUDGET),
    BatchPolicy(PolicyName.FIXED, fixed_size=4, max_wait_ms=200.0, memory_budget_bytes=BUDGET),
    BatchPolicy(PolicyName.DYNAMIC, max_batch_size=16, memory_budget_bytes=BUDGET),
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: str(p.name))
def test_hours_of_traffic(policy: BatchPolicy) -> None:
    arrivals = _traffic(random.Random(2024), hours=3)
    result = simulate(
        arrivals, policy, workers=2, service_time_s=_service_time_s, memory_model=MEMORY
    )
    by_id = {a.job_id: a for a in arrivals}

    # Every job has exactly one outcome: ran once, expired, or refused as too big.
    ran = [job_id for batch in result.batches for job_id in batch.job_ids]
    assert len(ran) == len(set(ran)) == len(result.jobs)
    outcomes = [set(ran), set(result.expired), set(result.unfit)]
    assert sum(map(len, outcomes)) == len(set.union(*outcomes)) == len(arrivals)
    assert result.unstarted == ()
    assert set(result.unfit) == {a.job_id for a in arrivals if a.duration_s == 600.0}
    assert all(by_id[job_id].deadline_s is not None for job_id in result.expired)

    _assert_batches_are_sound(result, policy, by_id)
    waits = [run.queue_wait_s for run in result.jobs.values()]
    assert max(waits) < 2 * policy.aging_s  # nobody waits forever, even through the burst
    if policy.name is not PolicyName.NONE:
        assert sum(waits) / len(waits) < 1.0
        assert max(result.batch_sizes) > 2  # the burst is served in batches


def _assert_batches_are_sound(
    result: SimResult, policy: BatchPolicy, by_id: dict[str, Arrival]
) -> None:
    busy: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    for index, batch in enumerate(result.batches):
        jobs = [by_id[job_id] for job_id in batch.job_ids]
        assert 1 <= len(jobs) <= policy.target_size
        assert len({j.batch_key for j in jobs}) == 1
        assert MEMORY.bytes_for(len(jobs), batch.longest_s) <= BUDGET
        assert batch.longest_s == max(j.duration_s for j in jobs)
        assert all(j.at_s <= batch.started_s for j in jobs)
        assert all(j.deadline_s is None or batch.started_s < j.deadline_s for j in jobs)
        assert all(result.jobs[j.job_id].batch == index for j in jobs)
        busy[batch.worker].append((batch.started_s, batch.finished_s))
    for spans in busy.values():  # a worker runs one batch at a time
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize("name", [PolicyName.NONE, PolicyName.DYNAMIC])
def test_a_low_job_starts_under_sustained_high_priority_load(name: PolicyName) -> None:
    # Three tenants send high-priority jobs 10% faster than two GPUs serve them, for three
    # hours; one low-priority job arrives after two hours.
    policy = BatchPolicy(name, max_batch_size=8, aging_s=120.0)
    batch_s = 20.0 if name is PolicyName.NONE else 90.0
    capacity_per_s = 2 * policy.target_size / batch_s
    rng = random.Random(5)
    arrivals: list[Arrival] = []
    t = 0.0
    while t < 3 * 3600:
        t += rng.expovariate(1.1 * capacity_per_s)
        tenant = rng.choice(["h1", "h2", "h3"])
        arrivals.append(Arrival(f"h{len(arrivals)}", t, 10.0, tenant, Priority.HIGH))
    arrivals.append(Arrival("low", 2 * 3600.0, 10.0, "l", Priority.LOW))

    def service_time_s(n: int, longest_s: float) -> float:
        return batch_s if name is PolicyName.NONE else 10.0 + 10.0 * n

    result = simulate(arrivals, policy, workers=2, service_time_s=service_time_s, until_s=3 * 3600)
    assert len(result.unstarted) > 50  # the high-priority backlog only grew
    waited_s = result.jobs["low"].queue_wait_s
    assert 2 * policy.aging_s <= waited_s <= 2 * policy.aging_s + batch_s

    # Without aging it would never have started.
    no_aging = BatchPolicy(name, max_batch_size=8, aging_s=math.inf)
    result = simulate(
        arrivals, no_aging, workers=2, service_time_s=service_time_s, until_s=3 * 3600
    )
    assert "low" in result.unstarted
