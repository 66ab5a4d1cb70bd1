"""The open-loop load generator: submit a workload to a running server on schedule, and watch
every job to its end.

Open loop: each job is sent at its `at_s` whatever happened to the ones before (a thread pool
does the sending, so a slow answer never delays the next arrival), which is how real users
arrive and what exposes queueing. A poller reads `GET /v1/jobs/{id}` for every unfinished
job, and the job's own timings (created, started, finished; its batch and worker) become its
`Outcome`. A submission the server refuses (rate limit, full queue, bad input) is an
`Outcome` with state `rejected` and the error's code: nothing is retried, nothing is lost.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from foleyserve.bench.report import Outcome
from foleyserve.bench.workload import PlannedJob
from foleyserve.jobs.model import FINISHED_STATES

REJECTED = "rejected"
UNFINISHED = "unfinished"
_FINISHED = {str(s) for s in FINISHED_STATES}

ProgressFn = Callable[[int, int, int], None]
"""`progress(submitted, finished, total)`."""


@dataclass(frozen=True)
class LoadOptions:
    base_url: str
    api_keys: Mapping[str, str]
    """Tenant label -> API key; a tenant without one sends no Authorization header."""
    video: Path | None = None
    """Upload this video with every job (the seed varies, so no result-cache hits); None:
    text-only jobs (`duration_s` from the workload)."""
    output_format: str = "wav"
    steps: int | None = None
    """Sent with every job (denoising steps); None: the engine's default."""
    time_limit_s: float = math.inf
    """Stop submitting, and stop waiting, this long after the start."""
    drain_s: float = 300.0
    """After the last submission, wait at most this long for jobs to finish."""
    poll_interval_s: float = 0.25
    checks_per_poll: int = 4
    """Unfinished jobs read per poll (the oldest first)."""
    request_timeout_s: float = 60.0
    senders: int = 16
    """Threads submitting at once (an upload may take a while)."""


