"""Settings: one typed object, read once at the entry point and passed down.

Every field can be set by an environment variable `FOLEYSERVE_<FIELD>` (upper case), e.g.
`FOLEYSERVE_MAX_VIDEO_DURATION_S=120`. Nothing in the package reads the environment elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from foleyserve.media.probe import MediaLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOLEYSERVE_", extra="forbid", frozen=True)

    engine: Literal["procedural"] = "procedural"
    """Which `FoleyEngine` runs: `procedural` is the CPU reference engine."""

    text_embedder: Literal["minilm", "keywords"] = "minilm"
    """How the procedural engine reads prompts: the bundled MiniLM model, or keywords only."""

    max_video_duration_s: float = Field(600.0, gt=0)
    max_file_bytes: int = Field(2 * 1024**3, gt=0)
    max_video_width: int = Field(7680, gt=0)
    max_video_height: int = Field(4320, gt=0)
    max_prompt_chars: int = Field(500, gt=0)

    loudness_target_lufs: float = Field(-23.0, ge=-70, le=0)
    """EBU R128 integrated loudness of every output."""
    true_peak_dbtp: float = Field(-1.0, ge=-20, le=0)
    """True-peak ceiling of every output."""
    audio_bitrate_kbps: int = Field(128, ge=32, le=512)
    """Bitrate of lossy audio outputs (mp3, m4a, opus) and of the track muxed into videos."""

    data_dir: Path = Path(".foleyserve")
    """Where the embedded server keeps its database and files."""

    def media_limits(self) -> MediaLimits:
        return MediaLimits(
            max_duration_s=self.max_video_duration_s,
            max_file_bytes=self.max_file_bytes,
            max_width=self.max_video_width,
            max_height=self.max_video_height,
        )
