"""`foleyserve bench ...`: load a server, compare batching policies, measure and predict.

Thin commands over `foleyserve.bench`: they build a workload, call one function, and print a
table (or `--json`). Progress goes to stderr, so stdout stays clean for `--json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from foleyserve.bench.load import LoadOptions, ProgressFn
from foleyserve.bench.workload import PlannedJob
from foleyserve.cli.common import offline_hub, print_json, reported_errors, stderr
from foleyserve.errors import InvalidInput

bench_app = typer.Typer(
    help="Benchmarks: load generator, policy table, profiles, predictions.", no_args_is_help=True
)

RateOpt = Annotated[float, typer.Option(help="Poisson arrivals, jobs per second.")]
CountOpt = Annotated[int, typer.Option(help="How many jobs to send.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the generated workload.")]
TraceOpt = Annotated[
    Path | None, typer.Option(help="Replay this trace (JSON lines) instead of --rate/--count.")
]
DurationsOpt = Annotated[str, typer.Option(help="Clip durations s with weights: 4:1,8:1.")]
PrioritiesOpt = Annotated[str, typer.Option(help="Priorities with weights: normal:8,high:1.")]
TenantsOpt = Annotated[str, typer.Option(help="Tenant labels with weights: a:1,b:1.")]
PromptOpt = Annotated[list[str] | None, typer.Option("--prompt", help="A prompt (repeatable).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ProfileOpt = Annotated[Path, typer.Option(help="A cost profile (JSON, `bench profile`).")]
StepsOpt = Annotated[
    int | None, typer.Option(help="Denoising steps sent with every job (default: the engine's).")
]


def workload(
    rate: float,
    count: int,
    seed: int,
    trace: Path | None,
    durations: str,
    priorities: str,
    tenants: str,
    prompts: list[str] | None,
) -> list[PlannedJob]:
    from foleyserve.bench.workload import mix_from_options, poisson_trace, read_trace

    if trace is not None:
        return read_trace(trace)
    mix = mix_from_options(durations, priorities, tenants, prompts)
    return poisson_trace(rate, count=count, mix=mix, seed=seed)


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Any]:
    """Yields `bar(label) -> ProgressFn`: one rich bar per run (submitted and finished)."""
    progress = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sent {task.fields[sent]}"),
        TimeElapsedColumn(),
        console=stderr,
        disable=not enabled,
    )

    def bar(label: str) -> ProgressFn:
        task = progress.add_task(label, total=None, sent=0)

        def update(submitted: int, finished: int, total: int) -> None:
            progress.update(task, completed=finished, total=total, sent=submitted)

        return update

    with progress:
        yield bar


def _keys(pairs: list[str] | None) -> dict[str, str]:
    keys = {}
    for pair in pairs or []:
        tenant, sep, key = pair.partition("=")
        if not sep or not tenant or not key:
            raise InvalidInput(f"--key wants TENANT=KEY, got {pair!r}", code="invalid_key_option")
        keys[tenant] = key
    return keys


@bench_app.command("load")
def load(
    url: Annotated[str, typer.Argument(help="The server, e.g. http://127.0.0.1:8000.")],
    rate: RateOpt = 1.0,
    count: CountOpt = 20,
    seed: SeedOpt = 0,
    trace: TraceOpt = None,
    durations: DurationsOpt = "4:1,8:1",
    priorities: PrioritiesOpt = "normal",
    tenants: TenantsOpt = "local",
    prompt: PromptOpt = None,
    key: Annotated[list[str] | None, typer.Option(help="TENANT=API_KEY (repeatable).")] = None,
    video: Annotated[Path | None, typer.Option(help="Upload this video with every job.")] = None,
    time_limit_s: Annotated[float, typer.Option(help="Stop sending and waiting after.")] = 3600,
    drain_s: Annotated[float, typer.Option(help="Wait this long for the last jobs.")] = 300,
    save_trace: Annotated[Path | None, typer.Option(help="Write the workload here.")] = None,
    steps: StepsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open-loop load against a running server; per-priority figures at the end."""
    from foleyserve.bench.gpu import GpuSampler
    from foleyserve.bench.load import run_load
    from foleyserve.bench.report import aggregate
    from foleyserve.bench.tables import report_table, summary_lines
    from foleyserve.bench.workload import write_trace

    with reported_errors(as_json=as_json):
        jobs = workload(rate, count, seed, trace, durations, priorities, tenants, prompt)
        if save_trace is not None:
            write_trace(jobs, save_trace)
        if video is not None and not video.is_file():
            raise InvalidInput(f"no such video: {video}", code="file_not_found")
        options = LoadOptions(
            url.rstrip("/"),
            _keys(key),
            video=video,
            output_format="wav",
            time_limit_s=time_limit_s,
            drain_s=drain_s,
            steps=steps,
        )
        with progress_bars(not as_json) as bar, GpuSampler() as gpu:
            outcomes = run_load(jobs, options, progress=bar(f"{len(jobs)} jobs"))
        report = aggregate(outcomes)
        if as_json:
            print_json(report.to_json() | {"gpu_percent": gpu.mean_percent})
            return
        out = Console(width=120)
        out.print(report_table(report, f"load on {url}"))
        for line in summary_lines(report, gpu.mean_percent):
            out.print(line)


