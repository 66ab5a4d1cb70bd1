"""What a user asks for: the generation parameters, their output format, and their limits.

Shared by the CLI, the pipeline and (from the job core on) job specs and the HTTP API, so a
bad value is refused with the same code and message everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from foleyserve.errors import InvalidInput
from foleyserve.settings import Settings

MAX_SEED = 2**32 - 1
MAX_STEPS = 200
MAX_GUIDANCE = 20.0


class OutputFormat(StrEnum):
    WAV = "wav"
    FLAC = "flac"
    MP3 = "mp3"
    M4A = "m4a"
    OPUS = "opus"
    MP4 = "mp4"
    """The input video with its new soundtrack (picture copied, not re-encoded)."""

    @property
    def is_video(self) -> bool:
        return self is OutputFormat.MP4

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]


_CONTENT_TYPES = {
    OutputFormat.WAV: "audio/wav",
    OutputFormat.FLAC: "audio/flac",
    OutputFormat.MP3: "audio/mpeg",
    OutputFormat.M4A: "audio/mp4",
    OutputFormat.OPUS: "audio/ogg",
    OutputFormat.MP4: "video/mp4",
}


@dataclass(frozen=True)
class RenderParams:
    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    output_format: OutputFormat = OutputFormat.MP4
    mix_original_db: float | None = None
    """None replaces the video's sound; a gain in dB keeps the original under the new sound."""


def check_params(params: RenderParams, settings: Settings) -> None:
    """Refuse parameters no engine can use, before any work is done."""
    for name, text in (("prompt", params.prompt), ("negative_prompt", params.negative_prompt)):
        if len(text) > settings.max_prompt_chars:
            raise InvalidInput(
                f"{name} is {len(text)} characters; the limit is {settings.max_prompt_chars}. "
                "Describe the sound in a sentence.",
                code="prompt_too_long",
            )
    if not params.prompt.strip():
        raise InvalidInput(
            'prompt is empty; describe the sound, e.g. "footsteps on gravel".', code="empty_prompt"
        )
    if not 0 <= params.seed <= MAX_SEED:
        raise InvalidInput(f"seed {params.seed} is outside 0..{MAX_SEED}.", code="invalid_seed")
    if params.steps is not None and not 1 <= params.steps <= MAX_STEPS:
        raise InvalidInput(f"steps {params.steps} is outside 1..{MAX_STEPS}.", code="invalid_steps")
    if params.guidance is not None and not (
        math.isfinite(params.guidance) and 0.0 <= params.guidance <= MAX_GUIDANCE
    ):
        raise InvalidInput(
            f"guidance {params.guidance} is outside 0..{MAX_GUIDANCE}.", code="invalid_guidance"
        )
    if params.mix_original_db is not None and not -60.0 <= params.mix_original_db <= 12.0:
        raise InvalidInput(
            f"mix_original_db {params.mix_original_db} is outside -60..12 dB.",
            code="invalid_mix_gain",
        )
    if params.mix_original_db is not None and not params.output_format.is_video:
        raise InvalidInput(
            "mixing the original sound needs a video output (format mp4).",
            code="mix_needs_video_output",
        )
