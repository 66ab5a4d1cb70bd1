"""The official video preprocessing (golden/preprocess): pixels, frame choice and lengths.

The clips are real H.264 files decoded by our media layer; each frame carries its own source
index as a 10-bit code of black/white squares along its top edge (bit 0 leftmost), so the
SigLIP2 inputs can be read back to the source frames they came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from foleyserve.engines.hunyuan.preprocess import (
    audio_duration_s,
    audio_samples,
    cover_size_short_side,
    decode_pixels,
    hunyuan_frame_specs,
    latent_length,
    siglip2_pixels,
    sync_length,
    sync_window_count,
    sync_windows,
    synchformer_pixels,
)
from foleyserve.errors import InvalidInput
from foleyserve.media.decode import iter_frames
from foleyserve.media.probe import probe

GOLDEN = Path(__file__).resolve().parents[4] / "shared" / "golden" / "preprocess"
"""HunyuanVideo-Foley's own preprocessing of three clips, kept beside the repo."""
TOLERANCE = 1e-3
CLIPS = ("clip30.mp4", "clip24.mp4", "clip_long.mp4")


def relative_error(ours: Any, ref: Any) -> float:
    a, b = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def levels(pixels: Any) -> Any:
    """The uint8 levels behind normalised pixels: every value is (k/255 − 0.5)/0.5."""
    return np.round((np.asarray(pixels, np.float32) + 1) * 127.5).astype(np.int16)


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    if not (GOLDEN / "frames.json").is_file():
        pytest.skip(f"golden reference tensors not found in {GOLDEN}")
    frames: dict[str, Any] = json.loads((GOLDEN / "frames.json").read_text())
    return {"frames": frames, **load_file(str(GOLDEN / "preprocessed.safetensors"))}


def test_pixels_match_official_on_the_decoded_frames(golden: dict[str, Any]) -> None:
    rgb = golden["decoded_rgb"]  # source frames 15 and 75 of clip30, 640x360
    for ours, name in ((siglip2_pixels(rgb), "siglip2"), (synchformer_pixels(rgb), "synchformer")):
        ref = golden[f"{name}_pixels"]
        assert ours.dtype == torch.float32 and ours.shape == ref.shape
        error = relative_error(ours, ref)
        off = int(np.abs(levels(ours) - levels(ref)).max())
        print(f"{name} pixels: relative error {error:.2g} (float16 reference), {off} level(s) off")
        assert error < TOLERANCE
        assert off <= 1


def test_decoded_clip_matches_official_frame_means(golden: dict[str, Any]) -> None:
    """Every frame of clip30 through our decoder and both paths: per-channel means."""
    info = probe(GOLDEN / "clip30.mp4")
    pixels = decode_pixels(GOLDEN / "clip30.mp4", info.width, info.height, chunk_frames=7)
    for name, ours in (("siglip2", pixels.siglip2), ("synchformer", pixels.synchformer)):
        ref = golden[f"{name}_frame_means"]
        assert (
            ours.shape[0]
            == ref.shape[0]
            == golden["frames"]["clips"]["clip30.mp4"][name]["n_frames"]
        )
        assert relative_error(ours.mean(dim=(2, 3)), ref) < TOLERANCE
    chosen = golden["frames"]["chosen"]
    for name in ("siglip2", "synchformer"):
        ours = getattr(pixels, name)[chosen[f"{name}_output_index"]]
        assert relative_error(ours, golden[f"{name}_pixels"]) < TOLERANCE


def _read_codes(siglip2: torch.Tensor) -> list[int]:
    """The source index each 512x512 frame shows: 32 columns of 16 px, bit k in column k."""
    top = siglip2[:, :, 4, 8::16].mean(dim=1)  # [N, 32], a row inside the code squares
    return [sum(1 << bit for bit in range(10) if top[i, bit] > 0) for i in range(len(top))]


def test_frames_fed_to_siglip2_are_the_official_ones(golden: dict[str, Any]) -> None:
    """clip24 (23.976 fps) through `decode_pixels`: each SigLIP2 input shows its source."""
    expected = golden["frames"]["clips"]["clip24.mp4"]
    info = probe(GOLDEN / "clip24.mp4")
    pixels = decode_pixels(GOLDEN / "clip24.mp4", info.width, info.height, threads=2)
    assert _read_codes(pixels.siglip2) == expected["siglip2"]["source_indices"]
    assert pixels.n25 == expected["synchformer"]["n_frames"]
    assert pixels.synchformer.shape[1:] == (3, 224, 224)


