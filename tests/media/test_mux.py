from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from foleyserve.errors import InvalidInput, OutputError
from foleyserve.media.audio import Audio, AudioFormat, decode_audio, encode_audio
from foleyserve.media.mux import mux_audio
from foleyserve.media.probe import probe

RATE_HZ = 48_000


def _video_packet_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [hashlib.sha256(bytes(p)).hexdigest() for p in container.demux(stream) if p.size]


def _noise(duration_s: float, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    samples = 0.1 * rng.standard_normal((2, round(duration_s * RATE_HZ)))
    return Audio(samples.astype(np.float32), RATE_HZ)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@pytest.mark.parametrize(
    ("fixture", "suffix", "container", "codec"),
    [
        ("mp4_video", ".mp4", "mov,mp4", "aac"),
        ("webm_video", ".webm", "matroska,webm", "opus"),
        ("mov_video", ".mov", "mov,mp4", "aac"),
        ("mkv_video", ".mkv", "matroska,webm", "opus"),
        ("vfr_video", ".mp4", "mov,mp4", "aac"),
    ],
)
def test_video_is_copied_bit_for_bit(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fixture: str,
    suffix: str,
    container: str,
    codec: str,
) -> None:
    video: Path = request.getfixturevalue(fixture)
    out = tmp_path / f"out{suffix}"
    mux_audio(video, _noise(1.0), out)  # shorter than the video: padded
    assert _video_packet_hashes(out) == _video_packet_hashes(video)
    before, after = probe(video), probe(out)
    assert after.container.startswith(container) and after.audio_codec == codec
    assert after.duration_s == pytest.approx(before.duration_s, abs=1e-3)
    sound = decode_audio(out)
    assert sound.n_samples == round(before.duration_s * RATE_HZ)
    assert _rms(sound.samples[:, RATE_HZ // 2 : RATE_HZ - 2000]) > 0.05
    assert _rms(sound.samples[:, RATE_HZ + 2000 :]) < 0.01  # the padding is silence


def test_long_audio_is_cut_to_the_video(tmp_path: Path, mp4_video: Path) -> None:
    out = tmp_path / "out.mp4"
    mux_audio(mp4_video, _noise(5.0), out)
    assert decode_audio(out).n_samples == 2 * RATE_HZ


def test_original_sound_is_mixed_under(tmp_path: Path, mp4_video: Path) -> None:
    original = decode_audio(mp4_video)
    replaced, mixed, under = tmp_path / "r.mp4", tmp_path / "m.mp4", tmp_path / "u.mp4"
    mux_audio(mp4_video, Audio.silence(2 * RATE_HZ, RATE_HZ), replaced)
    mux_audio(mp4_video, Audio.silence(2 * RATE_HZ, RATE_HZ), under, original_gain_db=-6.0)
    mux_audio(mp4_video, _noise(2.0), mixed, original_gain_db=-6.0)
    assert _rms(decode_audio(replaced).samples) < 1e-3
    alone = decode_audio(under).samples[:, 2000:-2000]
    reference = original.samples[:, 2000:-2000]
    assert np.corrcoef(alone.ravel(), reference.ravel())[0, 1] > 0.95
    assert 20 * np.log10(_rms(alone) / _rms(reference)) == pytest.approx(-6.0, abs=0.5)
    together = decode_audio(mixed).samples[:, 2000:-2000]
    assert np.corrcoef(together.ravel(), reference.ravel())[0, 1] > 0.1


def test_mixing_a_silent_video_mixes_nothing(tmp_path: Path, mov_video: Path) -> None:
    out = tmp_path / "out.mov"
    mux_audio(mov_video, _noise(2.0), out, original_gain_db=-12.0)
    assert probe(out).audio_codec == "aac"


def test_unknown_suffix_keeps_the_input_container(tmp_path: Path, webm_video: Path) -> None:
    out = tmp_path / "out.video"
    mux_audio(webm_video, _noise(2.0), out)
    assert probe(out).container.startswith("matroska")


def test_container_that_cannot_hold_the_codec(tmp_path: Path, mp4_video: Path) -> None:
    with pytest.raises(OutputError) as caught:
        mux_audio(mp4_video, _noise(1.0), tmp_path / "out.webm")
    assert caught.value.code == "unsupported_container" and "h264" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output(tmp_path: Path, mp4_video: Path) -> None:
    target = tmp_path / "missing" / "out.mp4"
    with pytest.raises(OutputError) as caught:
        mux_audio(mp4_video, _noise(1.0), target)
    assert caught.value.code == "output_unwritable" and str(target) in caught.value.message


def test_audio_file_is_not_a_video(tmp_path: Path) -> None:
    sound = tmp_path / "sound.m4a"
    encode_audio(_noise(1.0), sound, AudioFormat.m4a)
    with pytest.raises(InvalidInput) as caught:
        mux_audio(sound, _noise(1.0), tmp_path / "out.mp4")
    assert caught.value.code == "no_video_stream"
