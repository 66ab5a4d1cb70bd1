"""Synthetic test and demo videos: a bouncing ball, a static shot, a cheap test pattern.

Used by the tests, the demo command and the benchmarks, so it lives in the package. Frames are
stamped with their exact times (see `video_writer`), so the ball's impact times are true in the
file. The container and default codec follow the path's suffix: .mp4/.mov/.mkv H.264, .webm
VP9; `codec` overrides it (e.g. "mpeg4" for .mov). libx264 needs even sizes: an odd width or
height is rounded down to the even number below (321x181 gives 320x180); VP9 and mpeg4 keep odd
sizes. The test pattern is always even-sized (it is built directly in yuv420p).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from foleyserve.media.audio import Audio
from foleyserve.media.video_writer import (
    container_for,
    encodable_size,
    frame_times_s,
    write_video,
)

Rgb = tuple[int, int, int]
Image = npt.NDArray[np.uint8]

FLOOR_FRACTION = 0.85
"""The floor line's height in the frame, from the top."""
FULL_ARC_GAP_S = 1.0
"""Impacts this far apart (or further) bounce the ball to the top of the frame; an arc's height
is proportional to the squared gap (parabolic flight under constant gravity)."""
AUDIO_RATE_HZ = 48_000
BOX_CHROMA = np.array([40, 200], np.uint8)[:, None, None]
"""The test pattern box's (U, V): a saturated orange."""


@dataclass(frozen=True)
class _Scene:
    background: Image
    ball_rgb: Rgb


def ball_height_px(time_s: float, impact_times_s: Sequence[float], max_height_px: float) -> float:
    """How far the ball's bottom is above the floor at `time_s`.

    Before the first impact it falls from `max_height_px` under gravity, touching the floor
    exactly at `impact_times_s[0]`; between impacts it flies parabolic arcs whose height is
    `max_height_px * (gap / FULL_ARC_GAP_S) ** 2`, capped at `max_height_px`; after the last
    impact (or with no impacts) it rests on the floor.
    """
    if not impact_times_s or time_s >= impact_times_s[-1]:
        return 0.0
    first = impact_times_s[0]
    if time_s < first:
        return max_height_px * (1.0 - (time_s / first) ** 2)
    for start, end in itertools.pairwise(impact_times_s):
        if start <= time_s < end:
            gap_s = end - start
            apex_px = min(max_height_px, max_height_px * (gap_s / FULL_ARC_GAP_S) ** 2)
            return 4.0 * apex_px * (time_s - start) * (end - time_s) / gap_s**2
    return 0.0


def ball_x_px(time_s: float, width: int, radius_px: int, speed_px_s: float) -> float:
    """The ball's centre column: it starts a tenth of the way across and drifts at
    `speed_px_s`, bouncing off the side walls."""
    travel = max(1.0, width - 2.0 * radius_px)
    u = (0.1 * travel + speed_px_s * time_s) % (2 * travel)
    return radius_px + (u if u <= travel else 2 * travel - u)


def make_bouncing_ball(
    path: Path,
    *,
    impact_times_s: Sequence[float],
    duration_s: float,
    width: int = 320,
    height: int = 240,
    fps: float = 30,
    codec: str | None = None,
    with_audio: bool = False,
    scene_cut_at_s: float | None = None,
    x_speed_px_s: float = 60.0,
    variable_fps: bool = False,
) -> None:
    """A bright ball on a dark textured background with a floor line, touching the floor
    exactly at each of `impact_times_s` (see `ball_height_px`) and drifting sideways at
    `x_speed_px_s` (so the motion's centroid pans). From `scene_cut_at_s` on, the picture
    switches to another background and colour scheme (a hard cut; the ball carries on).
    `with_audio` adds a quiet sine-plus-noise track; `variable_fps` alternates frame gaps of
    1/fps and 1.5/fps. `codec` defaults to the suffix's (module docstring).
    """
    impacts = tuple(float(t) for t in impact_times_s)
    if any(b < a for a, b in itertools.pairwise(impacts)) or any(t < 0 for t in impacts):
        raise ValueError(f"impact_times_s must be non-negative and ascending, got {impacts}")
    codec = codec or container_for(path).video_codec
    width, height = encodable_size(codec, width, height)
    radius = max(3, round(min(width, height) * 0.06))
    floor_y = round(height * FLOOR_FRACTION)
    max_height_px = max(0.0, floor_y - 2.0 * radius)
    scenes = (
        _Scene(_background(width, height, floor_y, seed=1, tint=(20, 26, 44)), (255, 230, 80)),
        _Scene(_background(width, height, floor_y, seed=2, tint=(62, 30, 22)), (120, 255, 250)),
    )

    def frames() -> Iterator[tuple[float, av.VideoFrame]]:
        for t in frame_times_s(duration_s, fps, variable_fps=variable_fps):
            cut = scene_cut_at_s is not None and t >= scene_cut_at_s
            scene = scenes[1] if cut else scenes[0]
            image = scene.background.copy()
            cx = ball_x_px(t, width, radius, x_speed_px_s)
            cy = floor_y - radius - ball_height_px(t, impacts, max_height_px)
            _draw_disk(image, cx, cy, radius, scene.ball_rgb)
            yield t, av.VideoFrame.from_ndarray(image, format="rgb24")

    audio = _quiet_track(duration_s) if with_audio else None
    write_video(
        path,
        frames(),
        width=width,
        height=height,
        fps=fps,
        codec=codec,
        variable_fps=variable_fps,
        audio=audio,
    )


