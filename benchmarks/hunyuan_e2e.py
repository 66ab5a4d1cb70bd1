"""End-to-end HunyuanVideo-Foley per 10 s clip, on the engine a worker serves.

BENCHMARK MODE by default: every network at full size with seeded random weights (no model files;
the audio is noise, the speed is real). `--model-dir` measures real files instead.

Three parts, one engine loaded once:

1. Stages of one request, cold (no cached features): decode, preprocess, SigLIP2, Synchformer
   (`VideoAnalyzer` timings), CLAP, DiT (the sampler), DAC, encode (loudness and the mux into the
   video, as a job's mp4 output). Then the same clip with a new prompt, its features reused (what
   the feature cache saves).
2. The same at each `--batches` size: B requests of B different prompts in one `generate` call.
   Video analysis is per video (not batched across videos), so its per-clip cost is the cold
   run's; CLAP, DiT and DAC are the batched call's, divided by B; encode is per clip.
3. A real server: the API (uvicorn on 127.0.0.1) and a worker thread sharing the engine, `--jobs`
   jobs uploaded over HTTP at once, polled to the end, each result downloaded and checked.

    PYTHONPATH=src python3 benchmarks/hunyuan_e2e.py --device cuda:0 --batches 1,16 --jobs 4 \
        --out e2e.json
    PYTHONPATH=src python3 benchmarks/hunyuan_e2e.py --device cpu --model-dir TINY --steps 2 \
        --batches 1,2 --jobs 2 --duration 2     # a smoke run on a tiny model directory
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from foleyserve.engines.base import GenerationRequest
from foleyserve.engines.hunyuan.engine import HunyuanEngine
from foleyserve.engines.registry import create_engine
from foleyserve.media.loudness import normalize_loudness
from foleyserve.media.probe import VideoInfo, probe
from foleyserve.media.synthetic import make_test_pattern
from foleyserve.params import OutputFormat, RenderParams
from foleyserve.pipeline import write_output
from foleyserve.settings import Settings

STAGES = ("decode", "preprocess", "siglip2", "synchformer", "clap", "dit", "dac", "encode")
VIDEO_STAGES = ("decode", "preprocess", "siglip2", "synchformer")
PROMPTS = ("footsteps on gravel", "rain on a tin roof", "glass shatters", "a door slams")


@dataclass(frozen=True)
class Row:
    label: str
    batch: int
    stages_s: dict[str, float]
    """Seconds per clip for each stage."""
    peak_gib: float | None = None
    """Measured peak device memory of the `generate` call (CUDA only)."""
    predicted_gib: float | None = None
    """What the engine's memory model predicted for it."""

    @property
    def total_s(self) -> float:
        return sum(self.stages_s.values())


def main() -> None:
    args = _parse()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="hunyuan-e2e-"))
    settings = _settings(args, work)
    start = time.perf_counter()
    engine = create_engine(settings)
    assert isinstance(engine, HunyuanEngine)
    load_s = time.perf_counter() - start
    video = args.video or _make_clip(work / "clip.mp4", args.duration)
    info = probe(video)
    _warm_up(engine, video, info)
    rows = clip_rows(engine, video, info, args, work)
    api: dict[str, Any] = {}
    if args.jobs:
        try:
            api = api_run(engine, settings, video, args.jobs, args.steps)
        except Exception as exc:  # the stage table above still counts
            logging.exception("the API run failed")
            api = {"error": repr(exc)}
    report = _report(engine, args, load_s, info, rows, api)
    print(json.dumps(report, indent=2))
    _print_table(rows)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--model-dir", type=Path, help="real files (default: random weights)")
    parser.add_argument("--variant", default=None, choices=["xxl", "xl"])
    parser.add_argument("--video", type=Path, help="default: a synthetic 1280x720 30 fps clip")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--jobs", type=int, default=4, help="jobs through the API (0: none)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


def _settings(args: argparse.Namespace, work: Path) -> Settings:
    return Settings(
        engine="hunyuan",
        hunyuan_model_dir=args.model_dir,
        hunyuan_random_weights=args.model_dir is None,
        hunyuan_variant=args.variant,
        hunyuan_device=args.device,
        hunyuan_compile=args.compile,
        data_dir=work / "data",
        max_batch_wait_ms=500,
        rate_limit_per_s=1000,
        rate_limit_burst=1000,
    )


def _make_clip(path: Path, duration_s: float) -> Path:
    make_test_pattern(path, duration_s=duration_s, width=1280, height=720, fps=30)
    return path


def _warm_up(engine: HunyuanEngine, video: Path, info: VideoInfo) -> None:
    """One analysis and one guided step at the clip's length: kernels chosen, caches built,
    before anything is timed."""
    engine.analyze_video(video, info)
    text = engine.encode_text([("warm up", "")])[0]
    engine.generate([GenerationRequest(text, None, info.duration_s, seed=0, steps=1)])


def clip_rows(
    engine: HunyuanEngine, video: Path, info: VideoInfo, args: argparse.Namespace, work: Path
) -> list[Row]:
    features = engine.analyze_video(video, info)
    video_s = dict(engine.analyzer.last_timings_s)
    encode_s = _encode_once(engine, features, info, video, work)
    rows: list[Row] = []
    sizes = [] if args.batches == "none" else [int(b) for b in args.batches.split(",")]
    for batch in sizes:
        pairs = [(f"{PROMPTS[i % len(PROMPTS)]} {i}", "") for i in range(batch)]
        texts = engine.encode_text(pairs)
        clap_s = engine.last_timings_s["clap"]
        requests = [
            GenerationRequest(t, features, info.duration_s, seed=i, steps=args.steps)
            for i, t in enumerate(texts)
        ]
        peak_gib = _measured_peak(engine, engine.generate, requests)
        predicted_gib = engine.profile.memory.bytes_for(batch, info.duration_s) / 2**30
        gen = engine.last_timings_s
        batched = {"clap": clap_s / batch, "dit": gen["dit"] / batch, "dac": gen["dac"] / batch}
        stages = {**video_s, **batched, "encode": encode_s}
        rows.append(Row("cold", batch, stages, peak_gib, predicted_gib))
        rows.append(
            Row(
                "new prompt",
                batch,
                {**dict.fromkeys(VIDEO_STAGES, 0.0), **batched, "encode": encode_s},
            )
        )
    return rows


