"""Media layer: probe, decode (PyAV), resample (soxr), minimal WAV writer, mux.

Time convention: sample 0 / frame 0 is the first video frame's presentation time when the file
has video, else the start of its audio (see decode.py). All times are samples at 48 kHz.
"""

from foley_desktop.media.decode import (
    audio_length,
    iter_audio,
    iter_video_frames,
    read_audio,
    read_frame_at,
    read_video_frames,
    video_length,
)
from foley_desktop.media.mux import mux_audio
from foley_desktop.media.probe import AudioInfo, MediaInfo, VideoInfo, probe
from foley_desktop.media.timebase import (
    SAMPLE_RATE,
    frame_to_samples,
    frames_to_timecode,
    parse_rate,
    parse_time,
    samples_to_frame,
    samples_to_seconds,
    samples_to_timecode,
    seconds_to_samples,
    timecode_to_frames,
    timecode_to_samples,
)
from foley_desktop.media.wav import write_wav

__all__ = [
    "SAMPLE_RATE", "AudioInfo", "MediaInfo", "VideoInfo", "audio_length", "frame_to_samples",
    "frames_to_timecode", "iter_audio", "iter_video_frames", "mux_audio", "parse_rate",
    "parse_time", "probe", "read_audio", "read_frame_at", "read_video_frames",
    "samples_to_frame", "samples_to_seconds", "samples_to_timecode", "seconds_to_samples",
    "timecode_to_frames", "timecode_to_samples", "video_length", "write_wav",
]
