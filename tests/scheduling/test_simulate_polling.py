"""The simulator's worker poll interval and per-job batch pricing, against hand-computed runs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from foleyserve.scheduling.policy import BatchPolicy, PolicyName
from foleyserve.scheduling.simulate import Arrival, simulate


def one_s(n: int, longest_s: float) -> float:
    return 1.0


def test_a_polling_worker_looks_again_at_once_after_a_batch() -> None:
    # warm runs 0..1; a (queued at 0.5) starts when warm ends, not on a poll tick; b likewise.
    result = simulate(
        [
            Arrival("warm", at_s=0.0, duration_s=1.0),
            Arrival("a", at_s=0.5, duration_s=1.0),
            Arrival("b", at_s=1.0, duration_s=1.0),
        ],
        BatchPolicy(PolicyName.NONE),
        workers=1,
        service_time_s=one_s,
        poll_interval_s=0.2,
    )
    assert result.jobs["warm"].started_s == 0.0
    assert result.jobs["a"].started_s == pytest.approx(1.0)
    assert result.jobs["b"].started_s == pytest.approx(2.0)


def test_the_poll_tick_counts_from_when_the_worker_went_idle() -> None:
    result = simulate(
        [Arrival("a", at_s=0.0, duration_s=1.0), Arrival("b", at_s=1.5, duration_s=1.0)],
        BatchPolicy(PolicyName.NONE),
        workers=1,
        service_time_s=one_s,
        poll_interval_s=0.2,
    )
    # a runs 0..1; idle from 1.0, ticks at 1.2, 1.4, 1.6: b (queued at 1.5) starts at 1.6.
    assert result.jobs["b"].started_s == pytest.approx(1.6)
    assert result.jobs["b"].queue_wait_s == pytest.approx(0.1)
    # Without polling the arrival is seen at once.
    instant = simulate(
        [Arrival("a", at_s=0.0, duration_s=1.0), Arrival("b", at_s=1.5, duration_s=1.0)],
        BatchPolicy(PolicyName.NONE),
        workers=1,
        service_time_s=one_s,
    )
    assert instant.jobs["b"].started_s == 1.5


def test_a_forming_batch_wakes_the_polling_worker_at_its_max_wait() -> None:
    policy = BatchPolicy(PolicyName.DYNAMIC, max_wait_ms=50.0, max_batch_size=4)
    result = simulate(
        [Arrival("a", at_s=0.0, duration_s=1.0), Arrival("b", at_s=0.01, duration_s=1.0)],
        policy,
        workers=1,
        service_time_s=one_s,
        poll_interval_s=0.2,
    )
    # At 0 the plan waits until 0.05 (sooner than the 0.2 tick): both run together then.
    assert result.jobs["a"].started_s == pytest.approx(0.05)
    assert result.batch_sizes == [2]


def test_batch_time_prices_each_job_at_its_own_length() -> None:
    def per_second(durations_s: Sequence[float]) -> float:
        return sum(durations_s)

    result = simulate(
        [Arrival("a", at_s=0.0, duration_s=2.0), Arrival("b", at_s=0.0, duration_s=6.0)],
        BatchPolicy(PolicyName.DYNAMIC, max_wait_ms=0.0),
        workers=1,
        service_time_s=lambda n, longest_s: n * longest_s,  # padded: would be 12
        batch_time_s=per_second,
    )
    assert result.batches[0].finished_s == 8.0


def test_two_polling_workers_share_arrivals_and_the_run_ends() -> None:
    # j0 takes w0 at 0; w1 sleeps until its first tick after 0.5 (0.6) and takes j1 there;
    # from then on each worker finishes just in time for, or 0.1 s after, the next arrival.
    arrivals = [Arrival(f"j{i}", at_s=i * 0.5, duration_s=1.0) for i in range(10)]
    result = simulate(
        arrivals,
        BatchPolicy(PolicyName.NONE),
        workers=2,
        service_time_s=one_s,
        poll_interval_s=0.2,
    )
    assert len(result.jobs) == 10 and not result.unstarted
    assert {b.worker for b in result.batches} == {0, 1}
    waits = [result.jobs[f"j{i}"].queue_wait_s for i in range(10)]
    assert waits == pytest.approx([0.0, 0.1] * 5)


def test_a_bad_poll_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        simulate([], BatchPolicy(), workers=1, service_time_s=one_s, poll_interval_s=0.0)
