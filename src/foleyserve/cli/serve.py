"""`foleyserve serve` (API plus one worker, embedded), `foleyserve api` (the API alone, for a
fleet), and `foleyserve keys ...` (API keys)."""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from foleyserve.auth.keys import KeyStore, Tenant, open_key_store
from foleyserve.cli.common import offline_hub, print_json, reported_errors, stderr
from foleyserve.errors import InvalidInput
from foleyserve.settings import Settings

if TYPE_CHECKING:  # imported when used: `foleyserve keys` loads no worker, engine or torch
    from foleyserve.storage.base import ObjectStore
    from foleyserve.worker.loop import Worker
    from foleyserve.worker.webhooks import WebhookDispatcher

HostOpt = Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it local.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]


@dataclass(frozen=True)
class _Identity:
    name: str
    version: str


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def _has_keys(keys: KeyStore) -> bool:
    return any(
        not key.revoked for tenant in keys.list_tenants() for key in keys.list_keys(tenant.id)
    )


def resolve_keys_required(settings: Settings, host: str, keys: KeyStore) -> Settings:
    """Settings with `api_keys_required` decided, or `InvalidInput` for an unsafe bind: a
    non-loopback address needs keys, and they must be required there."""
    if not is_loopback(host):
        if settings.api_keys_required is False or not _has_keys(keys):
            raise InvalidInput(
                f"refusing to serve on {host}, a non-loopback address, without API keys: anyone "
                "who can reach it could use it. Create a key first with "
                "`foleyserve keys create --tenant NAME` (and leave FOLEYSERVE_API_KEYS_REQUIRED "
                "unset or true), or bind --host 127.0.0.1",
                code="api_keys_needed",
            )
        return settings.model_copy(update={"api_keys_required": True})
    if settings.api_keys_required is None:
        return settings.model_copy(update={"api_keys_required": _has_keys(keys)})
    return settings


def _run(host: str, port: int, *, embedded: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with reported_errors(as_json=False):
        settings = Settings()
        offline_hub()
        import uvicorn

        from foleyserve.api.app import create_app
        from foleyserve.api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
        from foleyserve.storage import open_object_store
        from foleyserve.store import open_store
        from foleyserve.store.urls import SQLiteUrl, parse_store_url

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        keys = open_key_store(settings.keys_url())
        settings = resolve_keys_required(settings, host, keys)
        store = open_store(settings.store_url())
        objects = open_object_store(settings.storage_url())
        parsed = parse_store_url(settings.store_url())
        limiter: RateLimiter = MemoryRateLimiter()
        if not isinstance(parsed, SQLiteUrl):
            import redis

            limiter = RedisRateLimiter(redis.Redis.from_url(parsed.url), prefix=parsed.prefix)
        worker = _EmbeddedWorker.open(settings, objects, keys) if embedded else None
        identity = _engine_identity(settings) if worker is None else worker.identity
        app = create_app(
            settings,
            store=store,
            objects=objects,
            keys=keys,
            limiter=limiter,
            engine_identity=identity,
        )
        if worker is not None:
            app.state.foley.metrics.registry.register(worker.worker.metrics)
            worker.start()
        auth = "API keys required" if settings.api_keys_required else "no API keys (tenant local)"
        stderr.print(
            f"foleyserve on http://{host}:{port} ({auth}); web page at /, dashboard at /admin, "
            "API docs at /docs"
        )
        try:
            # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by
            # default; the API applies FOLEYSERVE_TRUSTED_PROXIES itself (api/client_ip.py).
            uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
        finally:
            if worker is not None:
                worker.stop()
            store.close()
            keys.close()
            objects.close()


@dataclass
class _EmbeddedWorker:
    """The worker of `serve` and its webhook dispatcher, each with a store connection of its
    own and a thread of its own."""

    worker: Worker
    hooks: WebhookDispatcher
    identity: _Identity
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings, objects: ObjectStore, keys: KeyStore) -> _EmbeddedWorker:
        from foleyserve.engines.registry import create_engine
        from foleyserve.store import open_store
        from foleyserve.worker.loop import Worker
        from foleyserve.worker.webhooks import WebhookDispatcher

        with stderr.status(f"loading engine {settings.engine!r}"):
            engine = create_engine(settings)
        worker = Worker(engine, open_store(settings.store_url()), objects, settings, "embedded")
        hooks = WebhookDispatcher(open_store(settings.store_url()), keys, settings, "embedded")
        return cls(worker, hooks, _Identity(engine.name, engine.version))

    def start(self) -> None:
        from foleyserve.worker.webhooks import start_dispatcher

        thread = threading.Thread(target=self.worker.run, name="foleyserve-worker", daemon=True)
        thread.start()
        self.threads = [thread, start_dispatcher(self.hooks, self.worker.stop)]

    def stop(self) -> None:
        """Let the running batch finish (within the grace period), then close both stores."""
        self.worker.request_stop()
        settings = self.worker.settings
        for thread in self.threads:
            thread.join(timeout=settings.shutdown_grace_s + settings.lease_s)
        self.worker.store.close()
        self.hooks.close()
        self.hooks.store.close()


