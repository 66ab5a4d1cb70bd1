"""The operators' JSON endpoints under `/v1/admin/`: the dashboard's overview, failed jobs of
every tenant, and retrying one. Only admins may call them: a key whose tenant was created with
`foleyserve keys create --admin`, or anyone when the server runs without keys (embedded, on
loopback). Any other valid key answers 403 `forbidden`: the routes are documented in the
OpenAPI schema anyway, so hiding them behind a 404 would protect nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from foleyserve.api import dashboard
from foleyserve.api.deps import AppState, Caller, CallerDep, StateDep
from foleyserve.api.schemas import ErrorBody, JobOut
from foleyserve.cache import RESULTS, TEXT_FEATURES, VIDEO_FEATURES
from foleyserve.errors import Forbidden
from foleyserve.jobs.model import Job, JobState

MAX_FINISHED_READ = 2000
"""Finished jobs one overview reads at most: its figures then cover the latest of them."""
DEFAULT_WINDOW_S = 3600.0
DEFAULT_FAILED_WINDOW_S = 86400.0
MAX_WINDOW_S = 7 * 86400.0

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)
}


def admin_caller(caller: CallerDep) -> Caller:
    """The caller, if an admin; else `Forbidden`."""
    if not caller.admin:
        raise Forbidden(
            f"tenant {caller.tenant!r} is not an admin; the /v1/admin endpoints need a key "
            "created with `foleyserve keys create --tenant NAME --admin`"
        )
    return caller


AdminDep = Annotated[Caller, Depends(admin_caller)]


class AdminJobOut(JobOut):
    """A job as operators see it: which tenant's, and which worker ran it last."""

    tenant: str
    worker_id: str | None

    @classmethod
    def of_job(cls, job: Job) -> AdminJobOut:
        return cls(**JobOut.of(job).model_dump(), tenant=job.spec.tenant, worker_id=job.worker_id)


class AdminJobPage(BaseModel):
    jobs: list[AdminJobOut]


def build_admin_router() -> APIRouter:
    router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=_ERRORS)

    @router.get("/overview", response_model=dashboard.Overview, summary="The dashboard")
    def overview(
        state: StateDep,
        _: AdminDep,
        window_s: Annotated[float, Query(ge=60, le=MAX_WINDOW_S)] = DEFAULT_WINDOW_S,
    ) -> dashboard.Overview:
        return _overview(state, window_s)

    @router.get("/failed", response_model=AdminJobPage, summary="Failed jobs, newest first")
    def failed(
        state: StateDep,
        _: AdminDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        window_s: Annotated[float, Query(ge=60, le=MAX_WINDOW_S)] = DEFAULT_FAILED_WINDOW_S,
    ) -> AdminJobPage:
        # The window bounds the read: stores find failures among all recent finishes.
        since = state.clock() - timedelta(seconds=window_s)
        jobs = state.store.finished(since=since, state=JobState.FAILED, limit=limit)
        return AdminJobPage(jobs=[AdminJobOut.of_job(job) for job in jobs])

    @router.post(
        "/jobs/{job_id}/retry",
        response_model=AdminJobOut,
        summary="Queue a failed job again, as if new",
    )
    def retry(job_id: str, state: StateDep, _: AdminDep) -> AdminJobOut:
        return AdminJobOut.of_job(state.store.retry(job_id))

    return router


def _overview(state: AppState, window_s: float) -> dashboard.Overview:
    store, now = state.store, state.clock()
    by_tenant = store.depth_by_tenant()
    running = store.running()
    since = now - timedelta(seconds=window_s)
    finished = store.finished(since=since, limit=MAX_FINISHED_READ)
    return dashboard.Overview(
        now=now,
        window_s=window_s,
        counts=store.counts(),
        queue=dashboard.queue_out(store.depth(), by_tenant),
        workers=dashboard.workers_out(running),
        batches=dashboard.batches_out(finished),
        throughput=dashboard.throughput_out(finished, now=now, window_s=window_s),
        result_cache_hit_rate=dashboard.result_cache_hit_rate(finished),
        caches=_caches(state),
        tenants=dashboard.tenants_out(
            queued=by_tenant, running=running, finished=finished, service_s=store.fairness()
        ),
        finished_truncated=len(finished) >= MAX_FINISHED_READ,
    )


def _caches(state: AppState) -> list[dashboard.CacheOut]:
    registry = state.metrics.registry
    out = []
    for namespace in (RESULTS, VIDEO_FEATURES, TEXT_FEATURES):
        entries, size_bytes = state.store.cache_stats(namespace)
        labels = {"cache": namespace}
        hits = registry.get_sample_value("foleyserve_cache_hits_total", labels)
        misses = registry.get_sample_value("foleyserve_cache_misses_total", labels)
        out.append(
            dashboard.CacheOut(
                namespace=namespace,
                entries=entries,
                bytes=size_bytes,
                hits=None if hits is None else int(hits),
                misses=None if misses is None else int(misses),
            )
        )
    return out
