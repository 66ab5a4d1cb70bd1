from __future__ import annotations

import itertools
import json
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from safetensors.numpy import load_file

from foleyserve.errors import InvalidInput
from foleyserve.media.decode import Frame, FrameSpec, cover_size, iter_frames
from foleyserve.media.synthetic import make_test_pattern

from .conftest import H, W

GOLDEN = Path(__file__).resolve().parents[3] / "shared" / "golden" / "preprocess"
"""HunyuanVideo-Foley's own preprocessing of three clips, kept beside the repo."""
SIGLIP2 = FrameSpec("siglip2", 8, 512, 512, max_time_s=15.0)
SYNCHFORMER = FrameSpec(
    "synchformer", 25, 224, 224, fit="crop", max_time_s=15.0, interpolation="bicubic"
)
needs_golden = pytest.mark.skipif(not GOLDEN.is_dir(), reason=f"{GOLDEN} not found")


def _by_spec(frames: list[Frame]) -> dict[str, list[Frame]]:
    grouped: dict[str, list[Frame]] = defaultdict(list)
    for frame in frames:
        grouped[frame.spec].append(frame)
    return grouped


def _reference_selection(times_s: list[float], fps: float, max_time_s: float = 1e9) -> list[int]:
    """HunyuanVideo-Foley's `get_frames_av` rule, written out plainly over a list of times."""
    picked, next_s = [], 0.0
    for index, time_s in enumerate(times_s):
        if time_s > max_time_s:
            break
        while time_s >= next_s:
            picked.append(index)
            next_s += 1 / fps
    return picked


def _source_times(path: Path) -> list[float]:
    return [f.time_s for f in iter_frames(path, [FrameSpec("t", None, 8, 8, pix_fmt="gray")])]


def _golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / "frames.json").read_text())
    return data


@needs_golden
@pytest.mark.parametrize("clip", ["clip30.mp4", "clip24.mp4", "clip_long.mp4"])
def test_frame_selection_matches_hunyuan_video_foley(clip: str) -> None:
    expected = _golden()["clips"][clip]
    small = [
        FrameSpec("siglip2", 8, 16, 16, max_time_s=15.0),
        FrameSpec("synchformer", 25, 16, 16, max_time_s=15.0),
    ]
    got = _by_spec(list(iter_frames(GOLDEN / clip, small)))
    for name in ("siglip2", "synchformer"):
        assert len(got[name]) == expected[name]["n_frames"]
        assert [f.source_index for f in got[name]] == expected[name]["source_indices"]
        assert [f.time_s for f in got[name]] == expected[name]["source_times"]
        assert [f.index for f in got[name]] == list(range(len(got[name])))


def _normalised(frames: list[Frame]) -> npt.NDArray[np.float32]:
    stacked = np.stack([f.pixels for f in frames]).astype(np.float32)
    return (stacked.transpose(0, 3, 1, 2) / 255.0 - 0.5) / 0.5


@needs_golden
def test_resizes_come_close_to_the_reference_preprocessing() -> None:
    """swscale is not PIL or torch: measured 3.8e-3 (SigLIP2) and 7.1e-3 (Synchformer)."""
    reference = load_file(str(GOLDEN / "preprocessed.safetensors"))
    chosen = _golden()["chosen"]
    got = _by_spec(list(iter_frames(GOLDEN / "clip30.mp4", [SIGLIP2, SYNCHFORMER])))
    for name, limit in (("siglip2", 5e-3), ("synchformer", 1e-2)):
        ours = _normalised([got[name][i] for i in chosen[f"{name}_output_index"]])
        ref = reference[f"{name}_pixels"].astype(np.float32)
        assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < limit


def test_every_frame_at_its_own_time(vfr_video: Path) -> None:
    frames = list(iter_frames(vfr_video, [FrameSpec("all", None, 32, 24)]))
    gaps = np.diff([f.time_s for f in frames])
    assert gaps[0::2] == pytest.approx(1 / 30) and gaps[1::2] == pytest.approx(1 / 20)
    assert [f.source_index for f in frames] == list(range(len(frames)))
    assert frames[0].pixels.shape == (24, 32, 3)


def test_low_frame_rate_source_duplicates_frames(mov_video: Path) -> None:
    """24 fps in, 50 fps out: about every other output repeats a source frame."""
    frames = list(iter_frames(mov_video, [FrameSpec("fast", 50, 32, 24)]))
    sources = [f.source_index for f in frames]
    assert sources == _reference_selection(_source_times(mov_video), 50)
    # The last source frame is at 47/24 s: 98 targets (k/50 <= 1.958) are reached.
    assert len(frames) == 98 and len(set(sources)) == 48
    repeated = [(a, b) for a, b in itertools.pairwise(frames) if a.source_index == b.source_index]
    assert repeated and all(a.pixels is b.pixels for a, b in repeated)
    assert not frames[0].pixels.flags.writeable


