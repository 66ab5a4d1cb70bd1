"""Test videos for the media tests, made once per session by `foleyserve.media.synthetic`."""

from __future__ import annotations

from pathlib import Path

import pytest

from foleyserve.media.audio import Audio
from foleyserve.media.mux import mux_audio
from foleyserve.media.synthetic import make_bouncing_ball, make_test_pattern

IMPACTS_S = (0.5, 1.2, 1.6)
"""Multiples of 1/30 s and 1/25 s, so a frame sits exactly on every impact."""
DURATION_S = 2.0
W, H = 160, 120


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


def _ball(
    directory: Path,
    name: str,
    *,
    fps: float = 30,
    width: int = W,
    height: int = H,
    codec: str | None = None,
    with_audio: bool = False,
    variable_fps: bool = False,
) -> Path:
    path = directory / name
    make_bouncing_ball(
        path,
        impact_times_s=IMPACTS_S,
        duration_s=DURATION_S,
        width=width,
        height=height,
        fps=fps,
        codec=codec,
        with_audio=with_audio,
        variable_fps=variable_fps,
    )
    return path


@pytest.fixture(scope="session")
def mp4_video(media_dir: Path) -> Path:
    """H.264 in MP4, 30 fps, with an AAC sound track."""
    return _ball(media_dir, "ball.mp4", with_audio=True)


@pytest.fixture(scope="session")
def webm_video(media_dir: Path) -> Path:
    """VP9 in WebM, 25 fps, with an Opus sound track."""
    return _ball(media_dir, "ball.webm", fps=25, with_audio=True)


@pytest.fixture(scope="session")
def mov_video(media_dir: Path) -> Path:
    """mpeg4 in MOV, 24 fps, no sound."""
    return _ball(media_dir, "ball.mov", fps=24, codec="mpeg4")


@pytest.fixture(scope="session")
def mkv_video(media_dir: Path) -> Path:
    """H.264 in Matroska with Opus sound."""
    return _ball(media_dir, "ball.mkv", with_audio=True)


@pytest.fixture(scope="session")
def vfr_video(media_dir: Path) -> Path:
    """H.264 in MP4 with frame gaps alternating 1/30 s and 1/20 s."""
    return _ball(media_dir, "vfr.mp4", variable_fps=True)


@pytest.fixture(scope="session")
def odd_webm(media_dir: Path) -> Path:
    """VP9 at an odd size, 321x181 (kept)."""
    return _ball(media_dir, "odd.webm", width=321, height=181)


@pytest.fixture(scope="session")
def odd_mp4(media_dir: Path) -> Path:
    """H.264 asked at 321x181; written at 320x180 (libx264 needs even sides)."""
    return _ball(media_dir, "odd.mp4", width=321, height=181)


@pytest.fixture(scope="session")
def faststart_mp4(media_dir: Path) -> Path:
    """A test pattern, 4 s, 10 fps; its index (moov) at the front, as after `mux_audio`."""
    plain = media_dir / "pattern_plain.mp4"
    make_test_pattern(plain, duration_s=4.0, width=64, height=48, fps=10)
    path = media_dir / "pattern.mp4"
    mux_audio(plain, Audio.silence(4 * 48_000, 48_000), path)
    return path
