"""Rate limits: the pure GCRA decision driven through simulated hours, then both limiters
through one behavioural suite (Redis on its own clock: decisions asserted, never durations),
then the headers and `check`'s errors."""

from __future__ import annotations

import itertools
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import uuid4

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from foleyserve.api.ratelimit import (
    SLACK_S,
    Decision,
    MemoryRateLimiter,
    Rate,
    RateLimiter,
    RedisRateLimiter,
    check,
    describe,
    gcra,
    rate_limit_headers,
)
from foleyserve.errors import InvalidInput, RateLimited, StorageError
from foleyserve.store.redis_keys import RATELIMIT

T0_S = 1_000_000.0
"""Simulations start here, not at 0, so float rounding at realistic clock values is exercised."""

HAIR_S = 1e-4
"""'A hair before' a call's time: well above `SLACK_S` and any float error of these clocks."""


class Bucket:
    """One key's TAT, driven through `gcra` on a simulated clock."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.tat_s: float | None = None

    def hit(self, now_s: float, cost: float = 1.0) -> Decision:
        decision, tat_s = gcra(self.tat_s, now_s, self.rate, cost)
        assert decision.allowed == (tat_s is not None)
        if tat_s is not None:
            self.tat_s = tat_s
        return decision


# -- the pure decision -------------------------------------------------------------------------


def test_a_fresh_bucket_allows_the_burst_at_once_then_refuses() -> None:
    bucket = Bucket(Rate(per_s=2.0, burst=3.0))
    decisions = [bucket.hit(T0_S) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2.0, 1.0, 0.0, 0.0]
    assert [d.reset_after_s for d in decisions] == [0.5, 1.0, 1.5, 1.5]
    assert [d.retry_after_s for d in decisions] == [0.0, 0.0, 0.0, 0.5]
    assert {d.limit for d in decisions} == {3.0}


def test_the_bucket_refills_at_the_rate() -> None:
    bucket = Bucket(Rate(per_s=2.0, burst=3.0))
    for _ in range(3):
        bucket.hit(T0_S)
    assert bucket.hit(T0_S + 0.5).allowed
    assert not bucket.hit(T0_S + 0.5).allowed
    later = bucket.hit(T0_S + 10.0)
    assert later.allowed
    assert later.remaining == 2.0


@pytest.mark.parametrize(
    ("per_s", "burst", "duration_s"),
    [(2.0, 5.0, 3 * 3600.0), (0.1, 2.0, 3 * 3600.0), (37.0, 100.0, 900.0)],
)
def test_a_greedy_client_gets_exactly_the_rate_over_hours(
    per_s: float, burst: float, duration_s: float
) -> None:
    rng = random.Random(7)
    bucket = Bucket(Rate(per_s=per_s, burst=burst))
    now_s, allowed = T0_S, 0
    while now_s < T0_S + duration_s:
        allowed += bucket.hit(now_s).allowed
        # Ten times faster than the rate: the TAT stays ahead of the clock, each admission
        # pushes it on from itself, and the jitter of arrivals costs nothing. (With a burst of
        # 1 it would: a call that comes late then starts the TAT from its own time.)
        now_s += rng.expovariate(10 * per_s)
    ceiling = burst + per_s * duration_s
    assert math.floor(ceiling) - 1 <= allowed <= ceiling


def test_a_client_that_waits_out_retry_after_loses_nothing_over_hours() -> None:
    rng = random.Random(11)
    rate = Rate(per_s=3.0, burst=10.0)
    bucket = Bucket(rate)
    now_s, spent = T0_S, 0.0
    end_s = T0_S + 2 * 3600.0
    while now_s < end_s:
        cost = rng.choice([0.5, 1.0, 2.5, 7.0])
        decision = bucket.hit(now_s, cost)
        if decision.allowed:
            spent += cost
        else:
            now_s += decision.retry_after_s
            assert bucket.hit(now_s, cost).allowed
            spent += cost
    assert bucket.tat_s is not None
    # The bucket never filled up again, so every unit pushed the TAT on by exactly 1 / per_s...
    assert spent == pytest.approx(rate.per_s * (bucket.tat_s - T0_S))
    # ...and the client ends having spent the burst plus the rate times the time, to the bit.
    assert spent == pytest.approx(rate.burst + rate.per_s * (now_s - T0_S))


def test_refused_calls_consume_nothing() -> None:
    bucket = Bucket(Rate(per_s=1.0, burst=2.0))
    bucket.hit(T0_S)
    bucket.hit(T0_S)
    tat_s = bucket.tat_s
    for step in range(1, 100):
        decision = bucket.hit(T0_S + step * 0.00999)
        assert not decision.allowed
        assert decision.retry_after_s == pytest.approx(1.0 - step * 0.00999)
    assert bucket.tat_s == tat_s
    assert bucket.hit(T0_S + 1.0).allowed


def test_costs_above_one_are_charged_in_full() -> None:
    bucket = Bucket(Rate(per_s=1.0, burst=10.0))
    assert bucket.hit(T0_S, 4.0).allowed
    assert bucket.hit(T0_S, 4.0).allowed
    refused = bucket.hit(T0_S, 4.0)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(2.0)
    assert refused.remaining == pytest.approx(2.0)
    assert bucket.hit(T0_S, 2.0).allowed
    assert bucket.hit(T0_S + 4.0, 4.0).allowed


def test_a_cost_over_the_burst_is_never_allowed_and_changes_nothing() -> None:
    rate = Rate(per_s=1.0, burst=10.0)
    for tat_s in (None, T0_S - 1e6, T0_S + 5.0):
        decision, new_tat_s = gcra(tat_s, T0_S, rate, 10.5)
        assert not decision.allowed
        assert decision.retry_after_s == math.inf
        assert new_tat_s is None
    assert gcra(None, T0_S, rate, 10.0)[0].allowed


def test_no_tat_and_a_past_tat_decide_alike() -> None:
    """Why `MemoryRateLimiter` may drop keys whose TAT has passed, and Redis expire them."""
    rate = Rate(per_s=3.0, burst=4.0)
    for cost in (0.5, 1.0, 4.0, 5.0):
        fresh = gcra(None, T0_S, rate, cost)
        for past_s in (T0_S, T0_S - 0.1, T0_S - 1e6):
            assert gcra(past_s, T0_S, rate, cost) == fresh


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, -math.inf, math.nan])
def test_rates_and_costs_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="per_s"):
        Rate(per_s=bad, burst=1.0)
    with pytest.raises(ValueError, match="burst"):
        Rate(per_s=1.0, burst=bad)
    with pytest.raises(ValueError, match="cost"):
        gcra(None, T0_S, Rate(per_s=1.0, burst=1.0), bad)


rates = st.builds(
    Rate,
    per_s=st.floats(min_value=0.01, max_value=1000.0),
    burst=st.floats(min_value=0.5, max_value=100.0),
)
calls = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0),  # gap since the previous call, seconds
        st.floats(min_value=0.01, max_value=1.2),  # cost, as a fraction of the burst
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(rate=rates, history=calls)
def test_no_window_ever_admits_more_than_burst_plus_rate_times_elapsed(
    rate: Rate, history: list[tuple[float, float]]
) -> None:
    bucket = Bucket(rate)
    now_s, admitted = T0_S, list[tuple[float, float]]()
    for gap_s, fraction in history:
        now_s += gap_s
        cost = fraction * rate.burst
        if bucket.hit(now_s, cost).allowed:
            admitted.append((now_s, cost))
    for i, j in itertools.combinations_with_replacement(range(len(admitted)), 2):
        spent = sum(cost for _, cost in admitted[i : j + 1])
        elapsed_s = admitted[j][0] - admitted[i][0]
        assert spent <= rate.burst + rate.per_s * (elapsed_s + SLACK_S) + 1e-9 * spent


@settings(max_examples=300, deadline=None)
@given(rate=rates, history=calls, fraction=st.floats(min_value=0.01, max_value=1.0))
def test_retry_after_is_exact(
    rate: Rate, history: list[tuple[float, float]], fraction: float
) -> None:
    bucket = Bucket(rate)
    now_s = T0_S
    for gap_s, previous in history:
        now_s += gap_s
        bucket.hit(now_s, previous * rate.burst)
    cost = fraction * rate.burst
    decision, _ = gcra(bucket.tat_s, now_s, rate, cost)
    if decision.allowed:
        return
    assert 0 < decision.retry_after_s < math.inf
    assert gcra(bucket.tat_s, now_s + decision.retry_after_s, rate, cost)[0].allowed
    if decision.retry_after_s > HAIR_S:
        early, _ = gcra(bucket.tat_s, now_s + decision.retry_after_s - HAIR_S, rate, cost)
        assert not early.allowed
        assert early.retry_after_s == pytest.approx(HAIR_S, abs=1e-7)


# -- both limiters, one suite ------------------------------------------------------------------


class FakeClock:
    def __init__(self, now_s: float = T0_S) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class Case:
    limiter: RateLimiter
    wait: Callable[[float], None]
    """Lets `seconds` pass on the limiter's clock (really, for Redis)."""


