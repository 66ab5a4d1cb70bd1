"""`Audio`: float PCM in memory. Kept apart from the codecs (audio.py) so that model code can
use it on hosts without PyAV."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Audio:
    """Float PCM, shape `[channels, n_samples]`, values nominally in [-1, 1]."""

    samples: npt.NDArray[np.float32]
    sample_rate_hz: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError(f"Audio samples must be [channels, n], got shape {self.samples.shape}")
        if self.samples.dtype != np.float32:
            raise ValueError(f"Audio samples must be float32, got {self.samples.dtype}")
        if self.sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be positive, got {self.sample_rate_hz}")

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate_hz

    @classmethod
    def silence(cls, n_samples: int, sample_rate_hz: int, channels: int = 2) -> Audio:
        return cls(np.zeros((channels, n_samples), np.float32), sample_rate_hz)