@pytest.mark.parametrize("clip", ["clip24.mp4", "clip_long.mp4"])
def test_our_specs_choose_the_official_frames(golden: dict[str, Any], clip: str) -> None:
    """clip24 repeats sources 24 and 47 at 25 fps; clip_long is cut after 15.0 s. (The centre
    crop hides the code, so the choice is read from the decoder's frames.)"""
    expected = golden["frames"]["clips"][clip]
    info = probe(GOLDEN / clip)
    chosen: dict[str, list[int]] = {"siglip2": [], "synchformer": []}
    for frame in iter_frames(GOLDEN / clip, hunyuan_frame_specs(info.width, info.height)):
        assert frame.pixels.shape == (info.height, info.width, 3)
        chosen[frame.spec].append(frame.source_index)
    for name in ("siglip2", "synchformer"):
        assert chosen[name] == expected[name]["source_indices"]


@pytest.mark.parametrize("clip", CLIPS)
def test_lengths_match_official(golden: dict[str, Any], clip: str) -> None:
    expected = golden["frames"]["clips"][clip]
    n25 = expected["synchformer"]["n_frames"]
    windows = expected["synchformer_windows"]
    assert audio_duration_s(n25) == expected["audio_len_in_s"]
    assert latent_length(n25) == expected["latent_frames"]
    assert audio_samples(n25) == expected["audio_samples"]
    assert sync_window_count(n25) == windows["n_windows"]
    assert sync_length(n25) == windows["sync_len"]
    # Frame k carries k in every pixel, so each window shows which frames it holds.
    numbered = torch.arange(n25, dtype=torch.float32).view(n25, 1, 1, 1).expand(n25, 3, 2, 2)
    got = sync_windows(numbered)
    assert got.shape == (windows["n_windows"], 16, 3, 2, 2)
    ranges = [[int(w[0, 0, 0, 0]), int(w[-1, 0, 0, 0]) + 1] for w in got]
    assert ranges == windows["frame_ranges"]
    assert n25 - ranges[-1][1] == windows["unused_tail_frames"]
    assert torch.equal(got[:, :, 0, 0, 0], got[:, :, 2, 1, 1])


def test_latent_length_keeps_the_official_float_quirk() -> None:
    """int(29 / 25 * 50) is 57, not 58: the official code truncates a float product."""
    assert latent_length(29) == 57
    assert latent_length(250) == 500  # 10 s
    assert audio_samples(29) == 55679
    assert sync_length(250) == 240


def test_too_few_frames_is_a_clear_error() -> None:
    """Under 16 frames the official code fails in torch.stack; here the user is told why."""
    assert sync_window_count(16) == 1
    for n25 in (0, 1, 15):
        with pytest.raises(InvalidInput, match="at least 16") as e:
            sync_window_count(n25)
        assert e.value.code == "video_too_short"
    with pytest.raises(InvalidInput):
        sync_windows(torch.zeros(15, 3, 224, 224))


def test_bad_frames_are_refused() -> None:
    bad_frames: list[Any] = [
        np.zeros((2, 8, 8, 3), np.float32),
        np.zeros((8, 8, 3), np.uint8),
        np.zeros((2, 8, 8, 4), np.uint8),
    ]
    for bad in bad_frames:
        with pytest.raises(ValueError, match=r"uint8 \[N, H, W, 3\]"):
            siglip2_pixels(bad)
        with pytest.raises(ValueError, match=r"uint8 \[N, H, W, 3\]"):
            synchformer_pixels(bad)
    with pytest.raises(ValueError, match="pixels must be"):
        sync_windows(torch.zeros(16, 224, 224))


def test_threads_give_the_same_pixels() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (5, 90, 160, 3), dtype=np.uint8)
    assert torch.equal(siglip2_pixels(frames, threads=3), siglip2_pixels(frames))
    with pytest.raises(ValueError, match="threads"):
        siglip2_pixels(frames, threads=0)


def test_any_shape_and_count() -> None:
    """Portrait, square and tiny frames; zero frames give empty batches."""
    assert cover_size_short_side(360, 640, 224) == (224, 398)
    assert cover_size_short_side(1920, 1080, 224) == (398, 224)
    rng = np.random.default_rng(0)
    for height, width in ((300, 200), (224, 224), (20, 30)):
        frames = rng.integers(0, 256, (3, height, width, 3), dtype=np.uint8)
        assert synchformer_pixels(frames).shape == (3, 3, 224, 224)
        assert siglip2_pixels(frames[:1]).shape == (1, 3, 512, 512)
    same = rng.integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    assert np.array_equal(levels(synchformer_pixels(same))[0], same[0].transpose(2, 0, 1))
    empty = np.zeros((0, 64, 64, 3), np.uint8)
    assert synchformer_pixels(empty).shape == (0, 3, 224, 224)
    assert siglip2_pixels(empty).shape == (0, 3, 512, 512)