SLOW = Rate(per_s=0.001, burst=3.0)
"""Refills one unit in 1,000 s: no test lasts long enough to see it, whatever the machine."""


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"test:{uuid4().hex[:12]}:"
    yield prefix
    for key in redis_client.scan_iter(match=f"{prefix}*"):
        redis_client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def case(request: pytest.FixtureRequest) -> Case:
    if request.param == "memory":
        clock = FakeClock()
        return Case(MemoryRateLimiter(clock=clock), clock.advance)
    client: redis.Redis = request.getfixturevalue("redis_client")
    return Case(RedisRateLimiter(client, prefix=request.getfixturevalue("prefix")), time.sleep)


def test_the_burst_then_refused(case: Case) -> None:
    decisions = [case.limiter.hit("ip:1", SLOW) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[0].limit == 3.0
    assert decisions[2].remaining == pytest.approx(0.0, abs=1e-3)
    assert 0 < decisions[3].retry_after_s <= 1 / SLOW.per_s


def test_keys_are_independent(case: Case) -> None:
    for _ in range(3):
        case.limiter.hit("tenant:a", SLOW)
    assert not case.limiter.hit("tenant:a", SLOW).allowed
    assert case.limiter.hit("tenant:b", SLOW).allowed
    assert case.limiter.hit("tenant:b", SLOW).remaining == pytest.approx(1.0, abs=1e-3)


def test_refused_calls_consume_nothing_in_the_limiter(case: Case) -> None:
    for _ in range(3):
        case.limiter.hit("k", SLOW)
    first = case.limiter.hit("k", SLOW)
    for _ in range(20):
        again = case.limiter.hit("k", SLOW)
        assert not again.allowed
        assert again.reset_after_s <= first.reset_after_s
        assert again.retry_after_s <= first.retry_after_s


def test_costs_above_one(case: Case) -> None:
    rate = Rate(per_s=0.001, burst=10.0)
    assert case.limiter.hit("job", rate, cost=6.0).allowed
    refused = case.limiter.hit("job", rate, cost=6.0)
    assert not refused.allowed
    assert refused.remaining == pytest.approx(4.0, abs=1e-3)
    assert case.limiter.hit("job", rate, cost=4.0).allowed


def test_a_cost_over_the_burst_is_refused_for_good(case: Case) -> None:
    decision = case.limiter.hit("big", SLOW, cost=3.5)
    assert not decision.allowed
    assert decision.retry_after_s == math.inf
    assert case.limiter.hit("big", SLOW, cost=3.0).allowed


def test_bad_costs_are_refused_before_anything_is_charged(case: Case) -> None:
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="cost"):
            case.limiter.hit("k", SLOW, cost=bad)
    assert case.limiter.hit("k", SLOW, cost=3.0).allowed


