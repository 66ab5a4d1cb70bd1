"""Encoding an `Audio` into one stream of an output container, a chunk at a time.

Writers that also carry video (`video_writer`, `mux`) call `write_until(t)` before each video
frame or packet at time t, so audio and video packets reach the muxer in time order and the file
is interleaved (a player never has to read far ahead), without holding encoded packets.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.container import OutputContainer

from foleyserve.media.audio import Audio, channel_layout
from foleyserve.media.container import add_audio_stream

CHUNK_SAMPLES = 4800
LEAD_S = 0.1
"""How far ahead of the video the audio is encoded; keeps the muxer's queue short."""


class AudioFeed:
    """Adds a `codec` stream to `out` for `audio` (at the audio's own rate; convert first if
    the codec needs another) and encodes it on demand. `start_pts` (in samples) is where the
    first sample sits on the output's timeline."""

    def __init__(
        self,
        out: OutputContainer,
        codec: str,
        audio: Audio,
        *,
        bit_rate_bps: int,
        start_pts: int = 0,
    ) -> None:
        self.out, self.audio, self.start_pts, self.pos = out, audio, start_pts, 0
        self.stream = add_audio_stream(out, codec, audio.sample_rate_hz)
        self.stream.layout = channel_layout(audio.channels)
        self.stream.bit_rate = bit_rate_bps
        self.time_base = Fraction(1, audio.sample_rate_hz)

    def write_until(self, time_s: float | None) -> None:
        """Encode and mux the samples before `time_s` on the output timeline (plus `LEAD_S`);
        all remaining samples for None. Samples are clipped to [-1, 1]."""
        rate = self.audio.sample_rate_hz
        n = self.audio.n_samples
        if time_s is None:
            end = n
        else:
            end = min(n, max(0, round((time_s + LEAD_S) * rate) - self.start_pts))
        while self.pos < end:
            stop = min(end, self.pos + CHUNK_SAMPLES)
            chunk = np.clip(self.audio.samples[:, self.pos : stop], -1.0, 1.0)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format="fltp", layout=self.stream.layout
            )
            frame.sample_rate = rate
            frame.pts = self.start_pts + self.pos
            frame.time_base = self.time_base
            self.out.mux(self.stream.encode(frame))
            self.pos = stop

    def finish(self) -> None:
        """Encode what is left and flush the encoder."""
        self.write_until(None)
        self.out.mux(self.stream.encode(None))
