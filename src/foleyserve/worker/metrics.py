"""What a worker measures of itself, in Prometheus form: batch sizes, stage latencies, and its
feature and result caches. The API cannot see these (they live in the worker's process), so a
worker exports them itself: `foleyserve worker` serves them on `FOLEYSERVE_WORKER_METRICS_PORT`
when it is set, and `foleyserve serve` adds them to its own `/metrics`. What the API can see of
a fleet it reads from the store (queue depth, jobs per state, webhooks pending, and each
worker's last report, `JobStore.record_worker`).

`WorkerMetrics` is a prometheus `Collector` whose metrics belong to no registry until one
registers it, so tests and the embedded server each choose where they appear.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from foleyserve.cache import ObjectCache

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
STAGE_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)

STAGES = ("queued", "batch", "fetch", "analyze", "text", "generate", "encode", "store")
"""`queued`: from submission to a worker's claim (each attempt's claim counts). `batch`: one
batch's run, from claim to its last result stored. Within a batch, per job unless said:
`fetch` (the video from the object store), `analyze` (the engine's video features; cache
misses only), `text` (the prompt's features; cache misses only), `generate` (one per batch:
every segment of every job), `encode` (stitch, loudness, encode or mux), `store` (the
result into the object store)."""


class WorkerMetrics(Collector):
    def __init__(self, caches: Iterable[ObjectCache] = ()) -> None:
        self._caches = list(caches)
        self.batch_size = Histogram(
            "foleyserve_batch_size",
            "Jobs per batch run by this worker.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=None,
        )
        self.stage_seconds = Histogram(
            "foleyserve_stage_seconds",
            "Seconds per stage of a job's path (see STAGES in foleyserve.worker.metrics).",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=None,
        )

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)

    def watch(self, caches: Iterable[ObjectCache]) -> None:
        """Report these caches' hits and misses too."""
        self._caches += list(caches)

    def collect(self) -> Iterable[Metric]:
        yield from self.batch_size.collect()
        yield from self.stage_seconds.collect()
        hits = CounterMetricFamily(
            "foleyserve_worker_cache_hits", "Cache hits in this worker.", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "foleyserve_worker_cache_misses", "Cache misses in this worker.", labels=["cache"]
        )
        for cache in self._caches:
            hits.add_metric([cache.namespace], cache.hits)
            misses.add_metric([cache.namespace], cache.misses)
        yield hits
        yield misses