def test_waiting_retry_after_admits_again(case: Case) -> None:
    # 100 ms a unit: short enough to wait for, long enough that the loop soon sees a refusal.
    rate = Rate(per_s=10.0, burst=1.0)
    for _ in range(10):
        refused = case.limiter.hit("k", rate)
        if not refused.allowed:
            break
    assert not refused.allowed
    case.wait(refused.retry_after_s)
    assert case.limiter.hit("k", rate).allowed


def test_eight_threads_never_over_admit(case: Case) -> None:
    rate = Rate(per_s=0.001, burst=5.0)
    barrier = threading.Barrier(8)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        barrier.wait()
        for _ in range(25):
            decision = case.limiter.hit("shared", rate)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 200
    assert sum(allowed) == 5


# -- what only the memory limiter has ----------------------------------------------------------


def test_memory_stays_bounded_and_sweeping_changes_no_decision() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, sweep_at_keys=16)
    for _ in range(3):
        limiter.hit("held", SLOW)
    one_second = Rate(per_s=1.0, burst=1.0)
    for n in range(2000):
        limiter.hit(f"ip:{n}", one_second)
        clock.advance(0.25)  # each key is full again 1 s after its hit: about 4 live at once
        assert len(limiter) <= 32
    assert not limiter.hit("held", SLOW).allowed
    assert not limiter.hit("ip:1999", one_second).allowed


def test_memory_limiter_reads_the_monotonic_clock_by_default() -> None:
    limiter = MemoryRateLimiter()
    assert limiter.hit("k", SLOW).allowed
    assert limiter.hit("k", SLOW).reset_after_s > 0


# -- what only the Redis limiter has -----------------------------------------------------------


def test_redis_keys_live_under_the_prefix_and_expire_when_full(
    redis_client: redis.Redis, prefix: str
) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=prefix)
    decision = limiter.hit("ip:10.0.0.1", SLOW, cost=2.0)
    assert limiter.redis_key("ip:10.0.0.1") == f"{prefix}{RATELIMIT}ip:10.0.0.1"
    assert list(redis_client.scan_iter(match=f"{prefix}*")) == [limiter.redis_key("ip:10.0.0.1")]
    ttl_ms = redis_client.pttl(limiter.redis_key("ip:10.0.0.1"))
    assert 0 < ttl_ms <= math.ceil(decision.reset_after_s * 1000)


