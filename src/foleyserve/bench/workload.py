"""Workloads for benchmarks: what jobs arrive, and when.

A workload is a list of `PlannedJob`s sorted by `at_s` (seconds after the run starts). It comes
from `poisson_trace` (open-loop Poisson arrivals at a set rate, drawn from a `Mix` of clip
durations, prompts, priorities and tenants, reproducible for a seed) or from a trace file
(`read_trace`: one JSON object per line, the fields of `PlannedJob`). The same workload drives a
real server (`bench.load`) and the simulator (`bench.predict`), which is what makes their
figures comparable.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from foleyserve.errors import InvalidInput
from foleyserve.jobs.model import Priority

DEFAULT_PROMPTS = (
    "footsteps on gravel",
    "rain on a tin roof",
    "glass shatters",
    "a door slams",
    "wind through trees",
)


@dataclass(frozen=True)
class PlannedJob:
    """One job of a workload."""

    at_s: float
    """When to submit it, in seconds after the start of the run."""
    duration_s: float
    """The length of audio asked for (a text-only job)."""
    prompt: str
    priority: Priority = Priority.NORMAL
    tenant: str = "local"
    """A label; the load generator maps it to an API key."""
    seed: int = 0
    """Distinct per job, so that no job is answered from the result cache."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.at_s) and self.at_s >= 0):
            raise InvalidInput(f"at_s must be >= 0, got {self.at_s}", code="invalid_trace")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise InvalidInput(
                f"duration_s must be > 0, got {self.duration_s}", code="invalid_trace"
            )
        if not self.prompt:
            raise InvalidInput("prompt must not be empty", code="invalid_trace")


@dataclass(frozen=True)
class Mix:
    """What the jobs of a generated workload are made of; each draw is independent."""

    durations_s: Mapping[float, float] = field(default_factory=lambda: {4.0: 1.0, 8.0: 1.0})
    """Clip duration -> relative weight."""
    priorities: Mapping[Priority, float] = field(default_factory=lambda: {Priority.NORMAL: 1.0})
    """Priority -> relative weight."""
    tenants: Mapping[str, float] = field(default_factory=lambda: {"local": 1.0})
    """Tenant label -> relative weight."""
    prompts: Sequence[str] = DEFAULT_PROMPTS

    def __post_init__(self) -> None:
        for name in ("durations_s", "priorities", "tenants"):
            weights: Mapping[Any, float] = getattr(self, name)
            if not weights or any(not (w >= 0 and math.isfinite(w)) for w in weights.values()):
                raise InvalidInput(f"{name}: weights must be finite and >= 0", code="invalid_mix")
            if sum(weights.values()) <= 0:
                raise InvalidInput(f"{name}: some weight must be > 0", code="invalid_mix")
        if any(not d > 0 for d in self.durations_s):
            raise InvalidInput("durations must be > 0 s", code="invalid_mix")
        if not self.prompts or not all(self.prompts):
            raise InvalidInput("prompts must be non-empty strings", code="invalid_mix")

    @property
    def mean_duration_s(self) -> float:
        total = sum(self.durations_s.values())
        return sum(d * w for d, w in self.durations_s.items()) / total


def poisson_trace(
    rate_per_s: float,
    *,
    count: int,
    mix: Mix | None = None,
    seed: int = 0,
    horizon_s: float | None = None,
) -> list[PlannedJob]:
    """`count` jobs with exponential gaps of mean `1 / rate_per_s` (a Poisson process), the
    first at its first gap; fewer when `horizon_s` cuts the trace. Equal arguments give equal
    traces. Seeds are `seed * 1_000_003 + index`, distinct per job."""
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise InvalidInput(f"rate must be > 0 jobs/s, got {rate_per_s}", code="invalid_rate")
    if count < 0:
        raise InvalidInput(f"count must be >= 0, got {count}", code="invalid_count")
    mix = mix or Mix()
    rng = random.Random(seed)
    durations, d_weights = list(mix.durations_s), list(mix.durations_s.values())
    priorities, p_weights = list(mix.priorities), list(mix.priorities.values())
    tenants, t_weights = list(mix.tenants), list(mix.tenants.values())
    jobs: list[PlannedJob] = []
    at_s = 0.0
    for index in range(count):
        at_s += rng.expovariate(rate_per_s)
        if horizon_s is not None and at_s > horizon_s:
            break
        jobs.append(
            PlannedJob(
                at_s=at_s,
                duration_s=rng.choices(durations, d_weights)[0],
                prompt=rng.choice(list(mix.prompts)),
                priority=rng.choices(priorities, p_weights)[0],
                tenant=rng.choices(tenants, t_weights)[0],
                seed=seed * 1_000_003 + index,
            )
        )
    return jobs


