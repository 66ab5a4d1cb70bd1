from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from foleyserve.media.audio import Audio
from foleyserve.media.segments import Segment, plan_segments, stitch

RATE_HZ = 48_000


def test_short_video_is_one_segment() -> None:
    assert plan_segments(12.5, max_segment_s=15.0, segment_s=8.0) == [Segment(0, 0.0, 12.5)]


def test_long_video_is_spread_evenly() -> None:
    segments = plan_segments(30.0, max_segment_s=15.0, segment_s=10.0, overlap_s=1.0)
    assert [(s.start_s, s.duration_s) for s in segments] == [
        (0.0, 8.25),
        (7.25, 8.25),
        (14.5, 8.25),
        (21.75, 8.25),
    ]


def test_no_sliver_at_the_end() -> None:
    segments = plan_segments(15.5, max_segment_s=15.0, overlap_s=1.0)
    assert len(segments) == 2 and min(s.duration_s for s in segments) > 8.0


@given(
    duration_s=st.floats(min_value=0.1, max_value=1200.0),
    max_segment_s=st.floats(min_value=1.0, max_value=30.0),
    segment_fraction=st.floats(min_value=0.2, max_value=1.0),
    overlap_fraction=st.floats(min_value=0.0, max_value=1 / 3),
)
def test_plan_properties(
    duration_s: float, max_segment_s: float, segment_fraction: float, overlap_fraction: float
) -> None:
    segment_s = max_segment_s * segment_fraction
    overlap_s = segment_s * overlap_fraction
    segments = plan_segments(
        duration_s, max_segment_s=max_segment_s, segment_s=segment_s, overlap_s=overlap_s
    )
    assert segments[0].start_s == 0.0
    assert math.isclose(segments[-1].end_s, duration_s, abs_tol=1e-9)
    assert [s.index for s in segments] == list(range(len(segments)))
    assert all(s.duration_s <= max_segment_s for s in segments)
    assert all(s.start_s == round(s.start_s * 1000) / 1000 for s in segments)
    for a, b in itertools.pairwise(segments):
        assert math.isclose(a.end_s - b.start_s, overlap_s, abs_tol=1e-9)
        assert b.start_s >= a.start_s + overlap_s - 1e-9  # overlaps never stack three deep
    if len(segments) > 1:
        lengths = [s.duration_s for s in segments]
        assert max(lengths) - min(lengths) < 0.01  # evenly spread
        # The fewest windows of about segment_s (a few more only if rounding to milliseconds
        # would push one past max_segment_s).
        fewest = math.ceil((duration_s - overlap_s) / (segment_s - overlap_s))
        assert len(segments) <= fewest + max(1, fewest // 200)


def test_bad_plans() -> None:
    with pytest.raises(ValueError, match="duration"):
        plan_segments(0.0, max_segment_s=10.0)
    with pytest.raises(ValueError, match="segment_s"):
        plan_segments(30.0, max_segment_s=10.0, segment_s=12.0)
    with pytest.raises(ValueError, match="overlap"):
        plan_segments(30.0, max_segment_s=10.0, overlap_s=4.0)


def _noise_parts(segments: list[Segment], seed: int = 0) -> list[Audio]:
    rng = np.random.default_rng(seed)
    return [
        Audio(
            (0.1 * rng.standard_normal((2, round(s.duration_s * RATE_HZ)))).astype(np.float32),
            RATE_HZ,
        )
        for s in segments
    ]


def _rms_db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2)))


def test_stitch_has_the_exact_length() -> None:
    segments = plan_segments(21.37, max_segment_s=8.0, overlap_s=1.0)
    parts = _noise_parts(segments)
    for total in (round(21.37 * RATE_HZ), round(21.37 * RATE_HZ) + 500, 10 * RATE_HZ):
        assert stitch(parts, segments, total_samples=total).n_samples == total


def test_no_level_jump_at_joins() -> None:
    """Equal power keeps uncorrelated material at one level through each crossfade."""
    segments = plan_segments(40.0, max_segment_s=10.0, overlap_s=1.0)
    out = stitch(_noise_parts(segments), segments, total_samples=40 * RATE_HZ)
    elsewhere = _rms_db(out.samples[:, 2 * RATE_HZ : 5 * RATE_HZ])
    for segment in segments[1:]:
        join = round((segment.start_s + 0.5) * RATE_HZ)
        around = out.samples[:, join - RATE_HZ // 10 : join + RATE_HZ // 10]
        assert abs(_rms_db(around) - elsewhere) < 1.0


def test_identical_signals_bump_by_up_to_3_db() -> None:
    """The documented trade-off: in-phase identical parts add in amplitude mid-join."""
    segments = plan_segments(20.0, max_segment_s=11.0, overlap_s=1.0)
    t = np.arange(round(20 * RATE_HZ)) / RATE_HZ
    whole = (0.1 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    parts = []
    for s in segments:
        first = round(s.start_s * RATE_HZ)
        chunk = whole[first : first + round(s.duration_s * RATE_HZ)]
        parts.append(Audio(np.stack([chunk, chunk]), RATE_HZ))
    out = stitch(parts, segments, total_samples=len(t))
    middle = round((segments[1].start_s + 0.5) * RATE_HZ)
    bump = _rms_db(out.samples[:, middle - 480 : middle + 480]) - _rms_db(out.samples[:, :RATE_HZ])
    assert 2.5 < bump <= 3.02


def test_parts_play_at_full_level_away_from_joins() -> None:
    segments = plan_segments(20.0, max_segment_s=11.0, overlap_s=1.0)
    parts = _noise_parts(segments)
    out = stitch(parts, segments, total_samples=20 * RATE_HZ)
    np.testing.assert_array_equal(out.samples[:, : 5 * RATE_HZ], parts[0].samples[:, : 5 * RATE_HZ])


def test_stitch_refuses_mismatches() -> None:
    segments = plan_segments(20.0, max_segment_s=11.0, overlap_s=1.0)
    parts = _noise_parts(segments)
    with pytest.raises(ValueError, match="one part per segment"):
        stitch(parts[:1], segments, total_samples=10)
    other_rate = [parts[0], Audio(parts[1].samples, 44_100)]
    with pytest.raises(ValueError, match="sample rate"):
        stitch(other_rate, segments, total_samples=10)