def _measured_peak(engine: HunyuanEngine, run: Any, *args: Any) -> float | None:
    if engine.device.type != "cuda":
        run(*args)
        return None
    torch.cuda.synchronize(engine.device)
    torch.cuda.reset_peak_memory_stats(engine.device)
    run(*args)
    return torch.cuda.max_memory_allocated(engine.device) / 2**30


def _encode_once(
    engine: HunyuanEngine, features: Any, info: VideoInfo, video: Path, work: Path
) -> float:
    text = engine.encode_text([("encode timing", "")])[0]
    audio = engine.generate([GenerationRequest(text, features, info.duration_s, seed=0, steps=1)])
    params = RenderParams("encode timing", output_format=OutputFormat.MP4)
    settings = Settings()
    times = []
    for i in range(3):
        start = time.perf_counter()
        loud = normalize_loudness(audio[0], target_lufs=-23.0, true_peak_dbtp=-1.0)
        write_output(loud, video, work / f"out{i}.mp4", params, settings)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------------------------- the API


def api_run(
    engine: HunyuanEngine, settings: Settings, video: Path, jobs: int, steps: int
) -> dict[str, Any]:
    """The API and a worker in this process (as `foleyserve serve` runs them), jobs over HTTP."""
    import httpx
    import uvicorn

    from foleyserve.api.app import create_app
    from foleyserve.api.ratelimit import MemoryRateLimiter
    from foleyserve.auth.keys import open_key_store
    from foleyserve.storage import open_object_store
    from foleyserve.store import open_store
    from foleyserve.worker.loop import Worker

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"api_keys_required": False})
    store, worker_store = open_store(settings.store_url()), open_store(settings.store_url())
    objects = open_object_store(settings.storage_url())
    keys = open_key_store(settings.keys_url())
    app = create_app(
        settings,
        store=store,
        objects=objects,
        keys=keys,
        limiter=MemoryRateLimiter(),
        engine_identity=engine,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    worker = Worker(engine, worker_store, objects, settings, "gpu0")
    worker_thread = threading.Thread(target=worker.run, daemon=True)
    worker_thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60.0) as client:
            return _submit_and_wait(client, video, jobs, steps)
    finally:
        worker.request_stop()
        worker_thread.join(timeout=120)
        server.should_exit = True


def _submit_and_wait(client: Any, video: Path, jobs: int, steps: int) -> dict[str, Any]:
    start = time.perf_counter()
    ids = []
    for i in range(jobs):
        with video.open("rb") as f:
            response = client.post(
                "/v1/jobs",
                files={"video": (video.name, f)},
                data={
                    "prompt": PROMPTS[i % len(PROMPTS)],
                    "steps": str(steps),
                    "seed": str(i),
                    "output_format": "wav",
                },
            )
        response.raise_for_status()
        ids.append(response.json()["id"])
    done: dict[str, Any] = {}
    while len(done) < len(ids):
        for job_id in ids:
            if job_id in done:
                continue
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("succeeded", "failed", "canceled", "expired"):
                done[job_id] = job
        time.sleep(0.2)
    wall_s = time.perf_counter() - start
    results = []
    for job_id, job in done.items():
        size = len(client.get(f"/v1/jobs/{job_id}/result").content) if job["result"] else 0
        results.append(
            {
                "id": job_id,
                "state": job["state"],
                "result": job["result"],
                "error": job["error"],
                "bytes": size,
            }
        )
    return {"jobs": jobs, "steps": steps, "wall_s": wall_s, "results": results}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------- report


def _report(
    engine: HunyuanEngine,
    args: argparse.Namespace,
    load_s: float,
    info: VideoInfo,
    rows: list[Row],
    api: dict[str, Any],
) -> dict[str, Any]:
    device = engine.device
    return {
        "engine": f"{engine.name}/{engine.version}",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "steps": args.steps,
        "video": {
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "duration_s": info.duration_s,
        },
        "load_s": load_s,
        "memory_model": {
            **vars(engine.profile.memory),
            "predicted_gib": {
                b: engine.profile.memory.bytes_for(b, 10.0) / 2**30 for b in (1, 4, 16, 32)
            },
        },
        "rows": [
            {
                "label": r.label,
                "batch": r.batch,
                "total_s": r.total_s,
                **r.stages_s,
                "peak_gib": r.peak_gib,
                "predicted_gib": r.predicted_gib,
            }
            for r in rows
        ],
        "api": api,
    }


def _print_table(rows: list[Row]) -> None:
    print("| run | batch | " + " | ".join(STAGES) + " | total s/clip |")
    print("|---|---|" + "---|" * (len(STAGES) + 1))
    for r in rows:
        cells = " | ".join(f"{r.stages_s.get(s, 0.0):.3f}" for s in STAGES)
        print(f"| {r.label} | {r.batch} | {cells} | {r.total_s:.3f} |")


if __name__ == "__main__":
    main()