def run_load(
    jobs: Sequence[PlannedJob],
    options: LoadOptions,
    *,
    progress: ProgressFn | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[Outcome]:
    """Run the workload against `options.base_url`; one `Outcome` per job, in workload order."""
    run = _LoadRun(jobs, options, progress)
    with httpx.Client(
        base_url=options.base_url, timeout=options.request_timeout_s, transport=transport
    ) as client:
        return run.run(client)


class _LoadRun:
    def __init__(
        self, jobs: Sequence[PlannedJob], options: LoadOptions, progress: ProgressFn | None
    ) -> None:
        self.jobs = list(jobs)
        self.options = options
        self.progress = progress
        self.lock = threading.Lock()
        self.outcomes: list[Outcome | None] = [None] * len(self.jobs)
        self.job_ids: dict[int, str] = {}
        """Index -> server job id, for jobs accepted and not yet finished."""
        self.submitted = 0
        self.sending_done = threading.Event()

    def run(self, client: httpx.Client) -> list[Outcome]:
        start = time.monotonic()
        stop_at = start + self.options.time_limit_s
        sender = threading.Thread(target=self._send_all, args=(client, start, stop_at))
        sender.start()
        try:
            self._poll(client, stop_at)
        finally:
            sender.join()
        return [
            o if o is not None else self._unfinished(self.jobs[i])
            for i, o in enumerate(self.outcomes)
        ]

    def _send_all(self, client: httpx.Client, start: float, stop_at: float) -> None:
        try:
            with ThreadPoolExecutor(self.options.senders, thread_name_prefix="bench-send") as pool:
                for index, job in enumerate(self.jobs):
                    due = start + job.at_s
                    if due > stop_at:
                        break
                    time.sleep(max(0.0, due - time.monotonic()))
                    pool.submit(self._send, client, index, job)
        finally:
            self.sending_done.set()

    def _send(self, client: httpx.Client, index: int, job: PlannedJob) -> None:
        outcome, job_id = self._submit(client, job)
        with self.lock:
            self.submitted += 1
            if outcome is not None:
                self.outcomes[index] = outcome
            elif job_id is not None:
                self.job_ids[index] = job_id
        self._report()

    def _submit(self, client: httpx.Client, job: PlannedJob) -> tuple[Outcome | None, str | None]:
        """(its outcome if it is already over, else None; the server's job id if accepted)."""
        try:
            response = self._post(client, job)
        except httpx.HTTPError as e:
            return self._rejected(job, f"transport_{type(e).__name__}"), None
        body = _json(response)
        if response.status_code not in (200, 202) or "id" not in body:
            code = (body.get("error") or {}).get("code") or f"http_{response.status_code}"
            return self._rejected(job, str(code)), None
        if body.get("state") in _FINISHED:
            return _outcome(job, body), None
        return None, str(body["id"])

    def _post(self, client: httpx.Client, job: PlannedJob) -> httpx.Response:
        fields: dict[str, Any] = {
            "prompt": job.prompt,
            "seed": job.seed,
            "priority": str(job.priority),
            "output_format": self.options.output_format,
        }
        if self.options.steps is not None:
            fields["steps"] = self.options.steps
        headers = {}
        key = self.options.api_keys.get(job.tenant)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if self.options.video is None:
            return client.post(
                "/v1/jobs", json=fields | {"duration_s": job.duration_s}, headers=headers
            )
        with self.options.video.open("rb") as f:
            data = {k: str(v) for k, v in fields.items()}
            files = {"video": (self.options.video.name, f, "video/mp4")}
            return client.post("/v1/jobs", data=data, files=files, headers=headers)

    def _poll(self, client: httpx.Client, stop_at: float) -> None:
        """Until every sent job is finished (the sender sets `sending_done` only once every
        send has returned), or the time limit or the drain time is up."""
        give_up = stop_at + self.options.drain_s
        while True:
            with self.lock:
                watching = dict(self.job_ids)
            if self.sending_done.is_set():
                if not watching:
                    return
                give_up = min(give_up, time.monotonic() + self.options.drain_s)
            if time.monotonic() > give_up:
                return
            # Oldest first, a few a round: the figures come from the server's timestamps, so
            # polling less often costs nothing but a later progress bar, and the server under
            # test is not kept busy answering us.
            for index in sorted(watching)[: self.options.checks_per_poll]:
                self._check(client, index, watching[index])
            time.sleep(self.options.poll_interval_s)

    def _check(self, client: httpx.Client, index: int, job_id: str) -> None:
        job = self.jobs[index]
        key = self.options.api_keys.get(job.tenant)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            response = client.get(f"/v1/jobs/{job_id}", headers=headers)
        except httpx.HTTPError:
            return  # try again next round; the job is the server's to keep
        if response.status_code != 200:
            return
        body = _json(response)
        if body.get("state") in _FINISHED:
            with self.lock:
                self.outcomes[index] = _outcome(job, body)
                del self.job_ids[index]
            self._report()

    def _report(self) -> None:
        if self.progress is None:
            return
        with self.lock:
            finished = sum(1 for o in self.outcomes if o is not None)
            submitted = self.submitted
        self.progress(submitted, finished, len(self.jobs))

    @staticmethod
    def _rejected(job: PlannedJob, code: str) -> Outcome:
        return Outcome(job.priority, job.tenant, job.duration_s, REJECTED, error_code=code)

    @staticmethod
    def _unfinished(job: PlannedJob) -> Outcome:
        return Outcome(job.priority, job.tenant, job.duration_s, UNFINISHED)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _outcome(job: PlannedJob, body: Mapping[str, Any]) -> Outcome:
    result = body.get("result") or {}
    error = body.get("error") or {}
    return Outcome(
        priority=job.priority,
        tenant=job.tenant,
        duration_s=job.duration_s,
        state=str(body["state"]),
        error_code=error.get("code"),
        created_s=_unix(body.get("created_at")),
        started_s=_unix(body.get("started_at")),
        finished_s=_unix(body.get("finished_at")),
        batch_size=result.get("batch_size"),
        batch_id=result.get("batch_id"),
        worker_id=result.get("worker_id"),
    )


def _unix(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
