"""`HunyuanEngine`: HunyuanVideo-Foley as a `FoleyEngine` that a worker serves.

- `analyze_video`: one decode at 8 and 25 fps, SigLIP2 and Synchformer over the whole video
  (`video.py`); cacheable under `feature_version`.
- `encode_text`: CLAP over (prompt, negative) pairs, in one batch; cacheable under
  `text_version`. An empty negative prompt means the official default, "noisy, harsh".
- `batch_key`: (the latent, visual and sync lengths, steps, guidance). Requests of one duration
  have equal lengths, so they share one sampler batch. The sampler applies one guidance scale to
  its whole batch, so the key holds the scale itself when guidance is on (and None when off).
- `generate`: per-request seeded noise, the flow-matching sampler (progress per step, cancel
  checks between steps), the DAC decode one request at a time, each output cut to exactly
  round(duration_s x 48000) samples, mono.
- Text-only requests (no video) use the DiT's learnable empty visual and sync features.

Benchmark mode (`random_weights`): every network has seeded random weights. The engine's name is
then `hunyuan-RANDOM-WEIGHTS`, its versions say so too (so no cache ever mixes its output with a
real model's), and every batch logs a warning. Its audio is noise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import torch

from foleyserve.engines.base import (
    Cancelled,
    CancelledFn,
    EngineProfile,
    GenerationRequest,
    MemoryModel,
    ProgressFn,
    RequestShape,
    TextFeatures,
    VideoFeatures,
)
from foleyserve.engines.hunyuan.encoders import TEXT_LENGTH
from foleyserve.engines.hunyuan.memory import estimate_memory, measure_memory, parameter_bytes
from foleyserve.engines.hunyuan.models import HunyuanModels
from foleyserve.engines.hunyuan.sampler import SampleRequest, SamplerSettings, sample
from foleyserve.engines.hunyuan.video import (
    SYNC_TRACK,
    VISUAL_TRACK,
    SequenceLengths,
    VideoAnalyzer,
    fit_rows,
    sequence_lengths,
)
from foleyserve.media.pcm import Audio
from foleyserve.media.probe import VideoInfo

log = logging.getLogger(__name__)

NAME = "hunyuan"
RANDOM_NAME = "hunyuan-RANDOM-WEIGHTS"
"""The benchmark-mode name: what logs, metrics and results show for random weights."""
VERSION = "1"
FEATURE_VERSION = "hunyuan-video-1"
TEXT_VERSION = "hunyuan-clap-1"
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 4.5
MAX_SEGMENT_S = 15.0
SEGMENT_S = 10.0
SEGMENT_OVERLAP_S = 1.0
TEXT_KEY = "text"
NEGATIVE_KEY = "negative"


def engine_identity(variant: str, random_seed: int | None) -> tuple[str, str]:
    """(name, version) of the engine these settings would load, without loading it (the API
    server puts them in result-cache keys)."""
    if random_seed is None:
        return NAME, f"{VERSION}-{variant}"
    return RANDOM_NAME, f"{VERSION}-{variant}-random-seed{random_seed}"


class HunyuanEngine:
    """See the module docstring. Build the networks with `models.load_models` or
    `models.random_models`."""

    def __init__(
        self,
        models: HunyuanModels,
        *,
        max_batch_size: int = 16,
        memory: MemoryModel | None = None,
        measure: bool = True,
    ) -> None:
        """`memory`: a known memory model; None measures one on CUDA (when `measure`) or
        estimates one on the CPU."""
        self.models = models
        self.videos_analyzed = 0
        """Videos decoded and encoded so far (a feature-cache hit adds none)."""
        self.prompts_encoded = 0
        self.batches_generated = 0
        self.last_timings_s: dict[str, float] = {}
        """Seconds per stage of the last call: `clap` (encode_text); `dit`, `dac` (generate)."""
        self.name, self.version = engine_identity(models.variant, models.random_seed)
        tag = "" if models.random_seed is None else f"-random-seed{models.random_seed}"
        self.feature_version = FEATURE_VERSION + tag
        self.text_version = TEXT_VERSION + tag
        self.sample_rate_hz = models.dac.config.sample_rate_hz
        self.device = models.dit.final_layer.linear.weight.device
        sync_autocast = torch.float16 if self.device.type == "cuda" else None
        self.analyzer = VideoAnalyzer(
            models.visual, models.synchformer, sync_autocast=sync_autocast
        )
        self.profile = EngineProfile(
            sample_rate_hz=self.sample_rate_hz,
            channels=1,
            max_segment_s=MAX_SEGMENT_S,
            segment_s=SEGMENT_S,
            segment_overlap_s=SEGMENT_OVERLAP_S,
            max_batch_size=max_batch_size,
            memory=memory or self._memory_model(measure),
            default_steps=DEFAULT_STEPS,
            default_guidance=DEFAULT_GUIDANCE,
        )
        if models.random_weights:
            log.warning("engine %s %s: BENCHMARK MODE, random weights", self.name, self.version)

    # ------------------------------------------------------------------ features

    def analyze_video(
        self, video: Path, info: VideoInfo, progress: ProgressFn | None = None
    ) -> VideoFeatures:
        features = self.analyzer.analyze(video, info, self.feature_version, progress)
        self.videos_analyzed += 1
        return features

    def encode_text(self, prompts: Sequence[tuple[str, str]]) -> list[TextFeatures]:
        start = time.perf_counter()
        encoded = self.models.text.encode_pairs(prompts)
        self.last_timings_s = {"clap": time.perf_counter() - start}
        self.prompts_encoded += len(prompts)
        return [
            TextFeatures(
                self.text_version,
                prompt,
                negative,
                {TEXT_KEY: text.numpy(), NEGATIVE_KEY: uncond.numpy()},
            )
            for (prompt, negative), (text, uncond) in zip(prompts, encoded, strict=True)
        ]

    # ------------------------------------------------------------------ generation

    def batch_key(self, shape: RequestShape) -> Hashable:
        settings = self._sampler_settings(shape.steps, shape.guidance)
        guidance = settings.guidance_scale if settings.uses_guidance else None
        lengths = sequence_lengths(shape.duration_s)
        return (
            NAME,
            lengths.latent,
            lengths.visual,
            lengths.sync_windows,
            settings.steps,
            guidance,
        )

    def generate(
        self,
        batch: Sequence[GenerationRequest],
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> list[Audio]:
        if not batch:
            return []
        if self.models.random_weights:
            log.warning("BENCHMARK MODE (random weights): %d request(s) make noise", len(batch))
        first = batch[0]
        lengths = sequence_lengths(first.duration_s)
        settings = self._sampler_settings(first.steps, first.guidance)
        total = settings.steps + 1

        def step_progress(done: int, steps: int) -> None:
            if progress is not None:
                progress(done, total)

        start = time.perf_counter()
        latents = sample(
            self.models.dit,
            [self._sample_request(r, lengths) for r in batch],
            lengths.latent,
            settings,
            progress=step_progress,
            cancelled=cancelled,
        )
        if cancelled is not None and cancelled():
            raise Cancelled(f"generation cancelled after {settings.steps} steps, before decoding")
        self._synchronize()
        decode_start = time.perf_counter()
        outputs = [self._decode(latents[i : i + 1], r.duration_s) for i, r in enumerate(batch)]
        done = time.perf_counter()
        self.last_timings_s = {"dit": decode_start - start, "dac": done - decode_start}
        if progress is not None:
            progress(total, total)
        self.batches_generated += 1
        return outputs

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _sampler_settings(self, steps: int | None, guidance: float | None) -> SamplerSettings:
        return SamplerSettings(
            steps=DEFAULT_STEPS if steps is None else steps,
            guidance_scale=DEFAULT_GUIDANCE if guidance is None else guidance,
        )

    def _sample_request(
        self, request: GenerationRequest, lengths: SequenceLengths
    ) -> SampleRequest:
        dit = self.models.dit
        visual, sync = dit.empty_visual(lengths.visual), dit.empty_sync(lengths.sync_tokens)
        if request.video is not None:
            visual_rows = request.video.tracks[VISUAL_TRACK].values
            sync_rows = request.video.tracks[SYNC_TRACK].values
            if visual_rows.shape[0] and sync_rows.shape[0]:
                visual = torch.from_numpy(fit_rows(visual_rows, lengths.visual))
                windows = fit_rows(sync_rows, lengths.sync_windows)
                sync = torch.from_numpy(np.ascontiguousarray(windows)).flatten(0, 1)
        values = request.text.values
        return SampleRequest(
            text=torch.from_numpy(values[TEXT_KEY]),
            negative_text=torch.from_numpy(values[NEGATIVE_KEY]),
            visual=visual,
            sync=sync,
            seed=request.seed,
        )

    def _decode(self, latents: torch.Tensor, duration_s: float) -> Audio:
        """One request's latents [1, C, T] to mono audio of exactly round(d x rate) samples."""
        dac = self.models.dac
        weight = next(dac.parameters())
        with torch.inference_mode():
            audio = dac(latents.to(weight.device, weight.dtype)).float()[0]
        samples = audio.clamp(-1.0, 1.0).cpu().numpy()
        wanted = round(duration_s * self.sample_rate_hz)
        if samples.shape[1] < wanted:
            samples = np.pad(samples, ((0, 0), (0, wanted - samples.shape[1])))
        return Audio(
            np.ascontiguousarray(samples[:, :wanted], dtype=np.float32), self.sample_rate_hz
        )

    # ------------------------------------------------------------------ memory

    def _memory_model(self, measure: bool) -> MemoryModel:
        models = self.models
        if self.device.type == "cuda" and measure:
            model = measure_memory(
                self._probe_sampler, self._probe_decode, self.device, duration_s=MAX_SEGMENT_S
            )
            log.info(
                "memory model measured: %.2f GiB weights, DiT %.2f GiB + %.1f MiB per "
                "request-second, DAC %.1f MiB per second",
                model.weights_bytes / 2**30,
                model.dit_fixed_bytes / 2**30,
                model.dit_bytes_per_item_s / 2**20,
                model.dac_bytes_per_s / 2**20,
            )
            return model
        weights = parameter_bytes(
            [models.dit, models.dac, models.visual.model, models.text.model, models.synchformer]
        )
        return estimate_memory(weights, models.dit.config.hidden_size)

    def _probe_sampler(self, batch_size: int, duration_s: float) -> None:
        """One guided sampler step, text-only, at this shape, with text of the longest length
        the DiT sees (77 tokens: every block's text keys and values grow with it)."""
        text = self.encode_text([("probe " * TEXT_LENGTH, "")])[0]
        request = GenerationRequest(text, None, duration_s, seed=0, steps=1)
        lengths = sequence_lengths(duration_s)
        sample_request = self._sample_request(request, lengths)
        settings = SamplerSettings(steps=1, guidance_scale=DEFAULT_GUIDANCE)
        sample(self.models.dit, [sample_request] * batch_size, lengths.latent, settings)

    def _probe_decode(self, duration_s: float) -> None:
        latents = torch.zeros(
            1, self.models.dit.config.latent_dim, sequence_lengths(duration_s).latent
        )
        self._decode(latents, duration_s)
