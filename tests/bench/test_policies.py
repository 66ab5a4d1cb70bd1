"""What the policy command feeds the simulator: recorded arrivals, and the servers' policy."""

from __future__ import annotations

import pytest

from foleyserve.bench.report import Outcome
from foleyserve.bench.workload import PlannedJob
from foleyserve.cli.bench_policies import as_arrived, policy_of
from foleyserve.jobs.model import Priority
from foleyserve.scheduling.policy import PolicyName
from foleyserve.settings import Settings


def test_the_simulator_replays_arrivals_as_the_server_recorded_them() -> None:
    jobs = [PlannedJob(0.0, 2.0, "a"), PlannedJob(1.0, 4.0, "b"), PlannedJob(2.0, 2.0, "c")]
    outcomes = [
        Outcome(Priority.NORMAL, "t", 2.0, "succeeded", created_s=1000.5),
        Outcome(Priority.NORMAL, "t", 4.0, "rejected", "rate_limited"),  # never recorded
        Outcome(Priority.NORMAL, "t", 2.0, "succeeded", created_s=1000.2),  # overtook a
    ]
    arrived = as_arrived(jobs, outcomes)
    assert [(j.prompt, j.at_s) for j in arrived] == [
        ("c", 0.0),
        ("a", pytest.approx(0.3)),
        ("b", 1.0),
    ]


def test_the_predicted_policy_is_the_one_the_servers_settings_make() -> None:
    settings = Settings(fixed_batch_size=3, max_batch_wait_ms=20.0, max_batch_size=8)
    fixed = policy_of("fixed", settings)
    assert (fixed.name, fixed.fixed_size, fixed.max_wait_ms, fixed.max_batch_size) == (
        PolicyName.FIXED,
        3,
        20.0,
        8,
    )
    assert policy_of("none", settings).target_size == 1
