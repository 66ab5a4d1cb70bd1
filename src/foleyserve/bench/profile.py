"""Cost profiles: how long a worker is busy with a batch, as measured, in a JSON file.

A batch of jobs with durations d_1..d_n costs

    batch_fixed_s + sum_i (job_fixed_s + job_per_audio_s * d_i) + steps * step_s(n, longest)

`batch_fixed_s` is the worker's turn (queue snapshot, plan, claim, heartbeat); `job_fixed_s`
what every job pays once (prompt and video encoders, storing, completing); `job_per_audio_s`
what grows with its audio (synthesis on the CPU, the DAC decoder, loudness, encoding). On a GPU
the denoising steps dominate: `step_ms` maps a batch size to the measured milliseconds of one
step for clips of `step_reference_s`; a batch of n clips of length d does the work of
n x d / step_reference_s reference rows, so `step_s` reads the table there (interpolated
linearly, extrapolated from the last two points, and never below the one-row time: small
batches are bound by kernel launches, not by arithmetic).

`measure_worker_profile` fits the first three terms from timed batches of the real worker
(`Worker.run_once` on SQLite and a folder, in process); GPU profiles add the DiT table.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foleyserve.bench.report import Outcome, batch_spans
from foleyserve.errors import InvalidInput


@dataclass(frozen=True)
class DeviceMemory:
    """Predicted peak device memory of a batch: fixed + n x longest_s x per_item_s."""

    capacity_bytes: int
    fixed_bytes: int
    bytes_per_item_s: float

    def bytes_for(self, batch_size: int, duration_s: float) -> int:
        return self.fixed_bytes + int(batch_size * duration_s * self.bytes_per_item_s)


@dataclass(frozen=True)
class CostProfile:
    name: str
    engine: str
    device: str
    source: str
    """How it was measured (command, machine, date)."""
    batch_fixed_s: float
    job_fixed_s: float
    job_per_audio_s: float
    steps: int = 0
    step_ms: Mapping[int, float] = field(default_factory=dict)
    step_reference_s: float = 10.0
    batch_by_duration: bool = False
    """True: only jobs of one exact duration share a batch (HunyuanVideo-Foley's latent
    length); False: any mix may (the procedural engine)."""
    max_batch_size: int = 16
    memory: DeviceMemory | None = None
    """None: no device memory limit (a CPU)."""
    host_rss_fixed_bytes: int | None = None
    """Measured resident memory of a worker process with its engine loaded, idle."""
    host_rss_per_job_s_bytes: float | None = None
    """Measured extra resident memory per second of audio in flight."""
    jitter: tuple[float, ...] = ()
    """Measured batch time over modelled batch time, one ratio per timed batch: the spread a
    prediction draws from (`predict` multiplies each batch by one, drawn with a seed). Empty:
    every batch costs exactly the model."""
    weights_bytes: int = 0
    """Model files on disk (every worker host needs a copy)."""
    gpu_hour_usd: float | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("batch_fixed_s", "job_fixed_s", "job_per_audio_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInput(
                    f"profile {self.name}: {name} must be >= 0, got {value}", code="invalid_profile"
                )
        if self.steps and not self.step_ms:
            raise InvalidInput(
                f"profile {self.name}: steps need a step_ms table", code="invalid_profile"
            )
        if any(not (math.isfinite(r) and r > 0) for r in self.jitter):
            raise InvalidInput(
                f"profile {self.name}: jitter ratios must be > 0", code="invalid_profile"
            )
        if any(n < 1 or not ms > 0 for n, ms in self.step_ms.items()):
            raise InvalidInput(
                f"profile {self.name}: step_ms needs batch sizes >= 1 and ms > 0",
                code="invalid_profile",
            )

    def step_s(self, batch_size: int, longest_s: float) -> float:
        """Seconds of one denoising step for this batch (see the module docstring)."""
        if not self.step_ms:
            return 0.0
        rows = max(1.0, batch_size * longest_s / self.step_reference_s)
        points = sorted(self.step_ms.items())
        if len(points) == 1:
            return points[0][1] / 1000 * rows / points[0][0]
        floor_ms = points[0][1]
        for (n0, t0), (n1, t1) in itertools.pairwise(points):
            if rows <= n1:
                return max(floor_ms, t0 + (t1 - t0) * (rows - n0) / (n1 - n0)) / 1000
        (n0, t0), (n1, t1) = points[-2], points[-1]
        return max(floor_ms, t1 + (t1 - t0) / (n1 - n0) * (rows - n1)) / 1000

    def batch_s(self, durations_s: Sequence[float]) -> float:
        """Seconds a worker is busy with a batch of jobs of these durations."""
        if not durations_s:
            return 0.0
        per_job = sum(self.job_fixed_s + self.job_per_audio_s * d for d in durations_s)
        denoise = self.steps * self.step_s(len(durations_s), max(durations_s))
        return self.batch_fixed_s + per_job + denoise

    def service_time_s(self, batch_size: int, longest_s: float) -> float:
        return self.batch_s([longest_s] * batch_size)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["step_ms"] = {str(k): v for k, v in sorted(self.step_ms.items())}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CostProfile:
        fields = dict(data)
        try:
            fields["step_ms"] = {int(k): float(v) for k, v in fields.get("step_ms", {}).items()}
            fields["jitter"] = tuple(float(r) for r in fields.get("jitter", ()))
            if fields.get("memory") is not None:
                fields["memory"] = DeviceMemory(**fields["memory"])
            return cls(**fields)
        except (TypeError, ValueError) as e:
            raise InvalidInput(f"not a cost profile: {e}", code="invalid_profile") from e


def load_profile(path: Path) -> CostProfile:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InvalidInput(f"cannot read profile {path}: {e}", code="invalid_profile") from e
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: a profile is a JSON object", code="invalid_profile")
    return CostProfile.from_json(data)


def save_profile(profile: CostProfile, path: Path) -> None:
    path.write_text(json.dumps(profile.to_json(), indent=2) + "\n")


@dataclass(frozen=True)
class Timing:
    """One timed batch: its jobs' durations and the seconds the worker took."""

    durations_s: tuple[float, ...]
    seconds: float


