"""`foleyserve worker`: one process per device, the engine loaded once, jobs from the queue."""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from foleyserve.cli.common import offline_hub, reported_errors, stderr
from foleyserve.settings import Settings


def worker(
    store: Annotated[
        str | None, typer.Option(help="Job store URL (default: FOLEYSERVE_STORE, else SQLite).")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="Object store URL (default: FOLEYSERVE_STORAGE).")
    ] = None,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="Worker name (default: host:pid).")
    ] = None,
    engine_name: Annotated[
        str | None,
        typer.Option("--engine", help="procedural or hunyuan (default: FOLEYSERVE_ENGINE)."),
    ] = None,
    model_dir: Annotated[
        Path | None, typer.Option(help="hunyuan: the model files (FOLEYSERVE_HUNYUAN_MODEL_DIR).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="hunyuan: cuda:K or cpu (FOLEYSERVE_HUNYUAN_DEVICE).")
    ] = None,
    random_weights: Annotated[
        bool,
        typer.Option(
            "--random-weights",
            help="hunyuan BENCHMARK MODE: random weights, the audio is noise.",
        ),
    ] = False,
) -> None:
    """Run jobs from the queue until SIGTERM (then finish the batch within the grace period)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with reported_errors(as_json=False):
        options = {
            "store": store,
            "storage": storage,
            "engine": engine_name,
            "hunyuan_model_dir": model_dir,
            "hunyuan_device": device,
            "hunyuan_random_weights": random_weights or None,
        }
        overrides = {k: v for k, v in options.items() if v is not None}
        settings = Settings(**overrides)  # type: ignore[arg-type]
        offline_hub()
        from foleyserve.auth.keys import open_key_store
        from foleyserve.engines.registry import create_engine
        from foleyserve.storage import open_object_store
        from foleyserve.store import open_store
        from foleyserve.worker.loop import Worker
        from foleyserve.worker.webhooks import WebhookDispatcher, start_dispatcher

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with stderr.status(f"loading engine {settings.engine!r}"):
            engine = create_engine(settings)
        job_store = open_store(settings.store_url())
        objects = open_object_store(settings.storage_url())
        name = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        loop = Worker(engine, job_store, objects, settings, name)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stderr.print(f"{signal.Signals(signum).name}: finishing the running batch")
            loop.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        # The webhook dispatcher gets a store connection of its own: its deliveries wait on
        # receivers, and the loop's heartbeats must never queue behind them.
        hooks_store = open_store(settings.store_url())
        keys = open_key_store(settings.keys_url())
        hooks = WebhookDispatcher(hooks_store, keys, settings, name)
        hooks_thread = start_dispatcher(hooks, loop.stop)
        if settings.worker_metrics_port is not None:
            from prometheus_client import CollectorRegistry, start_http_server

            registry = CollectorRegistry()
            registry.register(loop.metrics)
            start_http_server(
                settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=registry
            )
        stderr.print(f"worker {name} ready: engine {engine.name}, policy {settings.batch_policy}")
        try:
            loop.run()
        finally:
            loop.stop.set()
            hooks_thread.join(timeout=hooks.lease_s)
            hooks.close()
            hooks_store.close()
            keys.close()
            job_store.close()
            objects.close()
