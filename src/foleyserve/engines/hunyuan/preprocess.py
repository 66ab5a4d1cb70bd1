"""HunyuanVideo-Foley's video preprocessing, reproduced: decoded frames to encoder inputs.

The official pipeline decodes the video at 8 fps for SigLIP2 and at 25 fps for Synchformer
(`get_frames_av`: the accumulating frame-selection rule and the 15 s cut, which
`foleyserve.media.decode` implements for both rates in one pass), then:

- SigLIP2: Pillow `Image.resize((512, 512), BILINEAR)` (the aspect ratio is squashed), then
  ÷255 and (x − 0.5)/0.5.
- Synchformer: torch's uint8 antialiased bicubic kernel, shorter side to 224 (the longer side
  truncated: 640x360 gives 398x224), centre crop 224x224, then ×(1/255) and (x − 0.5)/0.5.

Both resizes are the libraries the official code calls (torchvision's `Resize` runs Pillow on a
PIL image and `F.interpolate` on a uint8 tensor), so the pixels are the official ones, not an
approximation: swscale's kernels (the media layer's resize) come 4e-3 to 7e-3 away, over the
1e-3 tolerance. Both give uint8 before the normalisation, as the official path does.

Lengths follow the official float arithmetic: the audio lasts n25/25 s and has
`int(n25 / 25 * 50)` latent frames, which for 137 of the first 2000 frame counts (29 is the
first) is one less than 2·n25. Synchformer sees windows of 16 frames with stride 8; frames past
the last whole window are unused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as nnf
from PIL import Image

from foleyserve.errors import InvalidInput

if TYPE_CHECKING:
    from foleyserve.media.decode import FrameSpec

SIGLIP2_FPS = 8
SIGLIP2_SIZE = 512
SYNCHFORMER_FPS = 25
SYNCHFORMER_SIZE = 224
MAX_DURATION_S = 15.0
"""The official cut: frames later than this are not used (`get_frames_av`, `end_sec`)."""
WINDOW_FRAMES = 16
WINDOW_STRIDE = 8
TOKENS_PER_WINDOW = 8
LATENT_RATE_HZ = 50
SAMPLE_RATE_HZ = 48_000
CHUNK_FRAMES = 32
"""Frames resized per torch call: bounds the float intermediates, keeps the kernel busy."""

RgbFrames = npt.NDArray[np.uint8]
"""`[N, H, W, 3]` uint8 RGB, as the media layer decodes them."""


def _check_frames(frames: RgbFrames) -> None:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"frames must be uint8 [N, H, W, 3], got {frames.dtype} {list(frames.shape)}"
        )


def _normalise(pixels: torch.Tensor, scale: float | None) -> torch.Tensor:
    """uint8 [N, 3, H, W] (any strides) to float32 in [-1, 1] with the official ops: ÷255
    (`scale` None, as `ToTensor`) or ×scale (as v2 `ToDtype(scale=True)`), then (x − 0.5)/0.5
    (`Normalize`). The uint8 copy to contiguous first: converting channels-last strides to
    float directly is several times slower."""
    x = pixels.contiguous().to(torch.float32)
    x = x.div_(255.0) if scale is None else x.mul_(scale)
    return x.sub_(0.5).div_(0.5)


def siglip2_pixels(frames: RgbFrames, *, threads: int = 1) -> torch.Tensor:
    """SigLIP2's input: float32 `[N, 3, 512, 512]`, every frame squashed to 512x512 by Pillow's
    bilinear resize (antialiased when shrinking), then normalised to [-1, 1].

    Pillow resizes one frame on one core, releasing the GIL, so `threads` > 1 resizes that
    many frames at once (same output).
    """
    _check_frames(frames)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    resized = np.empty((len(frames), SIGLIP2_SIZE, SIGLIP2_SIZE, 3), dtype=np.uint8)

    def resize(index: int) -> None:
        image = Image.fromarray(frames[index])
        size = (SIGLIP2_SIZE, SIGLIP2_SIZE)
        resized[index] = np.asarray(image.resize(size, Image.Resampling.BILINEAR))

    if threads == 1 or len(frames) < 2:
        for index in range(len(frames)):
            resize(index)
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(frames))) as pool:
            list(pool.map(resize, range(len(frames))))
    return _normalise(torch.from_numpy(resized).permute(0, 3, 1, 2), None)


def cover_size_short_side(height: int, width: int, short: int) -> tuple[int, int]:
    """`(height, width)` with the shorter side scaled to `short` and the longer one truncated,
    as torchvision's `Resize(int)` computes it."""
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


def _centre_offset(length: int, crop: int) -> int:
    # torchvision's CenterCrop: Python's round, which rounds halves to even.
    return round((length - crop) / 2.0)


def synchformer_pixels(frames: RgbFrames) -> torch.Tensor:
    """Synchformer's input: float32 `[N, 3, 224, 224]`. Shorter side to 224 with torch's uint8
    antialiased bicubic kernel, centre crop 224x224, normalised to [-1, 1]. Frames go through
    in chunks of `CHUNK_FRAMES`, vectorised."""
    _check_frames(frames)
    count, height, width = frames.shape[:3]
    size = cover_size_short_side(height, width, SYNCHFORMER_SIZE)
    top = _centre_offset(size[0], SYNCHFORMER_SIZE)
    left = _centre_offset(size[1], SYNCHFORMER_SIZE)
    out = torch.empty(count, 3, SYNCHFORMER_SIZE, SYNCHFORMER_SIZE, dtype=torch.float32)
    # torch warns on read-only arrays (the media layer's are); nothing here writes to them.
    source = torch.from_numpy(frames if frames.flags.writeable else frames.copy())
    for start in range(0, count, CHUNK_FRAMES):
        chunk = source[start : start + CHUNK_FRAMES].permute(0, 3, 1, 2)
        if size != (height, width):
            chunk = nnf.interpolate(chunk, size=size, mode="bicubic", antialias=True)
        crop = chunk[:, :, top : top + SYNCHFORMER_SIZE, left : left + SYNCHFORMER_SIZE]
        out[start : start + len(crop)] = _normalise(crop, 1.0 / 255.0)
    return out


