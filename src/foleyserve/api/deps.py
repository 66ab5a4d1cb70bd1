"""What routes depend on: the app's parts (`AppState`), the caller (`CallerDep`), the rate limit
(`RateLimitedCaller`), and the app's metrics. Everything hangs off `app.state.foley`, set by
`create_app`; nothing is a module-level singleton."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, cast

from fastapi import Depends, Header, Request
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from foleyserve.api.client_ip import client_address, parse_networks
from foleyserve.api.ratelimit import Decision, Rate, RateLimiter, check, rate_limit_headers
from foleyserve.auth.keys import KeyStore, unauthorized
from foleyserve.cache import ObjectCache
from foleyserve.errors import FoleyError
from foleyserve.jobs.service import JobService
from foleyserve.settings import Settings
from foleyserve.storage.base import ObjectStore
from foleyserve.store.base import JobStore

LOCAL_TENANT = "local"
"""The tenant of every request when keys are not required (embedded, on loopback)."""


class _StoreCollector(Collector):
    """Queue depth, jobs per state and cache hits/misses, read when scraped."""

    def __init__(self, store: JobStore, caches: Iterable[ObjectCache]) -> None:
        self._store = store
        self._caches = list(caches)

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        depth = GaugeMetricFamily(
            "foleyserve_queue_depth", "Queued jobs per priority.", labels=["priority"]
        )
        for priority, count in self._store.depth().items():
            depth.add_metric([priority.value], count)
        states = GaugeMetricFamily("foleyserve_jobs", "Jobs per state.", labels=["state"])
        for state, count in self._store.counts().items():
            states.add_metric([state.value], count)
        hits = CounterMetricFamily(
            "foleyserve_cache_hits", "Cache hits in this process.", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "foleyserve_cache_misses", "Cache misses in this process.", labels=["cache"]
        )
        for cache in self._caches:
            hits.add_metric([cache.namespace], cache.hits)
            misses.add_metric([cache.namespace], cache.misses)
        seen = GaugeMetricFamily(
            "foleyserve_worker_last_seen_timestamp_seconds",
            "When each worker last reported in to the store (Unix seconds).",
            labels=["worker"],
        )
        for worker_id, moment in sorted(self._store.workers().items()):
            seen.add_metric([worker_id], moment.timestamp())
        webhooks = GaugeMetricFamily(
            "foleyserve_webhooks_pending", "Webhook events not yet delivered or given up."
        )
        webhooks.add_metric([], self._store.events_pending())
        return [depth, states, hits, misses, seen, webhooks]


class ApiMetrics:
    """One registry per app, so two apps in one process (tests) never share counters."""

    def __init__(self, store: JobStore, caches: Iterable[ObjectCache]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "foleyserve_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "foleyserve_rate_limited",
            "Requests refused by the rate limit.",
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store, caches))


@dataclass
class AppState:
    settings: Settings
    service: JobService
    store: JobStore
    objects: ObjectStore
    keys: KeyStore
    limiter: RateLimiter
    clock: Callable[[], datetime]
    metrics: ApiMetrics
    keys_required: bool


def get_state(request: Request) -> AppState:
    return cast(AppState, request.app.state.foley)


StateDep = Annotated[AppState, Depends(get_state)]


@dataclass(frozen=True)
class Caller:
    tenant: str
    key_id: str | None
    """None for the `local` tenant (no key sent)."""
    admin: bool = False
    """The key's tenant is an admin (`foleyserve keys create --admin`); the `local` tenant is
    one too, since without keys everyone on the machine already runs the whole server."""


def get_caller(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """`Authorization: Bearer <key>` -> the key's tenant. Without a header, the `local` tenant
    when keys are not required; else `Unauthorized`."""
    if authorization is None:
        if state.keys_required:
            raise unauthorized()
        return Caller(LOCAL_TENANT, None, admin=True)
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized()
    tenant, api_key = state.keys.authenticate(key.strip(), now=state.clock())
    return Caller(tenant.id, api_key.id, admin=tenant.admin)


CallerDep = Annotated[Caller, Depends(get_caller)]


class _Recording:
    """A limiter that remembers the last decision, for the headers of a refused call."""

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.decision: Decision | None = None

    def hit(self, key: str, rate: Rate, *, cost: float = 1.0) -> Decision:
        self.decision = self.inner.hit(key, rate, cost=cost)
        return self.decision


def rate_limited_caller(request: Request, state: StateDep, caller: CallerDep) -> Caller:
    """Charge one submission to the caller's key and to its address; refuse with
    `RateLimited` when either is spent. The tighter decision's headers go on the answer.
    The address is the peer's, or the client's as told by a trusted proxy (`client_ip`)."""
    rate = Rate(state.settings.rate_limit_per_s, state.settings.rate_limit_burst)
    client = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        parse_networks(state.settings.trusted_proxies),
    )
    limits = (
        (f"key:{caller.key_id or caller.tenant}", "API key"),
        (f"ip:{client}", "client address"),
    )
    # The submission pays the rest of its cost once its size is known (`api.admission`).
    request.state.rate_limit_keys = list(limits)
    tightest: Decision | None = None
    for key, scope in limits:
        recording = _Recording(state.limiter)
        try:
            decision = check(recording, key, rate, scope=scope)
        except FoleyError:
            if recording.decision is not None:
                request.state.rate_limit_headers = rate_limit_headers(recording.decision)
            raise
        if tightest is None or decision.remaining < tightest.remaining:
            tightest = decision
    assert tightest is not None
    request.state.rate_limit_headers = rate_limit_headers(tightest)
    return caller


RateLimitedCallerDep = Annotated[Caller, Depends(rate_limited_caller)]
