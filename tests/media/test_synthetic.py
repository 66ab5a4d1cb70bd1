from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from foleyserve.errors import OutputError
from foleyserve.media.decode import FrameSpec, iter_frames
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import (
    FLOOR_FRACTION,
    ball_height_px,
    ball_x_px,
    make_bouncing_ball,
    make_static,
    make_test_pattern,
)
from foleyserve.media.video_writer import frame_times_s

from .conftest import IMPACTS_S, H, W

RADIUS_PX = round(min(W, H) * 0.06)
FLOOR_Y = round(H * FLOOR_FRACTION)
MAX_HEIGHT_PX = FLOOR_Y - 2 * RADIUS_PX


def _frames(path: Path) -> list[tuple[float, npt.NDArray[np.uint8]]]:
    spec = FrameSpec("all", None, W, H)
    return [(f.time_s, f.pixels) for f in iter_frames(path, [spec])]


def _ball_mask(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """The yellow ball (255, 230, 80): bright, and far more red than blue. (The grey floor
    line it touches picks up a yellow tint from chroma subsampling, but stays greyer.)"""
    rgb = pixels.astype(np.int32)
    mask: npt.NDArray[np.bool_] = (
        (rgb[..., 0] > 180) & (rgb[..., 1] > 160) & (rgb[..., 0] - rgb[..., 2] > 90)
    )
    return mask


def test_the_ball_is_where_the_physics_puts_it(mp4_video: Path) -> None:
    """Frame by frame, the decoded ball's centre follows `ball_height_px` and `ball_x_px`: it
    touches the floor exactly at each impact time, and the file's timestamps are the true
    ones (near an impact the ball moves about 8 px per frame, so a frame late is caught)."""
    for time_s, pixels in _frames(mp4_video):
        rows, cols = np.nonzero(_ball_mask(pixels))
        height_px = ball_height_px(time_s, IMPACTS_S, MAX_HEIGHT_PX)
        expected_y = FLOOR_Y - RADIUS_PX - height_px
        assert rows.mean() + 0.5 == pytest.approx(expected_y, abs=1.0), time_s
        assert rows.max() < FLOOR_Y
        expected_x = ball_x_px(time_s, W, RADIUS_PX, 60.0)
        assert cols.mean() + 0.5 == pytest.approx(expected_x, abs=1.0), time_s


def test_impacts_are_floor_contacts_and_the_ball_rests_after() -> None:
    for t in IMPACTS_S:
        assert ball_height_px(t, IMPACTS_S, 100.0) == 0.0
    assert ball_height_px(0.0, IMPACTS_S, 100.0) == 100.0
    assert ball_height_px(0.25, IMPACTS_S, 100.0) == pytest.approx(75.0)
    assert all(ball_height_px(t, IMPACTS_S, 100.0) == 0.0 for t in (1.6, 1.8, 5.0))
    # Apex halfway between impacts, proportional to the squared gap: 0.7 s -> 0.49 of the top.
    assert ball_height_px(0.85, IMPACTS_S, 100.0) == pytest.approx(49.0)
    assert ball_height_px(1.4, IMPACTS_S, 100.0) == pytest.approx(16.0)
    # A gap over a second is capped at the top of the frame.
    assert ball_height_px(2.0, [1.0, 3.0], 100.0) == pytest.approx(100.0)
    assert ball_height_px(3.0, [], 100.0) == 0.0


def test_the_ball_drifts_and_bounces_off_the_walls() -> None:
    xs = [ball_x_px(t, 100, 5, 60.0) for t in np.linspace(0, 10, 200)]
    assert min(xs) >= 5 and max(xs) <= 95
    assert xs[1] > xs[0]
    assert any(b < a for a, b in itertools.pairwise(xs))


def test_scene_cut_changes_the_whole_picture(tmp_path: Path) -> None:
    path = tmp_path / "cut.mp4"
    make_bouncing_ball(
        path, impact_times_s=[0.3], duration_s=1.0, width=W, height=H, scene_cut_at_s=0.5
    )
    frames = _frames(path)
    means = [pixels[: FLOOR_Y - 40].reshape(-1, 3).mean(axis=0) for _, pixels in frames]
    steps = [float(np.abs(b - a).sum()) for a, b in itertools.pairwise(means)]
    cut = int(np.argmax(steps)) + 1
    assert frames[cut][0] == pytest.approx(0.5)
    assert steps[cut - 1] > 30 and sorted(steps)[-2] < 10


def test_static_shot_only_has_noise(tmp_path: Path) -> None:
    path = tmp_path / "static.webm"
    make_static(path, duration_s=1.0, width=W, height=H, fps=10)
    frames = [pixels.astype(float) for _, pixels in _frames(path)]
    assert len(frames) == 10
    differences = [np.abs(b - a).mean() for a, b in itertools.pairwise(frames)]
    assert max(differences) < 4.0
    assert frames[0].std() > 10  # a textured scene, not a flat field


def test_test_pattern_is_even_sized_and_moves(tmp_path: Path) -> None:
    path = tmp_path / "pattern.mkv"
    make_test_pattern(path, duration_s=1.0, width=65, height=49, fps=10, with_audio=True)
    info = probe(path)
    assert (info.width, info.height, info.audio_codec) == (64, 48, "opus")
    frames = [pixels.astype(float) for _, pixels in _frames(path)]
    assert np.abs(frames[5] - frames[0]).mean() > 10


def test_frame_times() -> None:
    assert frame_times_s(1.0, 4) == [0.0, 0.25, 0.5, 0.75]
    vfr = frame_times_s(0.2, 30, variable_fps=True)
    assert np.diff(vfr) == pytest.approx([1 / 30, 1 / 20, 1 / 30, 1 / 20])


def test_mpeg4_keeps_odd_sizes(tmp_path: Path) -> None:
    path = tmp_path / "odd.mov"
    make_bouncing_ball(
        path, impact_times_s=[0.2], duration_s=0.4, width=65, height=49, codec="mpeg4"
    )
    info = probe(path)
    assert (info.width, info.height, info.video_codec) == (65, 49, "mpeg4")


def test_bad_requests(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ascending"):
        make_bouncing_ball(tmp_path / "a.mp4", impact_times_s=[1.0, 0.5], duration_s=2.0)
    with pytest.raises(ValueError, match=r"\.avi"):
        make_bouncing_ball(tmp_path / "a.avi", impact_times_s=[0.5], duration_s=1.0)
    with pytest.raises(OutputError) as caught:
        make_bouncing_ball(tmp_path / "no" / "a.mp4", impact_times_s=[0.5], duration_s=1.0)
    assert caught.value.code == "output_unwritable"
