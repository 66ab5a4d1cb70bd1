"""The media layer, on PyAV: probe, decode, encode, mux, loudness, segments. No ffmpeg binary.

    probe         what a file is; refuses unusable input with stable error codes
    decode        one streaming decode into several frame rates and sizes
    audio         `Audio`; encoding to wav/flac/mp3/m4a/opus and decoding back, sample-exact
    mux           new sound under a video stream copied packet for packet
    loudness      EBU R128 integrated loudness, true peak, normalisation
    segments      overlapping windows for long videos, equal-power stitching
    synthetic     test and demo videos (bouncing ball, static shot, test pattern)

Shared plumbing: `container` (opening inputs, PyAV errors translated), `output` (atomic
writes), `audio_feed` (interleaved audio encoding), `video_writer` (frames to a file).
"""
