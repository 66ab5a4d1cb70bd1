"""`foleyserve demo`: make a small example clip and give it a soundtrack, on any machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foleyserve.cli.common import reported_errors, stderr
from foleyserve.cli.generate import generate
from foleyserve.media.synthetic import make_bouncing_ball

DEMO_IMPACTS_S = (0.8, 1.9, 2.8, 3.55, 4.15, 4.6)
DEMO_PROMPT = "a rubber ball bouncing on a wooden floor"


def example_clip(
    output: Annotated[Path, typer.Argument(help="Where to write the clip (.mp4, .mov, .webm).")],
    duration_s: Annotated[float, typer.Option("--duration", help="Seconds.")] = 6.0,
) -> None:
    """Write a synthetic clip of a bouncing ball (impacts at known times) for trying things out."""
    with reported_errors(as_json=False):
        impacts = [t for t in DEMO_IMPACTS_S if t < duration_s]
        make_bouncing_ball(output, impact_times_s=impacts, duration_s=duration_s)
        stderr.print(f"[green]wrote[/] {output} (ball lands at {', '.join(map(str, impacts))} s)")


def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Where to write.")] = Path("out"),
) -> None:
    """Make out/example.mp4 and out/example.foley.mp4 (the same video with generated sound)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = out_dir / "example.mp4"
    example_clip(clip)
    generate(clip, DEMO_PROMPT, output=out_dir / "example.foley.mp4")
