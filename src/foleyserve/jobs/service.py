"""Submitting jobs: validate, hash, answer from the result cache, or store the upload and queue.

The HTTP API and the tests call this; workers never do. It needs the engine's name and version
(for result keys) but not the engine itself, so API servers load no model.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from foleyserve.cache import EngineIdentity, ObjectCache, result_key
from foleyserve.errors import InvalidInput, QueueFull, RateLimited, StorageError
from foleyserve.jobs.model import Job, JobResult, JobSpec, Priority, WebhookEvent
from foleyserve.media.probe import probe
from foleyserve.params import RenderParams, check_params
from foleyserve.settings import Settings
from foleyserve.storage.base import ObjectStore
from foleyserve.store.base import JobStore


class Admit(Protocol):
    """A last check of a job about to be queued (quotas, cost-charged rate limits)."""

    @property
    def tenant_max_queued(self) -> int | None:
        """The most jobs its tenant may have queued: the store holds it in the submission's own
        transaction (a check beforehand could not: concurrent submissions would all pass it)."""
        ...

    def __call__(self, spec: JobSpec) -> None:
        """Raises to refuse the job."""
        ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class JobService:
    store: JobStore
    objects: ObjectStore
    settings: Settings
    engine: EngineIdentity
    results: ObjectCache
    clock: Callable[[], datetime]

    def submit_video(
        self,
        video: Path,
        params: RenderParams,
        *,
        tenant: str,
        priority: Priority = Priority.NORMAL,
        deadline: datetime | None = None,
        webhook_url: str | None = None,
        webhook_events: tuple[WebhookEvent, ...] | None = None,
        idempotency_key: str | None = None,
        admit: Admit | None = None,
    ) -> Job:
        """Queue a job for `video` (a local file: the API's spooled upload), or finish it at
        once from the result cache. Bad input raises `InvalidInput` before anything is stored.
        `webhook_events` None: the spec's default (the final states). `admit` sees the spec of
        a job about to be queued (not of a cache hit) and may refuse it by raising."""
        check_params(params, self.settings)
        info = probe(video, self.settings.media_limits())
        sha = sha256_file(video)
        spec = JobSpec.from_params(
            params,
            tenant=tenant,
            video_key=None,
            video_sha256=sha,
            duration_s=info.duration_s,
            priority=priority,
            deadline=deadline,
            **_webhook(webhook_url, webhook_events),
        )
        cached = self._cached_result(result_key(self.engine, sha, info.duration_s, params))
        if cached is not None:
            return self.store.submit_finished(spec, cached, now=self.clock())
        if admit is not None:
            admit(spec)
        key = f"uploads/{uuid.uuid4().hex}/source{video.suffix.lower()}"
        self.objects.put_file(key, video)
        try:
            job, created = self._queue(
                spec.model_copy(update={"video_key": key}), idempotency_key, admit
            )
        except (QueueFull, RateLimited):
            self.objects.delete(key)  # refused for certain: nothing refers to the upload
            raise
        if not created:
            self.objects.delete(key)  # the first submission with this key already stored one
        return job

    def submit_text(
        self,
        duration_s: float,
        params: RenderParams,
        *,
        tenant: str,
        priority: Priority = Priority.NORMAL,
        webhook_url: str | None = None,
        webhook_events: tuple[WebhookEvent, ...] | None = None,
        idempotency_key: str | None = None,
        admit: Admit | None = None,
    ) -> Job:
        """Queue a text-only job: audio of `duration_s` from the prompt alone (`admit` as for
        `submit_video`)."""
        check_params(params, self.settings)
        if params.output_format.is_video:
            raise InvalidInput(
                "a text-only job has no video to put the sound into; choose an audio format.",
                code="video_output_needs_video",
            )
        if not 0 < duration_s <= self.settings.max_video_duration_s:
            raise InvalidInput(
                f"duration {duration_s} s is outside 0..{self.settings.max_video_duration_s} s.",
                code="invalid_duration",
            )
        spec = JobSpec.from_params(
            params,
            tenant=tenant,
            video_key=None,
            video_sha256=None,
            duration_s=duration_s,
            priority=priority,
            **_webhook(webhook_url, webhook_events),
        )
        if admit is not None:
            admit(spec)
        job, _ = self._queue(spec, idempotency_key, admit)
        return job

    def _queue(
        self, spec: JobSpec, idempotency_key: str | None, admit: Admit | None
    ) -> tuple[Job, bool]:
        return self.store.submit(
            spec,
            now=self.clock(),
            idempotency_key=idempotency_key,
            max_queued=self.settings.max_queued_jobs,
            tenant_max_queued=None if admit is None else admit.tenant_max_queued,
            max_attempts=self.settings.max_attempts,
        )

    def _cached_result(self, key: str) -> JobResult | None:
        """The cached result, copied to a key of this job's own (jobs expire independently)."""
        data = self.results.get(key)
        if data is None:
            return None
        cached = JobResult.model_validate_json(data)
        new_key = f"results/{uuid.uuid4().hex}/{Path(cached.audio_key).name}"
        with tempfile.TemporaryDirectory(prefix="foleyserve-") as tmp:
            local = Path(tmp) / "result"
            try:
                self.objects.get_file(cached.audio_key, local)
            except StorageError as e:
                if e.code == "object_not_found":
                    return None  # its job expired and took the file along: compute again
                raise
            self.objects.put_file(new_key, local, content_type=cached.content_type)
        return cached.model_copy(update={"audio_key": new_key})


def _webhook(
    url: str | None, events: tuple[WebhookEvent, ...] | None
) -> dict[str, str | tuple[WebhookEvent, ...] | None]:
    """The spec fields of a job's webhook; events are left to the spec's default if None."""
    if url is None and events:
        raise InvalidInput(
            "webhook_events needs a webhook_url to send them to", code="missing_field"
        )
    return (
        {"webhook_url": url} if events is None else {"webhook_url": url, "webhook_events": events}
    )