def test_redis_refusals_write_nothing(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=prefix)
    assert not limiter.hit("big", SLOW, cost=4.0).allowed
    assert not redis_client.exists(limiter.redis_key("big"))


def test_redis_stores_the_tat_that_gcra_computes(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=prefix)
    future_tat_s = time.time() + 100.0  # ahead of the server's clock, so the TAT grows from it
    redis_client.set(limiter.redis_key("k"), repr(future_tat_s), px=200_000)
    rate = Rate(per_s=0.3, burst=1000.0)
    assert limiter.hit("k", rate, cost=0.7).allowed
    stored = redis_client.get(limiter.redis_key("k"))
    assert stored is not None
    assert float(stored) == future_tat_s + 0.7 / 0.3


def test_a_fleet_shares_one_limit(redis_url: str, prefix: str) -> None:
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]  # bytes replies work too
    try:
        servers = [RedisRateLimiter(client, prefix=prefix) for client in clients]
        allowed = [servers[n % 2].hit("tenant:acme", SLOW).allowed for n in range(6)]
        assert allowed == [True, True, True, False, False, False]
        other = RedisRateLimiter(clients[0], prefix=f"other:{prefix}")
        assert other.hit("tenant:acme", SLOW).allowed
    finally:
        for key in clients[0].scan_iter(match=f"other:{prefix}*"):
            clients[0].delete(key)
        for client in clients:
            client.close()


def test_redis_errors_leave_as_storage_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    client = redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(StorageError, match="rate limiter"):
            RedisRateLimiter(client).hit("k", SLOW)
    finally:
        client.close()


# -- headers and check -------------------------------------------------------------------------


def test_headers_of_an_allowed_call() -> None:
    assert rate_limit_headers(Decision(True, 0.0, 2.0, 0.5, 3.0)) == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": "1",
    }


def test_headers_of_a_refused_call_round_seconds_up_and_units_down() -> None:
    assert rate_limit_headers(Decision(False, 0.2, 0.6, 1.4, 2.5)) == {
        "RateLimit-Limit": "2",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "2",
        "Retry-After": "1",
    }


def test_headers_forgive_float_error() -> None:
    headers = rate_limit_headers(Decision(False, 3.0000000000000004, 1.9999999999999996, 2.0, 3.0))
    assert headers["RateLimit-Remaining"] == "2"
    assert headers["Retry-After"] == "3"


def test_no_retry_after_when_waiting_cannot_help() -> None:
    decision, _ = gcra(None, T0_S, Rate(per_s=1.0, burst=2.0), 3.0)
    assert "Retry-After" not in rate_limit_headers(decision)


def test_headers_from_a_real_sequence() -> None:
    bucket = Bucket(Rate(per_s=2.0, burst=3.0))
    headers = [rate_limit_headers(bucket.hit(T0_S)) for _ in range(4)]
    assert [h["RateLimit-Remaining"] for h in headers] == ["2", "1", "0", "0"]
    assert [h.get("Retry-After") for h in headers] == [None, None, None, "1"]


def test_check_returns_the_decision_when_allowed() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    assert check(limiter, "ip:1", Rate(per_s=2.0, burst=3.0)).remaining == 2.0


def test_check_raises_rate_limited_with_a_clear_message() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    rate = Rate(per_s=2.0, burst=3.0)
    for _ in range(3):
        check(limiter, "ip:1", rate)
    with pytest.raises(RateLimited) as raised:
        check(limiter, "ip:1", rate)
    assert (
        raised.value.message == "rate limit: 2 requests per second per client; try again in 0.5 s"
    )
    assert raised.value.retry_after_s == 0.5
    assert raised.value.code == "rate_limited"


def test_check_charges_by_cost_and_words_the_unit() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    rate = Rate(per_s=0.1, burst=100.0)
    check(limiter, "tenant:acme", rate, 80.0, unit="GPU-seconds", scope="tenant")
    with pytest.raises(
        RateLimited, match=r"6 GPU-seconds per minute per tenant; try again in 300 s"
    ):
        check(limiter, "tenant:acme", rate, 50.0, unit="GPU-seconds", scope="tenant")


def test_check_rejects_a_cost_that_no_wait_would_admit() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    with pytest.raises(InvalidInput, match="costs 120 GPU-seconds, more than the 100") as raised:
        check(limiter, "t", Rate(per_s=1.0, burst=100.0), 120.0, unit="GPU-seconds")
    assert raised.value.code == "cost_exceeds_burst"


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        (Rate(per_s=2.0, burst=1.0), "2 requests per second per client"),
        (Rate(per_s=1 / 60, burst=1.0), "1 requests per minute per client"),
        (Rate(per_s=0.5 / 3600, burst=1.0), "0.5 requests per hour per client"),
    ],
)
def test_describe(rate: Rate, words: str) -> None:
    assert describe(rate) == words
