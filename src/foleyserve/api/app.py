"""`create_app`: the HTTP API, built from the parts it is given (no globals, no environment).

The API never loads a model: it needs only the engine's name and version for result keys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from foleyserve import __version__, web
from foleyserve.api import errors
from foleyserve.api.admin import build_admin_router
from foleyserve.api.deps import ApiMetrics, AppState
from foleyserve.api.ratelimit import RateLimiter
from foleyserve.api.routes import build_router
from foleyserve.auth.keys import KeyStore
from foleyserve.cache import EngineIdentity
from foleyserve.jobs.service import JobService
from foleyserve.settings import Settings
from foleyserve.storage.base import ObjectStore
from foleyserve.store.base import JobStore
from foleyserve.worker.context import Caches, utc_now


class _CountRequests:
    """Counts every HTTP answer by method, route template (not raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()


def create_app(
    settings: Settings,
    *,
    store: JobStore,
    objects: ObjectStore,
    keys: KeyStore,
    limiter: RateLimiter,
    engine_identity: EngineIdentity,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The API over these parts; the caller owns them and closes them after the app stops.

    `settings.api_keys_required=None` is taken as required: the `serve` and `api` commands
    decide it (loopback and no keys: not required) before they build the app."""
    caches = Caches.create(store, objects, settings, clock)
    service = JobService(store, objects, settings, engine_identity, caches.results, clock)
    metrics = ApiMetrics(store, [caches.results])
    app = FastAPI(
        title="foleyserve",
        version=__version__,
        summary="Foley sound for videos: submit a job, poll it, download the audio.",
    )
    app.state.foley = AppState(
        settings=settings,
        service=service,
        store=store,
        objects=objects,
        keys=keys,
        limiter=limiter,
        clock=clock,
        metrics=metrics,
        keys_required=settings.api_keys_required is not False,
    )
    errors.install(app)
    app.include_router(build_router())
    app.include_router(build_admin_router())
    web.install(app)
    app.add_middleware(_CountRequests, metrics=metrics)
    return app