def fit_costs(timings: Sequence[Timing]) -> tuple[float, float, float]:
    """Non-negative least squares `seconds ~ batch_fixed + n * job_fixed + sum(d) * per_audio`
    over the timings (a cost is never negative, and clipping an unconstrained fit would
    overprice every batch). When every batch has one size, the batch and job terms cannot be
    told apart and all of it is charged per job (batch_fixed = 0), which overprices larger
    batches rather than underpricing them. Needs two distinct shapes."""
    import numpy as np
    from scipy.optimize import nnls

    shapes = {(len(t.durations_s), sum(t.durations_s)) for t in timings}
    if len(shapes) < 2:
        raise InvalidInput(
            "fitting a profile needs batches of at least two shapes", code="invalid_profile"
        )
    b = np.array([t.seconds for t in timings])
    if len({n for n, _ in shapes}) == 1:
        a = np.array([[float(len(t.durations_s)), sum(t.durations_s)] for t in timings])
        (per_job, per_audio), _ = nnls(a, b)
        return 0.0, float(per_job), float(per_audio)
    a = np.array([[1.0, len(t.durations_s), sum(t.durations_s)] for t in timings])
    (fixed, per_job, per_audio), _ = nnls(a, b)
    return float(fixed), float(per_job), float(per_audio)


def fit_from_run(
    outcomes: Sequence[Outcome], *, name: str, engine: str, device: str, source: str
) -> CostProfile:
    """A profile fitted to the batches of a real run (each batch's busy interval against its
    jobs' durations): what a server under that run's conditions actually spent. Only batches
    whose every job succeeded count, so a partial batch does not look cheap."""
    timings = [
        Timing(b.durations_s, b.end_s - b.start_s)
        for b in batch_spans(o for o in outcomes if o.succeeded)
        if len(b.durations_s) == b.size
    ]
    fixed, per_job, per_audio = fit_costs(timings)
    profile = CostProfile(
        name=name,
        engine=engine,
        device=device,
        source=source,
        batch_fixed_s=fixed,
        job_fixed_s=per_job,
        job_per_audio_s=per_audio,
    )
    return replace(profile, jitter=jitter_of(profile, timings))


def jitter_of(profile: CostProfile, timings: Sequence[Timing]) -> tuple[float, ...]:
    """Each timing over what `profile` predicts for it (see `CostProfile.jitter`), scaled to
    mean 1 so that drawing them keeps the model's mean cost (a least-squares fit's ratios
    need not average 1: a slow small batch weighs as much as a large one)."""
    ratios = [
        t.seconds / modelled
        for t in timings
        if (modelled := profile.batch_s(t.durations_s)) > 0 and t.seconds > 0
    ]
    if not ratios:
        return ()
    average = sum(ratios) / len(ratios)
    return tuple(r / average for r in ratios)


def now_label() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
