"""The media layer, on PyAV: probe, decode, encode, mux, loudness, segments. No ffmpeg binary."""
