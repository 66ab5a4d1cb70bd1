"""`foleyserve worker`: one process per device, the engine loaded once, jobs from the queue."""

from __future__ import annotations

import logging
import os
import signal
import socket
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
) -> None:
    """Run jobs from the queue until SIGTERM (then finish the batch within the grace period)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with reported_errors(as_json=False):
        overrides = {k: v for k, v in (("store", store), ("storage", storage)) if v is not None}
        settings = Settings(**overrides)  # type: ignore[arg-type]
        offline_hub()
        from foleyserve.engines.registry import create_engine
        from foleyserve.storage import open_object_store
        from foleyserve.store import open_store
        from foleyserve.worker.loop import Worker

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
        stderr.print(f"worker {name} ready: engine {engine.name}, policy {settings.batch_policy}")
        try:
            loop.run()
        finally:
            job_store.close()
            objects.close()
