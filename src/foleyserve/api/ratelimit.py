"""Rate limits charged by cost: GCRA (the generic cell rate algorithm), in memory or in Redis.

A limit is a `Rate`: `per_s` cost units a second, sustained, and `burst` units at once. GCRA
keeps one number per key, the theoretical arrival time (TAT): when the bucket would be full
again if nothing more were spent. Spending `cost` pushes it `cost / per_s` later; a call is
allowed while the TAT stays at most `burst / per_s` ahead of now. So, over any window of
`elapsed_s`, at most `burst + per_s * elapsed_s` units are allowed, and refused calls change
nothing. A TAT in the past means the same as no TAT at all (a full bucket), which is why keys
can be dropped once their TAT has passed.

`gcra` is the decision, pure and clock-free. Two drivers keep the TATs:

- `MemoryRateLimiter`: one process (the embedded server). A dict under a lock, clock injected.
- `RedisRateLimiter`: a fleet. One Lua script makes the same decision atomically on the Redis
  server's clock, so API servers whose clocks disagree still share one limit.

A cost larger than the burst can never be allowed, however long the caller waits: `gcra`
refuses it with `retry_after_s = inf` and changes nothing, and `check` raises `InvalidInput`
(code `cost_exceeds_burst`, a client error that retrying cannot fix) rather than `RateLimited`.
Rates and costs must be positive and finite (`ValueError` otherwise: those come from our code
and settings, not from clients).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from foleyserve.errors import InvalidInput, RateLimited, StorageError
from foleyserve.store.redis_keys import DEFAULT_PREFIX, RATELIMIT

SLACK_S = 1e-6
"""A call this much before its time is allowed: one microsecond, the resolution of Redis's
`TIME`. It absorbs float rounding, so a call at exactly `now_s + retry_after_s` is never refused
by a last-bit error; it never accumulates (the TAT advances from itself, not from now)."""

_ROUNDING = 1e-9
"""Header values are rounded after forgiving this much float error (2.9999999999 units is 3)."""


@dataclass(frozen=True)
class Rate:
    """A limit: `per_s` cost units a second sustained, and up to `burst` units at once."""

    per_s: float
    burst: float

    def __post_init__(self) -> None:
        for name, value in (("per_s", self.per_s), ("burst", self.burst)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"Rate.{name} must be positive and finite, not {value!r}")


@dataclass(frozen=True)
class Decision:
    """What a limiter decided about one call, and what the rate limit headers say about it."""

    allowed: bool
    retry_after_s: float
    """0 when allowed; otherwise how long until this same cost would be allowed (`inf`: never,
    the cost exceeds the burst)."""
    remaining: float
    """Units that may still be spent at once, after this call (for `RateLimit-Remaining`)."""
    reset_after_s: float
    """Until the bucket is full again (for `RateLimit-Reset`)."""
    limit: float
    """The burst (for `RateLimit-Limit`)."""


def gcra(
    tat_s: float | None, now_s: float, rate: Rate, cost: float
) -> tuple[Decision, float | None]:
    """Decide a call of `cost` at `now_s`, given the key's stored TAT (None: none stored).

    Returns the decision and the TAT to store, or None to leave the stored one as it is (every
    refused call). `tat_s` and `now_s` are on the same clock, whichever it is. `RedisRateLimiter`'s
    script repeats the admission test and the new TAT operation for operation, so both drivers
    decide alike to the last bit.
    """
    _check_cost(cost)
    base_s = now_s if tat_s is None else max(tat_s, now_s)
    backlog_s = base_s - now_s
    increment_s = cost / rate.per_s
    tolerance_s = rate.burst / rate.per_s
    if backlog_s + increment_s <= tolerance_s + SLACK_S:
        reset_after_s = backlog_s + increment_s
        remaining = max(0.0, rate.burst - reset_after_s * rate.per_s)
        return Decision(True, 0.0, remaining, reset_after_s, rate.burst), base_s + increment_s
    # Waiting frees at most the burst: a cost that would not fit in a full bucket never will.
    never = increment_s > tolerance_s + SLACK_S
    retry_after_s = math.inf if never else backlog_s + increment_s - tolerance_s
    remaining = max(0.0, rate.burst - backlog_s * rate.per_s)
    return Decision(False, retry_after_s, remaining, backlog_s, rate.burst), None


class RateLimiter(Protocol):
    """Keeps a TAT per key and charges calls against it."""

    def hit(self, key: str, rate: Rate, *, cost: float = 1.0) -> Decision:
        """Charge `cost` units to `key` under `rate` if allowed now; refused calls charge
        nothing. Raises `ValueError` for a cost that is not positive and finite."""
        ...


class MemoryRateLimiter:
    """A `RateLimiter` for one process: TATs in a dict, under a lock.

    `clock` returns seconds (default `time.monotonic`). Memory stays bounded: whenever the dict
    has doubled since it was last swept (and holds at least `sweep_at_keys`), keys whose TAT has
    passed are dropped, which changes no decision. So it holds at most about twice the keys
    that are not full, and sweeping costs O(1) a call, amortized.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sweep_at_keys: int = 1024
    ) -> None:
        if sweep_at_keys < 1:
            raise ValueError(f"sweep_at_keys must be at least 1, not {sweep_at_keys}")
        self._clock = clock
        self._min_sweep_at = sweep_at_keys
        self._sweep_at = sweep_at_keys
        self._tats_s: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate, *, cost: float = 1.0) -> Decision:
        with self._lock:
            now_s = self._clock()
            decision, tat_s = gcra(self._tats_s.get(key), now_s, rate, cost)
            if tat_s is not None:
                self._tats_s[key] = tat_s
                if len(self._tats_s) >= self._sweep_at:
                    self._sweep(now_s)
        return decision

    def __len__(self) -> int:
        """Keys held now (full buckets not yet swept included)."""
        with self._lock:
            return len(self._tats_s)

    def _sweep(self, now_s: float) -> None:
        self._tats_s = {key: tat_s for key, tat_s in self._tats_s.items() if tat_s > now_s}
        self._sweep_at = max(self._min_sweep_at, 2 * len(self._tats_s))


