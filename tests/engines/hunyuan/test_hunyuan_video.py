"""The video path: one decode streamed through SigLIP2 and Synchformer in chunks gives what the
whole-video reference path gives; lengths follow the official formulas; windows slice whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from foleyserve.engines.base import FeatureTrack, VideoFeatures
from foleyserve.engines.hunyuan.encoders import SIGLIP2_DIR, load_visual_encoder
from foleyserve.engines.hunyuan.preprocess import decode_pixels, sync_windows
from foleyserve.engines.hunyuan.synchformer import SYNCHFORMER_FILE, load_synchformer, sync_features
from foleyserve.engines.hunyuan.video import (
    SYNC_TRACK,
    VISUAL_TRACK,
    VideoAnalyzer,
    fit_rows,
    sequence_lengths,
)
from foleyserve.errors import InvalidInput
from foleyserve.media.probe import probe
from foleyserve.media.synthetic import make_bouncing_ball
from tests.engines.hunyuan.tiny_dir import TINY_SYNCHFORMER


def test_sequence_lengths_are_the_official_ones() -> None:
    ten = sequence_lengths(10.0)
    assert (ten.latent, ten.visual, ten.sync_windows, ten.sync_tokens) == (500, 80, 30, 240)
    clip = sequence_lengths(3.2)  # golden/preprocess clip30: 26 frames at 8 fps, 9 windows
    assert (clip.latent, clip.visual, clip.sync_windows) == (160, 26, 9)
    assert sequence_lengths(1.16).latent == 57  # int(29 / 25 * 50): the official float quirk
    assert sequence_lengths(0.3).sync_windows == 1  # text-only clips shorter than a window
    with pytest.raises(ValueError):
        sequence_lengths(0.0)


def test_fit_rows_trims_or_repeats_the_last_row() -> None:
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert fit_rows(rows, 2).tolist() == [[0, 1], [2, 3]]
    assert fit_rows(rows, 5).tolist() == [[0, 1], [2, 3], [4, 5], [4, 5], [4, 5]]


def test_a_segment_window_starts_on_a_synchformer_window() -> None:
    windows = np.arange(40, dtype=np.float32).reshape(40, 1, 1)  # 12.8 s of windows
    features = VideoFeatures("v", 12.8, {SYNC_TRACK: FeatureTrack(25 / 8, windows)})
    part = features.window(9.0, 3.0).tracks[SYNC_TRACK].values
    assert part[0, 0, 0] == 28  # window 28 starts at frame 224 = 8.96 s
    assert fit_rows(part, sequence_lengths(3.0).sync_windows).shape[0] == 8


def test_streamed_analysis_equals_the_whole_video_path(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    clip = tmp_path / "ball.mp4"
    make_bouncing_ball(clip, impact_times_s=[0.4], duration_s=1.6, width=96, height=64)
    info = probe(clip)
    visual = load_visual_encoder(tiny_model_dir / SIGLIP2_DIR)
    synchformer = load_synchformer(tiny_model_dir / SYNCHFORMER_FILE, TINY_SYNCHFORMER)
    # Small chunks, so windows straddle chunk boundaries.
    analyzer = VideoAnalyzer(visual, synchformer, frames_per_chunk=5, windows_per_chunk=2)
    seen: list[tuple[int, int]] = []
    features = analyzer.analyze(clip, info, "test-1", lambda d, t: seen.append((d, t)))

    pixels = decode_pixels(clip, info.width, info.height)
    expected_visual = visual.encode(pixels.siglip2).numpy()
    expected_sync = sync_features(synchformer, sync_windows(pixels.synchformer)).numpy()
    got_visual = features.tracks[VISUAL_TRACK]
    got_sync = features.tracks[SYNC_TRACK]
    assert got_visual.rate_hz == 8.0 and got_sync.rate_hz == 25 / 8
    assert got_visual.values.shape == expected_visual.shape == (13, visual.dim)
    assert got_sync.values.shape == expected_sync.shape == (4, 8, synchformer.config.embed_dim)
    np.testing.assert_allclose(got_visual.values, expected_visual, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_sync.values, expected_sync, rtol=1e-5, atol=1e-6)
    assert features.duration_s == info.duration_s and features.feature_version == "test-1"
    assert seen[-1] == (40, 40)


def test_a_video_shorter_than_one_synchformer_window_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    clip = tmp_path / "short.mp4"
    make_bouncing_ball(clip, impact_times_s=[], duration_s=0.4, width=64, height=48)
    visual = load_visual_encoder(tiny_model_dir / SIGLIP2_DIR)
    synchformer = load_synchformer(tiny_model_dir / SYNCHFORMER_FILE, TINY_SYNCHFORMER)
    with pytest.raises(InvalidInput) as err:
        VideoAnalyzer(visual, synchformer).analyze(clip, probe(clip), "test-1")
    assert err.value.code == "video_too_short"
