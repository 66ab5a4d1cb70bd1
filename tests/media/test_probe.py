from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest

from foleyserve.errors import InvalidInput
from foleyserve.media.audio import Audio, AudioFormat, encode_audio
from foleyserve.media.probe import MediaLimits, VideoInfo, probe
from foleyserve.media.synthetic import make_bouncing_ball

from .conftest import DURATION_S, H, W


def _refused(path: Path, code: str, limits: MediaLimits | None = None) -> str:
    with pytest.raises(InvalidInput) as caught:
        probe(path, limits or MediaLimits())
    assert caught.value.code == code, caught.value.message
    return caught.value.message


def test_mp4_is_described(mp4_video: Path) -> None:
    info = probe(mp4_video)
    assert info.container.startswith("mov,mp4")
    assert (info.width, info.height, info.video_codec) == (W, H, "h264")
    assert info.duration_s == pytest.approx(DURATION_S, abs=1e-6)
    assert info.fps == pytest.approx(30.0)
    assert not info.variable_fps
    assert info.frame_count == 60
    assert (info.audio_codec, info.audio_sample_rate_hz, info.audio_channels) == ("aac", 48_000, 2)
    assert info.has_audio
    assert [(s.kind, s.codec) for s in info.streams] == [("video", "h264"), ("audio", "aac")]
    assert info.size_bytes == mp4_video.stat().st_size


@pytest.mark.parametrize(
    ("fixture", "codec", "fps", "audio"),
    [
        ("webm_video", "vp9", 25.0, "opus"),
        ("mov_video", "mpeg4", 24.0, None),
        ("mkv_video", "h264", 30.0, "opus"),
    ],
)
def test_other_containers_are_described(
    request: pytest.FixtureRequest, fixture: str, codec: str, fps: float, audio: str | None
) -> None:
    info: VideoInfo = probe(request.getfixturevalue(fixture))
    assert (info.video_codec, info.audio_codec) == (codec, audio)
    assert info.fps == pytest.approx(fps)
    # The video's own span, not the (slightly longer, Opus-padded) container duration.
    assert info.duration_s == pytest.approx(DURATION_S, abs=0.002)
    assert not info.variable_fps


def test_variable_frame_rate_is_detected(vfr_video: Path) -> None:
    info = probe(vfr_video)
    assert info.variable_fps
    assert 20 < info.fps < 30


def test_odd_sizes(odd_webm: Path, odd_mp4: Path) -> None:
    assert (probe(odd_webm).width, probe(odd_webm).height) == (321, 181)
    assert (probe(odd_mp4).width, probe(odd_mp4).height) == (320, 180)


def test_missing_file(tmp_path: Path) -> None:
    message = _refused(tmp_path / "nope.mp4", "file_not_found")
    assert "nope.mp4" in message and "does not exist" in message


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    assert "not a regular file" in _refused(tmp_path, "file_not_found")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    assert "0 bytes" in _refused(path, "empty_file")


def test_file_too_large(mp4_video: Path) -> None:
    message = _refused(mp4_video, "file_too_large", MediaLimits(max_file_bytes=1000))
    assert f"{mp4_video.stat().st_size / 1e6:.1f} MB" in message and "0.0 MB" in message


@pytest.mark.parametrize(
    "content", [b"hello, this is not a video\n" * 50, bytes(range(256)) * 40], ids=["text", "bytes"]
)
def test_not_a_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    message = _refused(path, "not_a_video")
    assert "clip.mp4" in message and "MP4" in message


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_image(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"still{suffix}"
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    av.VideoFrame.from_ndarray(pixels, format="rgb24").save(path)
    message = _refused(path, "image_not_video")
    assert "image" in message and "two frames" in message


def test_single_frame_video_is_an_image(tmp_path: Path) -> None:
    path = tmp_path / "one.mp4"
    make_bouncing_ball(path, impact_times_s=[], duration_s=1 / 30, width=64, height=48)
    assert "single frame" in _refused(path, "image_not_video")


@pytest.mark.parametrize("fmt", [AudioFormat.m4a, AudioFormat.wav, AudioFormat.mp3])
def test_audio_only(tmp_path: Path, fmt: AudioFormat) -> None:
    path = tmp_path / f"sound.{fmt.value}"
    encode_audio(Audio.silence(48_000, 48_000), path, fmt)
    message = _refused(path, "no_video_stream")
    assert "audio-only file" in message


def test_truncated_mp4_without_index(tmp_path: Path, mp4_video: Path) -> None:
    """PyAV writes the index (moov) last, so a cut file has none and does not even open."""
    path = tmp_path / "cut.mp4"
    data = mp4_video.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.4)])
    assert "truncated" in _refused(path, "truncated_file")


def test_truncated_mp4_with_index_first(tmp_path: Path, faststart_mp4: Path) -> None:
    path = tmp_path / "cut.mp4"
    data = faststart_mp4.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    message = _refused(path, "truncated_file")
    assert "of the 40 frames its header lists" in message


def test_truncated_webm(tmp_path: Path, webm_video: Path) -> None:
    path = tmp_path / "cut.webm"
    data = webm_video.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.5)])
    message = _refused(path, "truncated_file")
    # The container's duration includes the Opus track's 6.5 ms of encoder delay.
    assert re.search(r"holds only 0\.\d\d s of the 2\.01 s its header declares", message)


def test_too_long(mp4_video: Path) -> None:
    message = _refused(mp4_video, "video_too_long", MediaLimits(max_duration_s=1.5))
    assert "2.00 s" in message and "1.5 s" in message


def test_too_wide(mp4_video: Path) -> None:
    limits = MediaLimits(max_width=100, max_height=100)
    message = _refused(mp4_video, "invalid_dimensions", limits)
    assert f"{W}x{H}" in message and "100x100" in message


def test_too_small(tmp_path: Path) -> None:
    path = tmp_path / "tiny.mp4"
    make_bouncing_ball(path, impact_times_s=[0.1], duration_s=0.5, width=8, height=8)
    message = _refused(path, "invalid_dimensions")
    assert "8x8" in message and "at least 16" in message


def test_unsupported_codec(tmp_path: Path, webm_video: Path) -> None:
    """Renaming the Matroska codec id gives a stream no decoder understands."""
    data = webm_video.read_bytes()
    assert data.count(b"V_VP9") == 1
    path = tmp_path / "strange.webm"
    path.write_bytes(data.replace(b"V_VP9", b"V_XYZ"))
    message = _refused(path, "unsupported_codec")
    assert "cannot decode" in message and "H.264" in message


def test_raw_stream_without_timestamps_has_no_usable_duration(tmp_path: Path) -> None:
    """A raw H.264 elementary stream carries no timestamps, so its duration is unknown: it must
    be refused for that, not mistaken for a still image."""
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * k, np.uint8), "rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    message = _refused(path, "invalid_duration")
    assert "raw.h264" in message and "duration" in message