_GCRA_SCRIPT = f"""
-- KEYS: 1 the key's TAT (`ratelimit:<key>`)   ARGV: 1 per_s  2 burst  3 cost
-- Returns {{now_s, the TAT it found or ''}}; Python's gcra() turns them into the Decision.
-- Admits, and stores the new TAT, exactly when gcra() does: same operations, same order.
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local per_s, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local base = now
if stored then base = math.max(tonumber(stored), now) end
local backlog = base - now
local increment = cost / per_s
if backlog + increment <= burst / per_s + {SLACK_S!r} then
  local tat = base + increment
  local ttl_ms = math.max(1, math.ceil((tat - now) * 1000))
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', string.format('%d', ttl_ms))
end
return {{string.format('%.17g', now), stored or ''}}
"""


class RedisRateLimiter:
    """A `RateLimiter` shared by a fleet, in Redis (5.0 or newer), under the key prefix `prefix`.

    Time is the Redis server's (`TIME`), never the caller's. Each key expires when its bucket is
    full again, so Redis holds only keys that are limiting someone. The limiter does not own
    `client` (decoding responses or not) and never closes it. Redis errors leave as
    `StorageError`.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._prefix = prefix
        self._script = client.register_script(_GCRA_SCRIPT)

    def redis_key(self, key: str) -> str:
        """Where `key`'s TAT lives."""
        return f"{self._prefix}{RATELIMIT}{key}"

    def hit(self, key: str, rate: Rate, *, cost: float = 1.0) -> Decision:
        _check_cost(cost)
        args = [repr(float(rate.per_s)), repr(float(rate.burst)), repr(float(cost))]
        try:
            now_s, stored = self._script(keys=[self.redis_key(key)], args=args)
        except redis.RedisError as exc:
            raise StorageError(
                f"the rate limiter (Redis) failed ({exc}); check that Redis is running and "
                "reachable at the configured URL"
            ) from exc
        decision, _ = gcra(float(stored) if stored else None, float(now_s), rate, cost)
        return decision


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The IETF draft's `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (whole
    units rounded down, seconds rounded up), plus `Retry-After` (seconds, rounded up) when the
    call was refused and waiting can help (not for a cost over the burst)."""
    headers = {
        "RateLimit-Limit": str(math.floor(decision.limit + _ROUNDING)),
        "RateLimit-Remaining": str(math.floor(decision.remaining + _ROUNDING)),
        "RateLimit-Reset": str(math.ceil(decision.reset_after_s - _ROUNDING)),
    }
    if not decision.allowed and math.isfinite(decision.retry_after_s):
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_s - _ROUNDING)))
    return headers


def check(
    limiter: RateLimiter,
    key: str,
    rate: Rate,
    cost: float = 1.0,
    *,
    unit: str = "requests",
    scope: str = "client",
) -> Decision:
    """Charge `cost` to `key`, and return the decision if allowed.

    Raises `RateLimited` (with `retry_after_s`) when refused, and `InvalidInput` (code
    `cost_exceeds_burst`) for a cost that no wait would admit. `unit` and `scope` only word the
    message: "rate limit: 2 requests per second per client; try again in 0.5 s".
    """
    decision = limiter.hit(key, rate, cost=cost)
    if decision.allowed:
        return decision
    if math.isinf(decision.retry_after_s):
        raise InvalidInput(
            f"this call costs {cost:g} {unit}, more than the {rate.burst:g} that may be spent at "
            f"once ({describe(rate, unit=unit, scope=scope)}); it can never be admitted, so make "
            "it smaller",
            code="cost_exceeds_burst",
        )
    wait_s = math.ceil(decision.retry_after_s * 10 - _ROUNDING) / 10
    raise RateLimited(
        f"rate limit: {describe(rate, unit=unit, scope=scope)}; try again in {wait_s:g} s",
        retry_after_s=decision.retry_after_s,
    )


def describe(rate: Rate, *, unit: str = "requests", scope: str = "client") -> str:
    """`rate` in words, per second, minute or hour, whichever reads without a leading 0.0:
    "2 requests per second per client", "6 requests per minute per tenant"."""
    if rate.per_s >= 1:
        amount, per = rate.per_s, "second"
    elif rate.per_s * 60 >= 1:
        amount, per = rate.per_s * 60, "minute"
    else:
        amount, per = rate.per_s * 3600, "hour"
    return f"{amount:g} {unit} per {per} per {scope}"


def _check_cost(cost: float) -> None:
    if not (math.isfinite(cost) and cost > 0):
        raise ValueError(f"a rate-limited cost must be positive and finite, not {cost!r}")