def scaled(jobs: Sequence[PlannedJob], factor: float) -> list[PlannedJob]:
    """The same jobs with every arrival time multiplied by `factor` (0.5: twice the rate)."""
    if not factor > 0:
        raise InvalidInput(f"factor must be > 0, got {factor}", code="invalid_rate")
    return [PlannedJob(**(asdict(j) | {"at_s": j.at_s * factor})) for j in jobs]


def write_trace(jobs: Sequence[PlannedJob], path: Path) -> None:
    """One JSON object a line, in arrival order (what `read_trace` reads)."""
    lines = (json.dumps(asdict(j) | {"priority": str(j.priority)}) for j in jobs)
    path.write_text("".join(line + "\n" for line in lines))


def read_trace(path: Path) -> list[PlannedJob]:
    """A trace file: one JSON object a line with `at_s`, `duration_s`, `prompt` and optionally
    `priority`, `tenant`, `seed` (blank lines skipped). Sorted by `at_s` on the way in. Raises
    `InvalidInput(code="invalid_trace")` naming the line of the first bad entry."""
    try:
        text = path.read_text()
    except OSError as e:
        raise InvalidInput(f"cannot read trace {path}: {e.strerror}", code="invalid_trace") from e
    jobs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            jobs.append(_parse_line(line))
        except (ValueError, TypeError, InvalidInput) as e:
            message = e.message if isinstance(e, InvalidInput) else str(e)
            raise InvalidInput(f"{path}:{number}: {message}", code="invalid_trace") from e
    return sorted(jobs, key=lambda j: j.at_s)


_TRACE_FIELDS = {"at_s", "duration_s", "prompt", "priority", "tenant", "seed"}


def _parse_line(line: str) -> PlannedJob:
    entry = json.loads(line)
    if not isinstance(entry, dict):
        raise ValueError("each line must be a JSON object")
    unknown = set(entry) - _TRACE_FIELDS
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    missing = {"at_s", "duration_s", "prompt"} - set(entry)
    if missing:
        raise ValueError(f"missing fields {sorted(missing)}")
    return PlannedJob(
        at_s=float(entry["at_s"]),
        duration_s=float(entry["duration_s"]),
        prompt=str(entry["prompt"]),
        priority=Priority(entry.get("priority", "normal")),
        tenant=str(entry.get("tenant", "local")),
        seed=int(entry.get("seed", 0)),
    )


def parse_weights(text: str, *, what: str) -> dict[str, float]:
    """`"a:3,b:1"` (or `"a,b"`: equal weights) -> {"a": 3.0, "b": 1.0}, for CLI options."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise InvalidInput(
                f"{what}: {part!r} is not NAME[:WEIGHT]", code="invalid_mix"
            ) from None
    if not weights:
        raise InvalidInput(f"{what}: give at least one NAME[:WEIGHT]", code="invalid_mix")
    return weights


def mix_from_options(
    durations: str, priorities: str, tenants: str, prompts: Sequence[str] | None
) -> Mix:
    """A `Mix` from the CLI's `--durations 4:1,8:1 --priorities normal:8,high:1 --tenants a,b`."""
    try:
        durations_s = {float(k): w for k, w in parse_weights(durations, what="durations").items()}
        prios = {Priority(k): w for k, w in parse_weights(priorities, what="priorities").items()}
    except ValueError as e:
        raise InvalidInput(str(e), code="invalid_mix") from None
    return Mix(
        durations_s=durations_s,
        priorities=prios,
        tenants=parse_weights(tenants, what="tenants"),
        prompts=tuple(prompts) if prompts else DEFAULT_PROMPTS,
    )