# ------------------------------------------------------------------------------ lengths


def sync_window_count(n25: int) -> int:
    """Synchformer windows for `n25` frames at 25 fps: (n25 − 16) // 8 + 1.

    Fewer than 16 frames (0.64 s) make no window; the official code then fails inside
    `torch.stack`, so here it is an `InvalidInput` (code `video_too_short`).
    """
    if n25 < WINDOW_FRAMES:
        raise InvalidInput(
            f"the video gives {n25} frame(s) at {SYNCHFORMER_FPS} fps; HunyuanVideo-Foley needs "
            f"at least {WINDOW_FRAMES} ({WINDOW_FRAMES / SYNCHFORMER_FPS:.2f} s of video). "
            "Send a longer video, or no video for text-only generation.",
            code="video_too_short",
        )
    return (n25 - WINDOW_FRAMES) // WINDOW_STRIDE + 1


def sync_length(n25: int) -> int:
    """Synchformer tokens the DiT receives: 8 per window (240 for 10 s)."""
    return sync_window_count(n25) * TOKENS_PER_WINDOW


def audio_duration_s(n25: int) -> float:
    """The generated audio's duration as the official code computes it: n25 / 25."""
    return n25 / SYNCHFORMER_FPS


def latent_length(n25: int) -> int:
    """DiT latent frames: `int(n25 / 25 * 50)`, the official float arithmetic (see the module
    docstring: sometimes one less than 2·n25)."""
    return int(audio_duration_s(n25) * LATENT_RATE_HZ)


def audio_samples(n25: int) -> int:
    """`int(n25 / 25 * 48000)`, the official trim length. The official trim slices the channel
    axis and so never shortens anything: its output has `latent_length(n25) * 960` samples,
    which is this or (when the latent length lost a frame) fewer."""
    return int(audio_duration_s(n25) * SAMPLE_RATE_HZ)


def sync_windows(pixels: torch.Tensor) -> torch.Tensor:
    """`[N, 3, 224, 224]` to `[S, 16, 3, 224, 224]`: windows of 16 frames, stride 8,
    S = (N − 16) // 8 + 1; the frames after the last whole window are not used.

    Returns a view (windows share frames): do not write into it.
    """
    if pixels.dim() != 4:
        raise ValueError(f"pixels must be [N, 3, H, W], got {list(pixels.shape)}")
    count = sync_window_count(pixels.shape[0])
    windows = pixels.unfold(0, WINDOW_FRAMES, WINDOW_STRIDE)  # [S, 3, H, W, 16]
    return windows[:count].permute(0, 4, 1, 2, 3)


# ------------------------------------------------------------------------------ decoding


@dataclass(frozen=True)
class VideoPixels:
    """One video's encoder inputs, the frames chosen as the official `get_frames_av` does."""

    siglip2: torch.Tensor
    """float32 `[n8, 3, 512, 512]`."""
    synchformer: torch.Tensor
    """float32 `[n25, 3, 224, 224]`."""

    @property
    def n25(self) -> int:
        return int(self.synchformer.shape[0])


def hunyuan_frame_specs(width: int, height: int) -> tuple[FrameSpec, FrameSpec]:
    """The media layer's specs for both paths at the source size (the resize happens here,
    not in swscale), both cut at 15 s. Equal geometry, so each source frame converts once."""
    # Imported here: the model code imports without PyAV (a host that only runs models).
    from foleyserve.media.decode import FrameSpec

    return (
        FrameSpec("siglip2", SIGLIP2_FPS, width, height, max_time_s=MAX_DURATION_S),
        FrameSpec("synchformer", SYNCHFORMER_FPS, width, height, max_time_s=MAX_DURATION_S),
    )


def decode_pixels(
    path: Path, width: int, height: int, *, chunk_frames: int = CHUNK_FRAMES, threads: int = 1
) -> VideoPixels:
    """Decode `path` (`width` x `height`, as `probe` reports it) once and preprocess both
    paths, `chunk_frames` source-size frames at a time: memory holds the outputs and one
    chunk, not the decoded video. `threads` is `siglip2_pixels`'. Errors are the media
    layer's (`InvalidInput`)."""
    from foleyserve.media.decode import iter_frames

    specs = hunyuan_frame_specs(width, height)
    pending: dict[str, list[RgbFrames]] = {spec.name: [] for spec in specs}
    done: dict[str, list[torch.Tensor]] = {spec.name: [] for spec in specs}
    convert: dict[str, Callable[[RgbFrames], torch.Tensor]] = {
        "siglip2": functools.partial(siglip2_pixels, threads=threads),
        "synchformer": synchformer_pixels,
    }
    for frame in iter_frames(path, specs):
        pending[frame.spec].append(frame.pixels)
        if len(pending[frame.spec]) == chunk_frames:
            done[frame.spec].append(convert[frame.spec](np.stack(pending[frame.spec])))
            pending[frame.spec].clear()
    for name, frames in pending.items():
        if frames:
            done[name].append(convert[name](np.stack(frames)))
    return VideoPixels(
        _cat(done["siglip2"], SIGLIP2_SIZE), _cat(done["synchformer"], SYNCHFORMER_SIZE)
    )


def _cat(parts: Iterable[torch.Tensor], size: int) -> torch.Tensor:
    parts = list(parts)
    return torch.cat(parts) if parts else torch.empty(0, 3, size, size)
