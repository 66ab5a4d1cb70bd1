"""`ProceduralEngine`: the CPU reference `FoleyEngine`.

A fast preview engine, not a generative model: it reads motion from the video, maps the prompt
to hand-made synthesis recipes, and renders them on the motion (impulsive sounds on onsets,
continuous beds on the motion envelope, stereo from where things move). It makes the whole
system run and test on any machine; production quality comes from HunyuanVideo-Foley on a GPU.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from foleyserve.engines.base import (
    Cancelled,
    CancelledFn,
    EngineProfile,
    GenerationRequest,
    LinearMemoryModel,
    ProgressFn,
    RequestShape,
    TextFeatures,
    VideoFeatures,
)
from foleyserve.engines.procedural import analysis
from foleyserve.engines.procedural.prompts import Selection, TextEmbedder, select_recipes
from foleyserve.engines.procedural.recipes import RECIPES, RecipeKind
from foleyserve.engines.procedural.scene import Event, Scene
from foleyserve.media.audio import Audio
from foleyserve.media.decode import Frame, iter_frames
from foleyserve.media.probe import VideoInfo

SAMPLE_RATE_HZ = 48_000
DEFAULT_FAMILY = "impacts"
"""What plays when the prompt names nothing we know."""
TEXT_ONLY_EVENTS_PER_S = 1.5
FAMILIES: tuple[str, ...] = tuple(sorted(RECIPES))


class ProceduralEngine:
    """See the module docstring. `embedder=None` reads prompts by keywords only."""

    name = "procedural"
    version = "1"
    feature_version = analysis.FEATURE_VERSION

    def __init__(self, embedder: TextEmbedder | None) -> None:
        self._embedder = embedder
        if embedder is not None:
            # Load the text model and embed the recipes' descriptions now, as engines load
            # their weights at construction, so the first job pays nothing extra.
            select_recipes("warm up", "", embedder=embedder)
        self.profile = EngineProfile(
            sample_rate_hz=SAMPLE_RATE_HZ,
            channels=2,
            max_segment_s=60.0,
            segment_s=30.0,
            segment_overlap_s=1.0,
            max_batch_size=16,
            # Float stereo at 48 kHz and a few layers of scratch per request second.
            memory=LinearMemoryModel(fixed_bytes=300 * 2**20, bytes_per_item_s=4 * 2**20),
        )

    @property
    def text_version(self) -> str:
        reader = "minilm" if self._embedder is not None else "keywords"
        return f"procedural-text-1-{reader}"

    def analyze_video(
        self, video: Path, info: VideoInfo, progress: ProgressFn | None = None
    ) -> VideoFeatures:
        spec = analysis.frame_spec(info.width, info.height, info.fps)
        expected = max(1, round(info.duration_s * min(info.fps, analysis.MAX_ANALYSIS_FPS)))

        def frames_with_progress() -> Iterator[Frame]:
            for i, frame in enumerate(iter_frames(video, [spec])):
                if progress is not None and i % 25 == 0:
                    progress(min(i, expected), expected)
                yield frame

        features = analysis.analyze_frames(frames_with_progress(), info.duration_s)
        if progress is not None:
            progress(expected, expected)
        return features

    def encode_text(self, prompts: Sequence[tuple[str, str]]) -> list[TextFeatures]:
        return [self._encode_one(prompt, negative) for prompt, negative in prompts]

    def _encode_one(self, prompt: str, negative: str) -> TextFeatures:
        selections = select_recipes(prompt, negative, embedder=self._embedder)
        weights = np.zeros(len(FAMILIES), np.float32)
        variants = np.zeros(len(FAMILIES), np.float32)
        for s in selections:
            i = FAMILIES.index(s.family)
            weights[i] = max(weights[i], s.score)
            variants[i] = list(RECIPES[s.family].variants).index(s.variant)
        return TextFeatures(
            self.text_version, prompt, negative, {"weights": weights, "variants": variants}
        )

    def batch_key(self, shape: RequestShape) -> Hashable:
        # Every request renders independently on the CPU: any mix may share a batch.
        return self.name

    def generate(
        self,
        batch: Sequence[GenerationRequest],
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> list[Audio]:
        layers = [_layers(r.text) for r in batch]
        total = sum(len(ls) for ls in layers)
        done = 0
        outputs = []
        for request, request_layers in zip(batch, layers, strict=True):
            scene = _scene(request)
            mix = np.zeros((2, scene.n_samples), np.float32)
            for selection in request_layers:
                if cancelled is not None and cancelled():
                    raise Cancelled("the job was canceled")
                mix += _render_layer(scene, selection, request.seed)
                done += 1
                if progress is not None:
                    progress(done, total)
            outputs.append(Audio(_soft_clip(mix), SAMPLE_RATE_HZ))
        return outputs


def _layers(text: TextFeatures) -> list[Selection]:
    weights, variants = text.values["weights"], text.values["variants"]
    chosen = [
        Selection(f, list(RECIPES[f].variants)[int(variants[i])], float(weights[i]), "")
        for i, f in enumerate(FAMILIES)
        if weights[i] > 0
    ]
    if not chosen:
        default = RECIPES[DEFAULT_FAMILY]
        chosen = [Selection(DEFAULT_FAMILY, next(iter(default.variants)), 1.0, "")]
    return chosen


def _render_layer(scene: Scene, selection: Selection, seed: int) -> npt.NDArray[np.float32]:
    recipe = RECIPES[selection.family]
    # One stream per (seed, family): adding a layer never changes the others.
    rng = np.random.default_rng([seed, zlib.crc32(selection.family.encode())])
    gain = 1.0 if recipe.kind is RecipeKind.IMPULSIVE else 0.7
    return gain * recipe.render(scene, selection.variant, rng)


def _scene(request: GenerationRequest) -> Scene:
    n_control = max(1, int(np.ceil(request.duration_s * analysis.CONTROL_RATE_HZ)))
    if request.video is None:
        return _text_only_scene(request.duration_s, request.seed, n_control)
    tracks = request.video.tracks
    motion = _fit(tracks["motion"].values, n_control)
    pan = _fit(tracks["pan"].values, n_control)
    onsets = _fit(tracks["onsets"].values, n_control)
    events = tuple(
        Event(i / analysis.CONTROL_RATE_HZ, float(onsets[i]), float(pan[i]))
        for i in np.flatnonzero(onsets > 0)
    )
    return Scene(
        duration_s=request.duration_s,
        sample_rate_hz=SAMPLE_RATE_HZ,
        control_rate_hz=analysis.CONTROL_RATE_HZ,
        events=events,
        motion=motion,
        pan=pan,
    )


def _text_only_scene(duration_s: float, seed: int, n_control: int) -> Scene:
    """No video: events at a natural irregular pace, medium motion, centred."""
    rng = np.random.default_rng([seed, 0x7E47])
    gaps = rng.exponential(1.0 / TEXT_ONLY_EVENTS_PER_S, size=int(duration_s * 4) + 4)
    times = np.cumsum(np.maximum(gaps, 0.15)) - gaps[0] + 0.1
    events = tuple(
        Event(float(t), float(rng.uniform(0.4, 0.9)), float(rng.uniform(-0.4, 0.4)))
        for t in times[times < duration_s - 0.05]
    )
    return Scene(
        duration_s=duration_s,
        sample_rate_hz=SAMPLE_RATE_HZ,
        control_rate_hz=analysis.CONTROL_RATE_HZ,
        events=events,
        motion=np.full(n_control, 0.5, np.float32),
        pan=np.zeros(n_control, np.float32),
    )


def _fit(values: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.float32]:
    """Trim or zero-pad a control track to exactly `n` values."""
    out = np.zeros(n, np.float32)
    out[: min(n, len(values))] = values[:n]
    return out


def _soft_clip(mix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Layers can sum past full scale; tanh above 0.9 keeps peaks in range without hard clips."""
    out = mix.copy()
    loud = np.abs(out) > 0.9
    out[loud] = np.sign(out[loud]) * (0.9 + 0.1 * np.tanh((np.abs(out[loud]) - 0.9) / 0.1))
    return out.astype(np.float32)
