"""Content-addressed caches: results, video features, text features.

Keys (DESIGN.md):
- result: sha256(video bytes) + engine name/version + canonical JSON of every parameter that
  changes the output. A hit answers a job with no engine work at all.
- video features: sha256(video bytes) + the engine's feature version. A new prompt on a video
  seen before skips decoding and the video encoders.
- text features: the engine's text version + (prompt, negative prompt).

Objects live in the ObjectStore under `cache/<namespace>/`; the index (sizes, last use) lives in
the JobStore, which evicts least recently used entries past `max_bytes`. Hits and misses are
counted per cache for the metrics.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from safetensors import numpy as safetensors_numpy

from foleyserve.engines.base import FeatureTrack, FoleyEngine, TextFeatures, VideoFeatures
from foleyserve.errors import StorageError
from foleyserve.params import RenderParams
from foleyserve.storage.base import ObjectStore
from foleyserve.store.base import CacheEntry, JobStore


class EngineIdentity(Protocol):
    """Name and version are enough for result keys: the API knows them without loading weights."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


RESULTS = "results"
VIDEO_FEATURES = "video-features"
TEXT_FEATURES = "text-features"


def _digest(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def result_key(
    engine: EngineIdentity, video_sha256: str | None, duration_s: float, params: RenderParams
) -> str:
    """Every input that changes the output file, and nothing else."""
    return _digest(
        {
            "engine": [engine.name, engine.version],
            "video": video_sha256,
            "duration_s": None if video_sha256 else round(duration_s, 3),
            "prompt": params.prompt,
            "negative_prompt": params.negative_prompt,
            "seed": params.seed,
            "steps": params.steps,
            "guidance": params.guidance,
            "format": params.output_format.value,
            "mix_original_db": params.mix_original_db,
        }
    )


def video_feature_key(engine: FoleyEngine, video_sha256: str) -> str:
    return _digest({"features": engine.feature_version, "video": video_sha256})


def text_feature_key(engine: FoleyEngine, prompt: str, negative_prompt: str) -> str:
    return _digest({"text": engine.text_version, "pair": [prompt, negative_prompt]})


@dataclass
class ObjectCache:
    """One size-bounded namespace of cached bytes."""

    namespace: str
    store: JobStore
    objects: ObjectStore
    max_bytes: int
    clock: Callable[[], datetime]
    hits: int = 0
    misses: int = 0

    def get(self, key: str) -> bytes | None:
        entry = self.store.cache_get(self.namespace, key, now=self.clock())
        data = None
        if entry is not None:
            try:
                data = self.objects.get_bytes(entry.object_key)
            except StorageError as e:
                if e.code != "object_not_found":
                    raise
                # The object went away (deleted by hand, or a race with eviction): a miss.
        if data is None:
            self.misses += 1
        else:
            self.hits += 1
        return data

    def put(self, key: str, data: bytes, *, accounted_bytes: int | None = None) -> None:
        """Store `data` under `key`. `accounted_bytes` counts against `max_bytes` instead of
        `len(data)` when the entry stands for a larger object (a result file)."""
        object_key = f"cache/{self.namespace}/{key[:2]}/{key}"
        size = self.objects.put_bytes(object_key, data)
        entry = CacheEntry(object_key, size if accounted_bytes is None else accounted_bytes)
        self.store.cache_put(self.namespace, key, entry, now=self.clock())
        for evicted in self.store.cache_evict(self.namespace, max_bytes=self.max_bytes):
            self.objects.delete(evicted.object_key)


# -- (de)serialisation: safetensors with a JSON header; never pickle ---------------------


def encode_video_features(features: VideoFeatures) -> bytes:
    header = {
        "feature_version": features.feature_version,
        "duration_s": features.duration_s,
        "start_s": features.start_s,
        "rates_hz": {name: track.rate_hz for name, track in features.tracks.items()},
    }
    arrays = {f"track:{name}": track.values for name, track in features.tracks.items()}
    return _pack(header, arrays)


def decode_video_features(data: bytes) -> VideoFeatures:
    header, arrays = _unpack(data)
    tracks = {
        name: FeatureTrack(float(rate), arrays[f"track:{name}"])
        for name, rate in header["rates_hz"].items()
    }
    return VideoFeatures(
        header["feature_version"], float(header["duration_s"]), tracks, float(header["start_s"])
    )


def encode_text_features(text: TextFeatures) -> bytes:
    header = {
        "text_version": text.text_version,
        "prompt": text.prompt,
        "negative_prompt": text.negative_prompt,
    }
    return _pack(header, {f"value:{k}": v for k, v in text.values.items()})


def decode_text_features(data: bytes) -> TextFeatures:
    header, arrays = _unpack(data)
    values = {k.removeprefix("value:"): v for k, v in arrays.items()}
    return TextFeatures(header["text_version"], header["prompt"], header["negative_prompt"], values)


def _pack(header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> bytes:
    contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return safetensors_numpy.save(contiguous, metadata={"header": json.dumps(header)})


def _unpack(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    (header_bytes,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(data[8 : 8 + header_bytes]).get("__metadata__", {})
    return json.loads(metadata["header"]), safetensors_numpy.load(data)