def _engine_identity(settings: Settings) -> _Identity:
    """The engine's name and version without loading it (no weights on API servers)."""
    if settings.engine == "null":
        from foleyserve.engines.null import NullEngine

        return _Identity(NullEngine.name, NullEngine.version)
    if settings.engine == "hunyuan":
        from foleyserve.engines.hunyuan.factory import hunyuan_identity

        return _Identity(*hunyuan_identity(settings))
    from foleyserve.engines.procedural.engine import ProceduralEngine

    return _Identity(ProceduralEngine.name, ProceduralEngine.version)


def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """The API and one worker in this process: SQLite and a local folder by default."""
    _run(host, port, embedded=True)


def api(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """The API alone (stateless; run workers with `foleyserve worker`)."""
    _run(host, port, embedded=False)


keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _open_keys() -> KeyStore:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_key_store(settings.keys_url())


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant id; created if new.")],
    admin: Annotated[bool, typer.Option(help="The tenant may manage others.")] = False,
    max_queued: Annotated[
        int | None,
        typer.Option(
            help="A new tenant's quota of queued jobs (FOLEYSERVE_TENANT_MAX_QUEUED_JOBS)."
        ),
    ] = None,
    gpu_seconds_per_hour: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="A new tenant's quota of estimated GPU-seconds per hour "
            "(FOLEYSERVE_TENANT_GPU_SECONDS_PER_HOUR).",
        ),
    ] = None,
) -> None:
    """Create a key and print it: the only time it is shown. A new tenant gets the quotas
    given (or the settings' defaults); an existing one keeps its own."""
    with reported_errors(as_json=False):
        settings = Settings()
        store = _open_keys()
        try:
            if tenant not in {t.id for t in store.list_tenants()}:
                new_tenant = Tenant(
                    id=tenant,
                    name=tenant,
                    admin=admin,
                    max_queued_jobs=settings.tenant_max_queued_jobs
                    if max_queued is None
                    else max_queued,
                    gpu_seconds_per_hour=settings.tenant_gpu_seconds_per_hour
                    if gpu_seconds_per_hour is None
                    else gpu_seconds_per_hour,
                )
                store.create_tenant(new_tenant)
            key, plaintext = store.create_key(tenant, now=datetime.now(UTC))
        finally:
            store.close()
        stderr.print(f"key {key.id} for tenant {tenant}; store it now, it is not shown again:")
        print(plaintext)


@keys_app.command("list")
def keys_list() -> None:
    """Every tenant's keys (prefixes only, never the keys)."""
    with reported_errors(as_json=False):
        store = _open_keys()
        try:
            rows = [
                key.model_dump(mode="json")
                for tenant in store.list_tenants()
                for key in store.list_keys(tenant.id)
            ]
        finally:
            store.close()
        print_json({"keys": rows})


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")]) -> None:
    """Revoke a key for good."""
    with reported_errors(as_json=False):
        store = _open_keys()
        try:
            key = store.revoke_key(key_id, now=datetime.now(UTC))
        finally:
            store.close()
        stderr.print(f"revoked {key.id} ({key.prefix}...) of tenant {key.tenant_id}")
