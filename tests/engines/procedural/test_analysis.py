"""Motion analysis on frames drawn in numpy (fast, exact times), and on real decoded videos."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from foleyserve.engines.procedural import analysis
from foleyserve.engines.procedural.analysis import MotionTracker, detect_onsets, to_features
from foleyserve.media.decode import iter_frames
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import make_bouncing_ball, make_static

W, H = 128, 96


def _background(seed: int, shade: int) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 24, size=(H, W))
    return (shade + texture).astype(np.uint8)


def _ball_height(t: float, impacts: list[float]) -> float:
    """0 on the floor, positive above it: a fall, then parabolic bounces landing on `impacts`."""
    release_s = impacts[0] - 0.45
    if t <= release_s:
        return 1.0
    if t <= impacts[0]:  # dropped from rest
        return 1.0 - ((t - release_s) / 0.45) ** 2
    for a, b in itertools.pairwise(impacts):
        if t <= b:
            return 4.0 * (t - a) * (b - t) / (b - a) ** 2 * min(1.0, 2.0 * (b - a))
    return 0.0


def _frames(
    impacts: list[float], duration_s: float, fps: float, cut_at_s: float | None = None
) -> list[tuple[float, npt.NDArray[np.uint8]]]:
    frames = []
    yy, xx = np.mgrid[0:H, 0:W]
    for k in range(int(duration_s * fps)):
        t = k / fps
        after_cut = cut_at_s is not None and t >= cut_at_s
        img = _background(2 if after_cut else 1, 120 if after_cut else 20).copy()
        x = 16 + 24 * t
        y = (H - 12) - 70 * _ball_height(t, impacts)
        img[(xx - x) ** 2 + (yy - y) ** 2 <= 36] = 230
        frames.append((t, img))
    return frames


def _trace(frames: list[tuple[float, npt.NDArray[np.uint8]]]) -> analysis.MotionTrace:
    tracker = MotionTracker()
    for t, img in frames:
        tracker.push(t, img)
    return tracker.trace


@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0])
def test_onsets_land_on_impacts(fps: float) -> None:
    impacts = [0.7, 1.5, 2.2, 2.75, 3.2]
    onsets = detect_onsets(_trace(_frames(impacts, 4.0, fps)))
    times = [o.time_s for o in onsets]
    assert len(times) == len(impacts), times
    for found, expected in zip(times, impacts, strict=True):
        assert abs(found - expected) <= 0.5 / fps + 0.005, (found, expected)
    assert all(0 < o.strength <= 1 for o in onsets)


def test_static_picture_with_noise_has_no_motion() -> None:
    rng = np.random.default_rng(0)
    base = _background(1, 60).astype(np.int16)
    frames = [
        (k / 30, np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8))
        for k in range(90)
    ]
    trace = _trace(frames)
    assert detect_onsets(trace) == []
    features = to_features(trace, 3.0)
    assert float(features.tracks["motion"].values.max()) < 0.05


def test_scene_cut_is_not_an_impact() -> None:
    impacts = [0.6, 1.4]
    frames = _frames(impacts, 3.0, 30.0, cut_at_s=2.0)
    trace = _trace(frames)
    assert sum(trace.cut) == 1
    onsets = [o.time_s for o in detect_onsets(trace)]
    assert all(abs(t - 2.0) > 0.2 for t in onsets), onsets
    features = to_features(trace, 3.0)
    cut_bins = np.flatnonzero(features.tracks["cuts"].values)
    assert len(cut_bins) == 1 and abs(cut_bins[0] / 100 - 2.0) < 0.05


def test_pan_follows_the_moving_thing() -> None:
    features = to_features(_trace(_frames([0.5, 1.0, 1.5, 2.0, 2.5], 2.5, 30.0)), 2.5)
    pan = features.tracks["pan"].values
    # The ball drifts from the left edge (x = 16 of 128) to the middle (x = 74 at 2.4 s).
    assert pan[20] == pytest.approx(2 * 20.8 / 127 - 1, abs=0.08)
    assert pan[240] == pytest.approx(2 * 73.6 / 127 - 1, abs=0.08)


def test_features_have_one_value_per_control_step() -> None:
    features = to_features(_trace(_frames([0.5], 1.0, 25.0)), 1.23)
    assert features.duration_s == 1.23
    for track in features.tracks.values():
        assert track.rate_hz == analysis.CONTROL_RATE_HZ
        assert len(track.values) == 123
        assert track.values.dtype == np.float32


@pytest.mark.parametrize(("suffix", "fps"), [(".mp4", 30.0), (".webm", 25.0), (".mov", 24.0)])
def test_decoded_video_onsets_match_the_impacts(tmp_path: Path, suffix: str, fps: float) -> None:
    impacts = [0.6, 1.3, 1.9, 2.4, 2.8, 3.6]
    path = tmp_path / f"ball{suffix}"
    make_bouncing_ball(path, impact_times_s=impacts, duration_s=4.5, fps=fps)
    info = probe(path)
    spec = analysis.frame_spec(info.width, info.height, info.fps)
    features = analysis.analyze_frames(iter_frames(path, [spec]), info.duration_s)
    onset_track = features.tracks["onsets"].values
    found = np.flatnonzero(onset_track) / analysis.CONTROL_RATE_HZ
    hits = [any(abs(f - t) <= 0.040 for f in found) for t in impacts]
    assert sum(hits) / len(impacts) >= 0.9, (found, impacts)
    assert len(found) <= len(impacts) + 1, found


def test_static_video_has_no_onsets(tmp_path: Path) -> None:
    path = tmp_path / "static.mp4"
    make_static(path, duration_s=3.0, width=320, height=240, fps=30, codec="libx264")
    info = probe(path)
    spec = analysis.frame_spec(info.width, info.height, info.fps)
    features = analysis.analyze_frames(iter_frames(path, [spec]), info.duration_s)
    assert not features.tracks["onsets"].values.any()
