"""Scheduling: which queued jobs run together, and when.

`policy.plan_batch` is the decision (a pure function); `fairness` orders jobs by priority,
aging and tenants' GPU-second counters; `simulate` replays a trace of arrivals through the
policy with an injected clock.
"""

from foleyserve.scheduling.policy import (
    BatchPolicy,
    Candidate,
    Plan,
    PlanReason,
    PolicyName,
    plan_batch,
)

__all__ = ["BatchPolicy", "Candidate", "Plan", "PlanReason", "PolicyName", "plan_batch"]
