"""What a worker (and the job service) is built from: store, objects, engine, caches, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from foleyserve.cache import RESULTS, TEXT_FEATURES, VIDEO_FEATURES, ObjectCache
from foleyserve.settings import Settings
from foleyserve.storage.base import ObjectStore
from foleyserve.store.base import JobStore


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Caches:
    results: ObjectCache
    video: ObjectCache
    text: ObjectCache

    @classmethod
    def create(
        cls,
        store: JobStore,
        objects: ObjectStore,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
    ) -> Caches:
        def cache(namespace: str, max_bytes: int) -> ObjectCache:
            return ObjectCache(namespace, store, objects, max_bytes, clock)

        return cls(
            results=cache(RESULTS, settings.result_cache_bytes),
            video=cache(VIDEO_FEATURES, settings.feature_cache_bytes),
            text=cache(TEXT_FEATURES, settings.feature_cache_bytes),
        )
