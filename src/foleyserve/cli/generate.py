"""`foleyserve generate` (one video) and `foleyserve batch` (a folder or a CSV of videos)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from foleyserve.cli.common import print_json, reported_errors, stderr
from foleyserve.cli.progress import StageBars
from foleyserve.engines.base import FoleyEngine
from foleyserve.errors import FoleyError, InvalidInput
from foleyserve.media.probe import probe
from foleyserve.params import OutputFormat, RenderParams, check_params
from foleyserve.pipeline import RenderResult, check_output_path, render
from foleyserve.settings import Settings

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}

Prompt = Annotated[str, typer.Option("--prompt", "-p", help="The sound to make.")]
Negative = Annotated[str, typer.Option("--negative", "-n", help="Sounds to avoid.")]
Seed = Annotated[int, typer.Option(help="Random seed; the same seed gives the same sound.")]
Format = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="Output format (default: from -o's suffix, else mp4)."),
]
MixOriginal = Annotated[
    float | None,
    typer.Option(
        "--mix-original",
        help="Keep the video's own sound under the new one at this gain in dB (e.g. -12).",
    ),
]
Steps = Annotated[int | None, typer.Option(help="Sampling steps (model engines only).")]
Guidance = Annotated[float | None, typer.Option(help="Guidance scale (model engines only).")]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON result; no progress bars.")]


def generate(
    video: Annotated[Path, typer.Argument(help="The video file.")],
    prompt: Prompt,
    negative: Negative = "",
    seed: Seed = 0,
    output_format: Format = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file (default: next to VIDEO).")
    ] = None,
    mix_original: MixOriginal = None,
    steps: Steps = None,
    guidance: Guidance = None,
    as_json: Json = False,
) -> None:
    """Make a soundtrack for VIDEO from a description of the sound."""
    with reported_errors(as_json=as_json):
        settings = Settings()
        fmt = output_format or _format_from(output) or OutputFormat.MP4
        out = output or video.with_name(f"{video.stem}.foley.{fmt.value}")
        params = RenderParams(prompt, negative, seed, steps, guidance, fmt, mix_original)
        # Everything cheap is checked before the engine loads (seconds, on some machines).
        check_params(params, settings)
        check_output_path(out)
        probe(video, settings.media_limits())
        engine = _engine(settings)
        with StageBars(stderr, enabled=not as_json) as bars:
            result = render(engine, video, out, params, settings, bars)
        _show(result, as_json)


def batch(
    source: Annotated[
        Path, typer.Argument(help="A folder of videos, or a CSV with columns video,prompt.")
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Where outputs go.")],
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help="Prompt for a folder's videos.")
    ] = None,
    negative: Negative = "",
    seed: Seed = 0,
    output_format: Format = None,
    as_json: Json = False,
) -> None:
    """Generate for many videos with the engine loaded once. Failures do not stop the run."""
    with reported_errors(as_json=as_json):
        settings = Settings()
        fmt = output_format or OutputFormat.MP4
        items = _read_items(source, prompt, negative, seed)
        if not out_dir.is_dir():
            out_dir.mkdir(parents=True)
        engine = _engine(settings)
        rows: list[dict[str, Any]] = []
        for n, item in enumerate(items, start=1):
            out = out_dir / f"{item.video.stem}.foley.{fmt.value}"
            params = RenderParams(item.prompt, item.negative, item.seed, output_format=fmt)
            prefix = f"[{n}/{len(items)}] "
            try:
                with StageBars(stderr, enabled=not as_json, prefix=prefix) as bars:
                    result = render(engine, item.video, out, params, settings, bars)
                rows.append({"video": str(item.video), "ok": True, **_summary(result)})
            except FoleyError as e:
                rows.append({"video": str(item.video), "ok": False, "error": e.to_dict()})
        _show_batch(rows, as_json)
        if not all(r["ok"] for r in rows):
            raise typer.Exit(1)


@dataclass(frozen=True)
class _Item:
    video: Path
    prompt: str
    negative: str
    seed: int


def _read_items(source: Path, prompt: str | None, negative: str, seed: int) -> list[_Item]:
    if source.is_dir():
        if prompt is None:
            raise InvalidInput("a folder needs --prompt for its videos.", code="missing_prompt")
        videos = sorted(p for p in source.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise InvalidInput(
                f"no videos in {source} (looked for {', '.join(sorted(VIDEO_SUFFIXES))}).",
                code="no_videos",
            )
        return [_Item(v, prompt, negative, seed) for v in videos]
    if source.suffix.lower() == ".csv" and source.is_file():
        return _read_csv(source, negative, seed)
    raise InvalidInput(f"{source} is neither a folder nor a .csv file.", code="bad_batch_source")


def _read_csv(source: Path, negative: str, seed: int) -> list[_Item]:
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        if not {"video", "prompt"} <= columns:
            raise InvalidInput(
                f"{source} needs a header with columns video,prompt "
                f"(optional: negative_prompt, seed); found {sorted(columns)}.",
                code="bad_csv",
            )
        items = []
        for line, row in enumerate(reader, start=2):
            try:
                row_seed = int(row.get("seed") or seed)
            except ValueError:
                raise InvalidInput(
                    f"{source}, line {line}: seed {row['seed']!r} is not a whole number.",
                    code="bad_csv",
                ) from None
            video = Path(row["video"])
            items.append(
                _Item(
                    video if video.is_absolute() else source.parent / video,
                    row["prompt"],
                    row.get("negative_prompt") or negative,
                    row_seed,
                )
            )
    if not items:
        raise InvalidInput(f"{source} has no rows.", code="bad_csv")
    return items


def _engine(settings: Settings) -> FoleyEngine:
    from foleyserve.cli.common import offline_hub
    from foleyserve.engines.registry import create_engine

    offline_hub()
    with stderr.status(f"loading engine {settings.engine!r}"):
        return create_engine(settings)


def _format_from(path: Path | None) -> OutputFormat | None:
    if path is None:
        return None
    try:
        return OutputFormat(path.suffix.lower().lstrip("."))
    except ValueError:
        return None


def _summary(result: RenderResult) -> dict[str, Any]:
    return {
        "output": str(result.output),
        "duration_s": round(result.duration_s, 3),
        "sample_rate_hz": result.sample_rate_hz,
        "channels": result.channels,
        "segments": result.segments,
        "loudness_lufs": round(result.loudness_lufs, 2),
        "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
    }


def _show(result: RenderResult, as_json: bool) -> None:
    summary = _summary(result)
    if as_json:
        print_json(summary)
        return
    total = sum(result.timings_s.values())
    stderr.print(
        f"[green]wrote[/] {result.output}  ({result.duration_s:.2f} s, "
        f"{result.sample_rate_hz} Hz, {result.loudness_lufs:.1f} LUFS, "
        f"{result.segments} segment(s), {total:.1f} s, "
        f"{result.duration_s / max(total, 1e-9):.1f}x real time)",
        highlight=False,
        soft_wrap=True,
    )


def _show_batch(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json({"results": rows})
        return
    table = Table("video", "result")
    for row in rows:
        ok = row["ok"]
        table.add_row(row["video"], row["output"] if ok else f"[red]{row['error']['message']}")
    stderr.print(table)