@bench_app.command("profile")
def profile(
    output: Annotated[Path, typer.Option("-o", "--output", help="Write the JSON here.")],
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes to time.")] = "1,2,4,8",
    durations: Annotated[str, typer.Option(help="Clip durations s to time.")] = "2,8",
    repeats: Annotated[int, typer.Option(help="Timings per shape.")] = 2,
) -> None:
    """Time the real worker in process (the engine FOLEYSERVE_ENGINE names) and fit a profile."""
    from foleyserve.bench.measure import measure_worker_profile
    from foleyserve.bench.profile import save_profile
    from foleyserve.settings import Settings

    with reported_errors(as_json=False):
        offline_hub()
        sizes = [int(x) for x in batch_sizes.split(",")]
        lengths = [float(x) for x in durations.split(",")]
        result, timings = measure_worker_profile(
            Settings(),
            batch_sizes=sizes,
            durations_s=lengths,
            repeats=repeats,
            progress=stderr.print,
        )
        save_profile(result, output)
        stderr.print(
            f"{result.name}: batch {result.batch_fixed_s * 1000:.1f} ms + per job "
            f"{result.job_fixed_s * 1000:.1f} ms + {result.job_per_audio_s * 1000:.1f} ms per "
            f"audio s ({len(timings)} batches) -> {output}"
        )


@bench_app.command("policies")
def policies(
    rate: RateOpt = 1.0,
    count: CountOpt = 60,
    seed: SeedOpt = 0,
    trace: TraceOpt = None,
    durations: DurationsOpt = "4:1,8:1",
    priorities: PrioritiesOpt = "normal",
    tenants: TenantsOpt = "local",
    prompt: PromptOpt = None,
    workers: Annotated[int, typer.Option(help="Worker processes per server.")] = 1,
    policy: Annotated[list[str] | None, typer.Option(help="Policies (default all).")] = None,
    profile: Annotated[
        Path | None, typer.Option(help="Predict with this profile (default: --fit-from).")
    ] = None,
    fit_from: Annotated[
        str, typer.Option(help="Without --profile: fit one to this policy's run.")
    ] = "none",
    work_dir: Annotated[Path, typer.Option(help="Data dirs of the servers.")] = Path("bench-runs"),
    plots: Annotated[Path | None, typer.Option(help="Write latency-cdf PNG here.")] = None,
    save: Annotated[Path | None, typer.Option(help="Write every outcome as JSON here.")] = None,
    steps: StepsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The same trace against each batching policy, a fresh `foleyserve serve` each."""
    from foleyserve.cli.bench_policies import run_policy_command

    with reported_errors(as_json=as_json):
        jobs = workload(rate, count, seed, trace, durations, priorities, tenants, prompt)
        run_policy_command(
            jobs,
            policy or ["none", "fixed", "dynamic"],
            workers=workers,
            profile=profile,
            fit_from=fit_from,
            work_dir=work_dir,
            plots=plots,
            save=save,
            steps=steps,
            as_json=as_json,
        )


@bench_app.command("predict")
def predict(
    profile: ProfileOpt,
    rate: RateOpt = 1.0,
    count: CountOpt = 2000,
    seed: SeedOpt = 0,
    trace: TraceOpt = None,
    durations: DurationsOpt = "4:1,8:1",
    priorities: PrioritiesOpt = "normal",
    tenants: TenantsOpt = "local",
    prompt: PromptOpt = None,
    workers: Annotated[str, typer.Option(help="Worker counts: 1,2,4,8.")] = "1,2,4,8",
    policy: Annotated[str, typer.Option(help="none, fixed or dynamic.")] = "dynamic",
    max_batch_size: Annotated[int, typer.Option(help="Batch limit.")] = 16,
    per_worker: Annotated[
        bool, typer.Option(help="--rate is per worker: n workers get n times the load.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The simulator: the trace on 1..N workers of a profile (a scaling table)."""
    from foleyserve.bench.predict import scaling
    from foleyserve.bench.profile import load_profile
    from foleyserve.bench.tables import scaling_table
    from foleyserve.scheduling.policy import BatchPolicy, PolicyName

    with reported_errors(as_json=as_json):
        jobs = workload(rate, count, seed, trace, durations, priorities, tenants, prompt)
        cost = load_profile(profile)
        try:
            counts = [int(x) for x in workers.split(",")]
            batch = BatchPolicy(PolicyName(policy), max_batch_size=max_batch_size)
        except ValueError as e:
            raise InvalidInput(str(e), code="invalid_option") from None
        if any(n < 1 for n in counts):
            raise InvalidInput("worker counts must be >= 1", code="invalid_option")
        rows = scaling(jobs, cost, batch, counts, per_worker=per_worker)
        if as_json:
            print_json(
                {
                    "profile": cost.name,
                    "rows": [
                        {"workers": r.workers, "scaling": r.factor(rows[0].report)}
                        | r.report.to_json()
                        for r in rows
                    ],
                }
            )
            return
        Console(width=120).print(scaling_table(rows, f"{cost.name}, {policy}, {len(jobs)} jobs"))


def dumps(payload: Any) -> str:
    return json.dumps(payload, indent=2, default=str)
