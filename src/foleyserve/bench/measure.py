"""Measure a cost profile from the real worker, in process.

Text-only jobs of each (batch size, duration) shape are queued into a fresh SQLite store, and
one `Worker.run_once` (which plans, claims, renders, encodes, stores and completes exactly that
batch) is timed per shape; `fit_costs` turns the timings into a `CostProfile`. The worker's
resident memory is read before and at the end (psutil), for the RAM rule.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

import psutil

from foleyserve.bench.profile import CostProfile, Timing, fit_costs, jitter_of, now_label, timed
from foleyserve.engines.base import FoleyEngine
from foleyserve.jobs.model import JobState
from foleyserve.params import OutputFormat, RenderParams
from foleyserve.settings import Settings

PROMPTS = ("footsteps on gravel", "rain on a tin roof", "glass shatters", "a door slams")


def measure_worker_profile(
    settings: Settings,
    *,
    batch_sizes: Sequence[int] = (1, 2, 4, 8),
    durations_s: Sequence[float] = (2.0, 8.0),
    repeats: int = 2,
    progress: Callable[[str], None] | None = None,
) -> tuple[CostProfile, list[Timing]]:
    """Time the worker on every shape `repeats` times (after one warm-up batch) and fit."""
    from foleyserve.engines.registry import create_engine

    me = psutil.Process()
    engine = create_engine(settings)
    rss_idle = int(me.memory_info().rss)
    shapes = [(1, durations_s[0])] + [(n, d) for n in batch_sizes for d in durations_s] * repeats
    with TemporaryDirectory(prefix="foleyserve-profile-") as tmp:
        local = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "batch_policy": "dynamic",
                "max_batch_wait_ms": 0.0,
                "max_batch_size": max(batch_sizes),
                "store": None,
                "storage": None,
            }
        )
        timings, peak_rss = _time_batches(engine, local, shapes, progress)
    fixed, per_job, per_audio = fit_costs(timings)
    longest = max(n * d for n in batch_sizes for d in durations_s)
    base = CostProfile(
        name=f"{engine.name}-{platform.machine()}",
        engine=engine.name,
        device=f"{psutil.cpu_count()} CPU cores ({platform.machine()}), no GPU",
        source=f"foleyserve bench profile, {now_label()}, {len(timings)} timed batches",
        batch_fixed_s=fixed,
        job_fixed_s=per_job,
        job_per_audio_s=per_audio,
        max_batch_size=engine.profile.max_batch_size,
        host_rss_fixed_bytes=rss_idle,
        host_rss_per_job_s_bytes=max(0.0, (peak_rss - rss_idle) / longest),
    )
    return replace(base, jitter=jitter_of(base, timings)), timings


def _time_batches(
    engine: FoleyEngine,
    settings: Settings,
    shapes: Sequence[tuple[int, float]],
    progress: Callable[[str], None] | None,
) -> tuple[list[Timing], int]:
    """Queue each shape's jobs and time the one `run_once` that runs them. Returns the
    timings (the first, warm-up batch left out) and the peak resident memory seen."""
    from foleyserve.jobs.service import JobService
    from foleyserve.storage.local import LocalObjectStore
    from foleyserve.store import open_store
    from foleyserve.worker.context import Caches
    from foleyserve.worker.loop import Worker

    me = psutil.Process()
    store = open_store(settings.store_url())
    objects = LocalObjectStore(Path(settings.storage_url()))
    worker = Worker(engine, store, objects, settings, "profile")
    caches = Caches.create(store, objects, settings, worker.clock)
    service = JobService(store, objects, settings, engine, caches.results, worker.clock)
    timings: list[Timing] = []
    peak_rss = int(me.memory_info().rss)
    seed = 0
    try:
        for i, (n, d) in enumerate(shapes):
            for _ in range(n):
                seed += 1
                prompt = PROMPTS[seed % len(PROMPTS)]
                params = RenderParams(prompt, seed=seed, output_format=OutputFormat.WAV)
                service.submit_text(d, params, tenant="profile")
            seconds = timed(worker.run_once)
            if store.counts()[JobState.QUEUED]:
                raise RuntimeError(f"the worker left jobs of a batch of {n} queued")
            peak_rss = max(peak_rss, int(me.memory_info().rss))
            if i > 0:  # the first batch warms caches and allocators
                timings.append(Timing((d,) * n, seconds))
            if progress is not None:
                progress(f"batch {n} x {d:g} s: {seconds * 1000:.0f} ms")
    finally:
        store.close()
    return timings, peak_rss
