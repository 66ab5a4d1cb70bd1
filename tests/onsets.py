"""Find where sounds start in generated audio, to check them against the video's events."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from foleyserve.media.audio import Audio

FRAME_S = 0.002


def audio_onsets(
    audio: Audio, *, threshold: float = 0.05, min_silence_s: float = 0.06
) -> list[float]:
    """Times (s) where the peak envelope (2 ms frames, both channels) rises above `threshold`
    times the loudest frame after at least `min_silence_s` below it."""
    mono = np.abs(audio.samples).max(axis=0)
    hop = max(1, round(FRAME_S * audio.sample_rate_hz))
    n = len(mono) // hop
    env: npt.NDArray[np.float32] = mono[: n * hop].reshape(n, hop).max(axis=1)
    if n == 0 or env.max() <= 0:
        return []
    loud = env > threshold * env.max()
    quiet_frames = round(min_silence_s / FRAME_S)
    onsets = []
    quiet_run = quiet_frames
    for i, is_loud in enumerate(loud):
        if is_loud and quiet_run >= quiet_frames:
            # The attack starts before the envelope crosses the threshold: back up to the first
            # frame that is clearly above the silence floor.
            start = i
            while start > 0 and env[start - 1] > 0.01 * env.max():
                start -= 1
            onsets.append(start * hop / audio.sample_rate_hz)
        quiet_run = 0 if is_loud else quiet_run + 1
    return onsets


def matched_fraction(
    found_s: list[float], expected_s: list[float], tolerance_s: float = 0.040
) -> float:
    """Fraction of expected events with a found onset within `tolerance_s`."""
    if not expected_s:
        return 1.0
    hits = sum(any(abs(f - e) <= tolerance_s for f in found_s) for e in expected_s)
    return hits / len(expected_s)