def test_specs_share_one_decode(mp4_video: Path) -> None:
    specs = [
        FrameSpec("gray", 10, W // 2, H // 2, pix_fmt="gray"),
        FrameSpec("square", 5, 48, 48, fit="crop"),
        FrameSpec("wide", None, 64, 16),
    ]
    got = _by_spec(list(iter_frames(mp4_video, specs)))
    assert len(got["gray"]) == 20 and got["gray"][0].pixels.shape == (H // 2, W // 2)
    assert len(got["square"]) == 10 and got["square"][0].pixels.shape == (48, 48, 3)
    assert len(got["wide"]) == 60 and got["wide"][0].pixels.shape == (16, 64, 3)
    # Accumulating 0.2 s gives 0.6000000000000001 > 18/30: the fourth pick is source 19.
    assert [f.source_index for f in got["square"]] == [0, 6, 12, 19, 24, 30, 36, 42, 48, 54]
    assert [f.source_index for f in got["square"]] == _reference_selection(
        _source_times(mp4_video), 5
    )


def test_crop_keeps_the_centre(mp4_video: Path) -> None:
    """Cropping a 4:3 frame to a square drops the sides: the centre matches a stretch of the
    centre region."""
    crop = FrameSpec("crop", 1, 60, 60, fit="crop")
    full = FrameSpec("full", 1, 80, 60)
    got = _by_spec(list(iter_frames(mp4_video, [crop, full])))
    centre = got["full"][0].pixels[:, 10:70].astype(int)
    assert np.abs(got["crop"][0].pixels.astype(int) - centre).mean() < 2


def test_cover_size() -> None:
    assert cover_size(640, 360, 224, 224) == (398, 224)
    assert cover_size(360, 640, 224, 224) == (224, 398)
    assert cover_size(100, 100, 50, 80) == (80, 80)


def test_max_time_and_window(mp4_video: Path) -> None:
    capped = list(iter_frames(mp4_video, [FrameSpec("c", 10, 16, 16, max_time_s=1.0)]))
    assert [f.time_s for f in capped][-1] == pytest.approx(1.0)
    window = list(iter_frames(mp4_video, [FrameSpec("w", 10, 16, 16)], start_s=0.55, end_s=1.5))
    times = [f.time_s for f in window]
    assert times[0] == pytest.approx(0.5667, abs=1e-3) and times[-1] < 1.5
    assert len(window) == 10


def test_gray_is_luma(odd_webm: Path) -> None:
    frame = next(iter_frames(odd_webm, [FrameSpec("g", None, 321, 181, pix_fmt="gray")]))
    assert frame.pixels.shape == (181, 321) and frame.pixels.dtype == np.uint8


@pytest.fixture(scope="module")
def three_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    make_test_pattern(path, duration_s=180.0, width=64, height=48, fps=10)
    return path


def test_memory_does_not_grow_with_length(three_minutes: Path) -> None:
    specs = [FrameSpec("a", None, 64, 48), FrameSpec("b", 25, 32, 32, fit="crop")]
    tracemalloc.start()
    try:
        count = 0
        for frame in iter_frames(three_minutes, specs):
            count += 1
            del frame
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 1800 source frames; at 25 fps the targets run to the last frame at 179.9 s.
    assert count == 1800 + 4498
    # All frames together would be 1800 * 9 KB + 4500 * 3 KB = 30 MB.
    assert peak_bytes < 1_000_000


def test_truncated_stream_raises_after_its_frames(tmp_path: Path, faststart_mp4: Path) -> None:
    path = tmp_path / "cut.mp4"
    data = faststart_mp4.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.5)])
    frames: list[Frame] = []
    with pytest.raises(InvalidInput) as caught:
        frames.extend(iter_frames(path, [FrameSpec("all", None, 16, 16)]))
    assert caught.value.code == "truncated_file"
    assert "of 4.00 s" in caught.value.message
    assert 5 <= len(frames) < 40


def test_a_few_missing_frames_at_the_end_pass_quietly(tmp_path: Path, faststart_mp4: Path) -> None:
    path = tmp_path / "nearly.mp4"
    data = faststart_mp4.read_bytes()
    path.write_bytes(data[:-200])
    frames = list(iter_frames(path, [FrameSpec("all", None, 16, 16)]))
    assert 36 <= len(frames) <= 40


def test_bad_specs(mp4_video: Path) -> None:
    with pytest.raises(ValueError, match="fps"):
        FrameSpec("x", 0, 16, 16)
    with pytest.raises(ValueError, match="size"):
        FrameSpec("x", None, 0, 16)
    with pytest.raises(ValueError, match="unique"):
        list(iter_frames(mp4_video, [FrameSpec("x", None, 8, 8), FrameSpec("x", 1, 8, 8)]))
    with pytest.raises(ValueError, match="end_s"):
        list(iter_frames(mp4_video, [FrameSpec("x", None, 8, 8)], start_s=1.0, end_s=0.5))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        list(iter_frames(tmp_path / "none.mp4", [FrameSpec("x", None, 8, 8)]))
    assert caught.value.code == "file_not_found"
