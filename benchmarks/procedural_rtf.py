"""How fast is the procedural engine, against the floor of merely decoding the same file?

For each picture size and clip length: the real-time factor of a full `render` (probe, decode +
analyse, read prompt, generate, loudness, encode m4a), the real-time factor of a decode-only pass
that asks PyAV for the same frames, their ratio, and the peak memory of each (every measurement
runs in a fresh process so peaks don't mix; engine load time is excluded and reported apart).

    python benchmarks/procedural_rtf.py                       # 720p and 1080p; 10 s, 60 s, 10 min
    python benchmarks/procedural_rtf.py --durations 10,60     # quicker

Clips are synthetic (moving pattern + a bouncing box, H.264, 30 fps) and cached under
benchmarks/results/clips/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
PROMPT = "footsteps on gravel and wind"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_one(mode: str, clip: Path) -> dict[str, Any]:
    """Run in a child process: one decode-only pass or one full render of `clip`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from foleyserve.engines.procedural import analysis
    from foleyserve.engines.registry import create_engine
    from foleyserve.media.decode import iter_frames
    from foleyserve.media.probe import MediaLimits, probe
    from foleyserve.params import OutputFormat, RenderParams
    from foleyserve.pipeline import render
    from foleyserve.settings import Settings

    info = probe(clip, MediaLimits())
    load_s = 0.0
    if mode == "decode":
        baseline_mb = _peak_rss_mb()
        start = time.perf_counter()
        spec = analysis.frame_spec(info.width, info.height, info.fps)
        frames = sum(1 for _ in iter_frames(clip, [spec]))
    else:
        t0 = time.perf_counter()
        settings = Settings()
        engine = create_engine(settings)
        engine.encode_text([("warm up", "")])
        load_s = time.perf_counter() - t0
        baseline_mb = _peak_rss_mb()
        start = time.perf_counter()
        out = RESULTS / "out" / f"{clip.stem}.m4a"
        out.parent.mkdir(parents=True, exist_ok=True)
        params = RenderParams(PROMPT, output_format=OutputFormat.M4A)
        render(engine, clip, out, params, settings)
        frames = 0
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "frames": frames,
        "load_s": load_s,
        "baseline_mb": baseline_mb,
        "peak_mb": _peak_rss_mb(),
    }


def _child(mode: str, clip: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", mode, str(clip)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _clip(size: str, duration_s: float) -> Path:
    from foleyserve.media.synthetic import make_test_pattern

    width, height = SIZES[size]
    path = RESULTS / "clips" / f"pattern-{size}-{int(duration_s)}s.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"making {path.name} ...", file=sys.stderr, flush=True)
        make_test_pattern(
            path, duration_s=duration_s, width=width, height=height, fps=30, codec="libx264"
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="720p,1080p")
    parser.add_argument("--durations", default="10,60,600", help="seconds, comma-separated")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "CLIP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one[0], Path(args.one[1]))))
        return
    rows = []
    for size in args.sizes.split(","):
        for duration_s in (float(d) for d in args.durations.split(",")):
            clip = _clip(size, duration_s)
            decode, full = _child("decode", clip), _child("render", clip)
            rows.append((size, duration_s, decode, full))
            print(f"done {size} {duration_s:.0f} s", file=sys.stderr, flush=True)
    _print_table(rows)


def _print_table(rows: list[tuple[str, float, dict[str, Any], dict[str, Any]]]) -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        "| clip | decode-only s (x real time) | render s (x real time) | render / decode "
        "| peak MB decode (+growth) | peak MB render (+growth) | engine load s |"
    )
    print("|---|---|---|---|---|---|---|")
    for size, duration_s, d, r in rows:
        print(
            f"| {size} {duration_s:.0f} s "
            f"| {d['seconds']:.1f} ({duration_s / d['seconds']:.1f}x) "
            f"| {r['seconds']:.1f} ({duration_s / r['seconds']:.1f}x) "
            f"| {r['seconds'] / d['seconds']:.2f} "
            f"| {d['peak_mb']:.0f} (+{d['peak_mb'] - d['baseline_mb']:.0f}) "
            f"| {r['peak_mb']:.0f} (+{r['peak_mb'] - r['baseline_mb']:.0f}) "
            f"| {r['load_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