def make_static(
    path: Path,
    *,
    duration_s: float,
    width: int,
    height: int,
    fps: float,
    codec: str | None = None,
    noise_level: float = 2.0,
    with_audio: bool = False,
) -> None:
    """A static shot (the ball's background, a few fixed shapes) with a little sensor noise:
    Gaussian, standard deviation `noise_level` in 8-bit steps, new in every frame."""
    codec = codec or container_for(path).video_codec
    width, height = encodable_size(codec, width, height)
    still = _background(width, height, round(height * FLOOR_FRACTION), seed=3, tint=(30, 34, 30))
    still[height // 4 : height // 2, width // 5 : width // 3] = (140, 90, 60)
    _draw_disk(still, width * 0.7, height * 0.45, max(3, min(width, height) // 8), (90, 120, 170))
    rng = np.random.default_rng(7)

    def frames() -> Iterator[tuple[float, av.VideoFrame]]:
        for t in frame_times_s(duration_s, fps):
            noise = rng.normal(0.0, noise_level, still.shape) if noise_level > 0 else 0.0
            image = np.clip(still + noise, 0, 255).astype(np.uint8)
            yield t, av.VideoFrame.from_ndarray(image, format="rgb24")

    audio = _quiet_track(duration_s) if with_audio else None
    write_video(path, frames(), width=width, height=height, fps=fps, codec=codec, audio=audio)


def make_test_pattern(
    path: Path,
    *,
    duration_s: float,
    width: int = 1920,
    height: int = 1080,
    fps: float = 30,
    codec: str | None = None,
    with_audio: bool = False,
) -> None:
    """A moving luma ramp and a moving box, built directly in yuv420p so long and large clips
    are quick to make (libx264 runs with preset "ultrafast"): the frames cost a few
    milliseconds each at 1080p, and encoding dominates."""
    codec = codec or container_for(path).video_codec
    width, height = (max(2, s - s % 2) for s in (width, height))
    period = 256
    ramp = (np.arange(width + period) % period).astype(np.uint8)
    box = max(2, (min(width, height) // 6) & ~1)
    buffer = np.empty(width * height * 3 // 2, np.uint8)
    luma = buffer[: width * height].reshape(height, width)
    chroma = buffer[width * height :].reshape(2, height // 2, width // 2)

    def frames() -> Iterator[tuple[float, av.VideoFrame]]:
        for t in frame_times_s(duration_s, fps):
            luma[:] = ramp[round(t * 120) % period :][:width]
            chroma[0] = 128 + round(40 * math.sin(2 * math.pi * t / 5))
            chroma[1] = 128 + round(40 * math.cos(2 * math.pi * t / 7))
            x = round(ball_x_px(t, width, box // 2, 200.0)) - box // 2
            y = round((height - box) * (0.5 + 0.4 * math.sin(2 * math.pi * t / 3)))
            x, y = x & ~1, y & ~1
            luma[y : y + box, x : x + box] = 235
            chroma[:, y // 2 : (y + box) // 2, x // 2 : (x + box) // 2] = BOX_CHROMA
            planes = buffer.reshape(height * 3 // 2, width)
            yield t, av.VideoFrame.from_ndarray(planes, format="yuv420p")

    audio = _quiet_track(duration_s) if with_audio else None
    options = {"preset": "ultrafast"} if codec == "libx264" else None
    write_video(
        path,
        frames(),
        width=width,
        height=height,
        fps=fps,
        codec=codec,
        audio=audio,
        options=options,
    )


def _background(width: int, height: int, floor_y: int, *, seed: int, tint: Rgb) -> Image:
    """A dark, non-uniform background: coarse random blocks plus fine diagonal stripes (so
    motion estimators have texture to lock onto), a light floor line and a darker floor."""
    rng = np.random.default_rng(seed)
    block = 6 + 4 * seed
    coarse = rng.integers(0, 22, (height // block + 1, width // block + 1))
    texture = np.kron(coarse, np.ones((block, block), np.int64))[:height, :width]
    rows, cols = np.mgrid[0:height, 0:width]
    stripes = ((rows + cols * seed) % (5 + seed) == 0) * 10
    shade = (texture + stripes)[:, :, None]
    image: Image = np.clip(np.asarray(tint)[None, None, :] + shade, 0, 255).astype(np.uint8)
    image[floor_y:] //= 2
    image[floor_y : floor_y + max(2, height // 120)] = (190, 190, 190)
    return image


def _draw_disk(image: Image, cx: float, cy: float, radius: int, rgb: Rgb) -> None:
    """Fill the pixels whose centres lie within `radius` of (cx, cy), clipped to the image."""
    height, width = image.shape[:2]
    x0, x1 = max(0, math.floor(cx - radius)), min(width, math.ceil(cx + radius) + 1)
    y0, y1 = max(0, math.floor(cy - radius)), min(height, math.ceil(cy + radius) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inside = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= radius**2
    image[y0:y1, x0:x1][inside] = rgb


def _quiet_track(duration_s: float) -> Audio:
    """A quiet stereo bed: a 220 Hz sine at -26 dBFS plus white noise at -46 dBFS."""
    n = round(duration_s * AUDIO_RATE_HZ)
    rng = np.random.default_rng(11)
    sine = 0.05 * np.sin(2 * np.pi * 220.0 * np.arange(n) / AUDIO_RATE_HZ)
    samples = sine[None, :] + 0.005 * rng.standard_normal((2, n))
    return Audio(samples.astype(np.float32), AUDIO_RATE_HZ)
