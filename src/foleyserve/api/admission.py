"""What a submission must pass once its size is known (after the probe, before anything is
stored or queued): its tenant's quotas, and the rate limits charged by its estimated cost.

Units:

- Rate-limit units (`submission_cost`): duration x steps, normalised so that a 10 s job at the
  reference 50 steps costs 1. Every submission pays 1 unit up front, before its body is read
  (`deps.rate_limited_caller`: floods of bad requests pay too); a job that goes to the queue
  then pays the rest of its cost, capped at the burst (a job larger than the burst spends the
  whole bucket rather than being refused for ever). A result-cache hit pays only the 1 unit.
- Estimated GPU-seconds (`estimated_gpu_s`): the audio's seconds x steps / 50, the scheduler's
  measure of work (one GPU-second per second of audio at the reference steps).

Quotas, per tenant (`foleyserve keys create --max-queued N --gpu-seconds-per-hour X`; the
tenant `local` and tenants created without them get the settings' defaults):

- `max_queued_jobs`: a submission while that many of the tenant's jobs wait is refused (checked
  here before anything is charged, and again by the store in the submission's transaction, so
  concurrent submissions cannot pass it).
- `gpu_seconds_per_hour`: a GCRA limit of that many estimated GPU-seconds per hour, all of it
  usable at once, refilled continuously (in the same limiter as the rate limits: in process,
  or in Redis for a fleet). A job larger than the whole hourly quota is refused outright.

Refusals are `RateLimited` (429, `Retry-After`) with a code per quota and a message that says
which quota and when to try again; `InvalidInput` (422) for a job that no wait would admit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from foleyserve.api.ratelimit import Decision, Rate, RateLimiter, rate_limit_headers
from foleyserve.errors import InvalidInput, RateLimited
from foleyserve.jobs.model import JobSpec
from foleyserve.store import rules
from foleyserve.store.base import JobStore

REFERENCE_DURATION_S = 10.0
REFERENCE_STEPS = 50
HOUR_S = 3600.0


def submission_cost(spec: JobSpec) -> float:
    """Rate-limit units of a job: 1 for a 10 s job at 50 steps."""
    return spec.duration_s / REFERENCE_DURATION_S * _steps_factor(spec)


def estimated_gpu_s(spec: JobSpec) -> float:
    return spec.duration_s * _steps_factor(spec)


def _steps_factor(spec: JobSpec) -> float:
    return (spec.steps or REFERENCE_STEPS) / REFERENCE_STEPS


@dataclass(frozen=True)
class Quotas:
    max_queued_jobs: int
    gpu_seconds_per_hour: float


@dataclass
class Admission:
    """The checks of one submission; `JobService` calls it with the job's spec just before it
    would store and queue it. `limits` are the (limiter key, scope) pairs the request already
    paid 1 unit to; `headers` receives the RateLimit headers of the last decision."""

    store: JobStore
    limiter: RateLimiter
    rate: Rate
    quotas: Quotas
    limits: list[tuple[str, str]]
    headers: dict[str, str]

    @property
    def tenant_max_queued(self) -> int:
        return self.quotas.max_queued_jobs

    def __call__(self, spec: JobSpec) -> None:
        # A cheap refusal before anything is charged; the store enforces the cap atomically.
        self._check_queued(spec.tenant)
        self._charge_gpu(spec)
        extra = min(submission_cost(spec), self.rate.burst) - 1.0
        if extra > 1e-9:
            self._charge_rate(extra, submission_cost(spec))

    def _check_queued(self, tenant: str) -> None:
        limit = self.quotas.max_queued_jobs
        queued = self.store.queued_of(tenant)
        if queued >= limit:
            raise rules.tenant_queue_full(queued, limit)

    def _charge_gpu(self, spec: JobSpec) -> None:
        quota = self.quotas.gpu_seconds_per_hour
        need = estimated_gpu_s(spec)
        if quota <= 0 or need > quota:
            raise InvalidInput(
                f"this job needs an estimated {need:g} GPU-seconds, more than your tenant's "
                f"quota of {quota:g} GPU-seconds per hour; send a shorter video or fewer steps, "
                "or ask for a larger quota",
                code="quota_gpu_seconds",
            )
        rate = Rate(per_s=quota / HOUR_S, burst=quota)
        decision = self.limiter.hit(f"gpu:{spec.tenant}", rate, cost=need)
        if not decision.allowed:
            wait_s = math.ceil(decision.retry_after_s)
            raise RateLimited(
                f"quota: your tenant may use {quota:g} estimated GPU-seconds per hour, and this "
                f"job needs {need:g} more than is left; try again in {wait_s} s",
                retry_after_s=decision.retry_after_s,
                code="quota_gpu_seconds",
            )

    def _charge_rate(self, extra: float, cost: float) -> None:
        tightest: Decision | None = None
        for key, scope in self.limits:
            decision = self.limiter.hit(key, self.rate, cost=extra)
            if not decision.allowed:
                self.headers.update(rate_limit_headers(decision))
                raise RateLimited(
                    f"rate limit: this job costs {cost:.3g} units (10 s at 50 steps is 1), more "
                    f"than is left for your {scope}; try again in "
                    f"{math.ceil(decision.retry_after_s)} s",
                    retry_after_s=decision.retry_after_s,
                )
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        if tightest is not None:
            self.headers.update(rate_limit_headers(tightest))
