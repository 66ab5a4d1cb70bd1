"""`Scene`: what the video analysis hands the sound recipes.

A scene is a handful of control signals sampled at `control_rate_hz` (motion energy, horizontal
motion centroid) plus the visual onsets (`Event`s) found in them. Recipes read nothing else from
the video, so any recipe can be driven by a hand-made scene in a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.interpolate import PchipInterpolator

DEFAULT_SAMPLE_RATE_HZ = 48_000
DEFAULT_CONTROL_RATE_HZ = 100.0


@dataclass(frozen=True)
class Event:
    """A visual onset: something hit, landed, started abruptly."""

    time_s: float
    """Relative to the start of the audio to render."""
    strength: float
    """0..1, how strong the motion change was."""
    pan: float
    """-1 (left) .. 1 (right), from the horizontal motion centroid."""


# eq=False: the arrays make field-wise equality ambiguous and hashing impossible, so a scene is
# compared (and hashed) by identity.
@dataclass(frozen=True, eq=False)
class Scene:
    """Everything a recipe may follow, at `control_rate_hz` (one value per control step).

    `motion` and `pan` hold one value per control step, step `i` describing the moment
    `i / control_rate_hz`; both have `n_control_steps` values (`ceil(duration_s *
    control_rate_hz)`). Events may lie anywhere; recipes ignore those outside
    `[0, duration_s)`.
    """

    duration_s: float
    sample_rate_hz: int
    control_rate_hz: float
    events: tuple[Event, ...]
    motion: npt.NDArray[np.float32]
    """0..1 motion energy envelope."""
    pan: npt.NDArray[np.float32]
    """-1..1 horizontal motion centroid."""

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if self.sample_rate_hz <= 0 or not self.control_rate_hz > 0:
            raise ValueError("sample_rate_hz and control_rate_hz must be positive")
        if self.motion.ndim != 1 or self.motion.shape != self.pan.shape or self.motion.size < 1:
            raise ValueError(
                f"motion and pan must be equal-length 1-D curves, got shapes "
                f"{self.motion.shape} and {self.pan.shape}"
            )

    @property
    def n_samples(self) -> int:
        return round(self.duration_s * self.sample_rate_hz)

    @property
    def n_control_steps(self) -> int:
        """`ceil(duration_s * control_rate_hz)`, forgiving float noise (0.07 s at 100 Hz is 7)."""
        return max(1, math.ceil(self.duration_s * self.control_rate_hz - 1e-9))

    def upsample(self, curve: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """`curve` (one value per control step) at audio rate: `[n_samples]` float32.

        Shape-preserving cubic (PCHIP) interpolation: smooth, and never overshoots the range of
        the control values, so a 0..1 curve stays in 0..1. Held constant past the last step.
        """
        if curve.ndim != 1 or curve.size < 1:
            raise ValueError(f"curve must be a non-empty 1-D array, got shape {curve.shape}")
        values = curve.astype(np.float64)
        if values.size == 1:
            return np.full(self.n_samples, values[0], np.float32)
        steps_s = np.arange(values.size) / self.control_rate_hz
        times_s = np.arange(self.n_samples) / self.sample_rate_hz
        times_s = np.minimum(times_s, steps_s[-1])
        return np.asarray(PchipInterpolator(steps_s, values)(times_s), np.float32)

    def events_within(self) -> tuple[Event, ...]:
        """The events that start inside the audio, `0 <= time_s < duration_s`."""
        return tuple(e for e in self.events if 0.0 <= e.time_s < self.duration_s)

    @classmethod
    def still(cls, duration_s: float, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> Scene:
        """A static shot: no events, zero motion, centred."""
        steps = max(1, math.ceil(duration_s * DEFAULT_CONTROL_RATE_HZ - 1e-9))
        return cls(
            duration_s=duration_s,
            sample_rate_hz=sample_rate_hz,
            control_rate_hz=DEFAULT_CONTROL_RATE_HZ,
            events=(),
            motion=np.zeros(steps, np.float32),
            pan=np.zeros(steps, np.float32),
        )
