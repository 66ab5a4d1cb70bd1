"""Long videos in pieces: plan overlapping windows an engine can generate, and stitch the
generated audio back into one track with equal-power crossfades.

Equal power (fade-out cos, fade-in sin, so cos² + sin² = 1) keeps the level constant across a
join when the two sides are uncorrelated, which independently generated segments are. For two
identical, in-phase signals the amplitudes add instead and the middle of the join is up to 3 dB
louder (cos + sin peaks at √2); that is the known trade-off against an equal-gain crossfade,
which would dip by 3 dB on uncorrelated material.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from foleyserve.media.audio import Audio


@dataclass(frozen=True)
class Segment:
    """One window of a long video: `[start_s, start_s + duration_s)`."""

    index: int
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def plan_segments(
    duration_s: float,
    *,
    max_segment_s: float,
    segment_s: float | None = None,
    overlap_s: float = 1.0,
) -> list[Segment]:
    """Windows covering `[0, duration_s]`.

    One window when `duration_s <= max_segment_s`. Otherwise the fewest windows no longer than
    `segment_s` (default `max_segment_s`) that cover the duration with `overlap_s` between
    neighbours, spread evenly (all about the same length, no sliver at the end). Starts are
    whole milliseconds; each overlap is exactly `overlap_s` and the last window ends exactly at
    `duration_s`. `ValueError` unless `0 <= 3 * overlap_s <= segment_s <= max_segment_s` (so
    each overlap ends before the next begins, and stitching joins two parts at a time).
    """
    target_s = max_segment_s if segment_s is None else segment_s
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    if not 0 < target_s <= max_segment_s:
        raise ValueError(f"need 0 < segment_s <= max_segment_s, got {target_s}, {max_segment_s}")
    if not 0 <= 3 * overlap_s <= target_s:
        raise ValueError(
            f"overlap_s must be between 0 and a third of the segment, got {overlap_s} "
            f"for segments of {target_s} s"
        )
    if duration_s <= max_segment_s:
        return [Segment(0, 0.0, duration_s)]
    count = math.ceil((duration_s - overlap_s) / (target_s - overlap_s))
    windows = _even_windows(duration_s, count, overlap_s)
    while any(w.duration_s > max_segment_s for w in windows):
        # Rounding the starts to milliseconds lengthened a window past the limit (by under
        # 1 ms); one more window shortens them all.
        count += 1
        windows = _even_windows(duration_s, count, overlap_s)
    return windows


def _even_windows(duration_s: float, count: int, overlap_s: float) -> list[Segment]:
    step_s = (duration_s - overlap_s) / count
    starts_s = [round(k * step_s * 1000) / 1000 for k in range(count)]
    ends_s = [start + overlap_s for start in starts_s[1:]] + [duration_s]
    pairs = enumerate(zip(starts_s, ends_s, strict=True))
    return [Segment(k, start, end - start) for k, (start, end) in pairs]


def stitch(parts: Sequence[Audio], segments: Sequence[Segment], *, total_samples: int) -> Audio:
    """Join generated `parts` (one per segment, in order) into exactly `total_samples` samples.

    Part k starts at sample `round(segments[k].start_s * rate)`. Where two parts overlap (by
    their actual lengths), the earlier fades out (cos) and the later fades in (sin) over the
    overlap; elsewhere each part plays at full level. The result is cut or zero-padded at the
    end. `ValueError` when the counts differ, rates or channel counts disagree, or three parts
    would overlap at one sample.
    """
    if not parts or len(parts) != len(segments):
        raise ValueError(f"need one part per segment, got {len(parts)} and {len(segments)}")
    rate, channels = parts[0].sample_rate_hz, parts[0].channels
    if any(p.sample_rate_hz != rate or p.channels != channels for p in parts):
        raise ValueError("all parts must share one sample rate and channel count")
    offsets = [round(s.start_s * rate) for s in segments]
    ends = [offset + part.n_samples for offset, part in zip(offsets, parts, strict=True)]
    if any(ends[k] > offsets[k + 2] for k in range(len(parts) - 2)):
        raise ValueError("a part overlaps the one after its neighbour; overlaps are too long")
    out = np.zeros((channels, total_samples), np.float32)
    for k, (part, offset) in enumerate(zip(parts, offsets, strict=True)):
        fade_in = ends[k - 1] - offset if k > 0 else 0
        fade_out = ends[k] - offsets[k + 1] if k + 1 < len(parts) else 0
        weighted = part.samples * _weights(part.n_samples, fade_in, fade_out)
        stop = min(total_samples, ends[k])
        if stop > offset:
            out[:, offset:stop] += weighted[:, : stop - offset]
    return Audio(out, rate)


def _weights(n_samples: int, fade_in: int, fade_out: int) -> npt.NDArray[np.float32]:
    """Per-sample gains: sin over the first `fade_in` samples, cos over the last `fade_out`."""
    weights = np.ones(n_samples, np.float64)
    fade_in, fade_out = min(max(fade_in, 0), n_samples), min(max(fade_out, 0), n_samples)
    if fade_in:
        weights[:fade_in] *= np.sin(0.5 * np.pi * _ramp(fade_in))
    if fade_out:
        weights[n_samples - fade_out :] *= np.cos(0.5 * np.pi * _ramp(fade_out))
    return weights.astype(np.float32)


def _ramp(n: int) -> npt.NDArray[np.float64]:
    """n points rising through (0, 1), sample centres: the same curve for both sides."""
    return (np.arange(n) + 0.5) / n
