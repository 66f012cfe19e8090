"""Put a WAV into a copy of a video as an audio track, without re-encoding the picture.

The picture (and, unless `replace`, the original audio) is stream-copied packet by packet, with
its timestamps, so frames land exactly where they were. The WAV's sample 0 is placed at the
first video frame (the app's time origin, see decode.py), which is where it was generated.

Audio codec by container: MOV and Matroska carry PCM, so the WAV goes in as 24-bit PCM,
bit-exact. MP4 has no PCM that editors and players read, so there it is AAC-LC at 256 kb/s
(transparent for Foley; FFmpeg's encoder priming is recorded in the MP4 edit list, so timing is
kept to the sample).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Stream

from foley_desktop.errors import MediaError, NoStreamError
from foley_desktop.fsutil import atomic_temp_path
from foley_desktop.jobs import CancelToken, check
from foley_desktop.media.decode import iter_audio
from foley_desktop.media.probe import MediaInfo, open_media, probe_cached
from foley_desktop.media.timebase import SAMPLE_RATE

# suffix -> (FFmpeg muxer, audio codec for the new track)
CONTAINERS = {
    ".mp4": ("mp4", "aac"),
    ".m4v": ("mp4", "aac"),
    ".mov": ("mov", "pcm_s24le"),
    ".mkv": ("matroska", "pcm_s24le"),
}
AAC_BITRATE = 256_000
BLOCK = 1024  # the AAC frame size; PCM takes any


def mux_audio(video_path: str | os.PathLike, wav_path: str | os.PathLike,
              out_path: str | os.PathLike, replace: bool = False, title: str = "Foley",
              cancel: CancelToken | None = None) -> Path:
    """Write `out_path`: the video's picture copied, plus `wav_path` as an audio track.

    replace=True drops the original audio tracks. The output container follows out_path's
    suffix (.mp4/.m4v: AAC; .mov/.mkv: 24-bit PCM). Written atomically.
    """
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in CONTAINERS:
        raise MediaError(f"cannot write {out_path.name}: use one of {', '.join(CONTAINERS)}")
    fmt, acodec = CONTAINERS[suffix]
    info = probe_cached(video_path)
    if info.video is None:
        raise NoStreamError(f"no video stream in {info.path}")
    wav_info = probe_cached(wav_path)
    if wav_info.audio is None:
        raise NoStreamError(f"no audio in {wav_info.path}")
    channels = wav_info.audio.channels
    if not out_path.parent.is_dir():
        raise MediaError(f"no such folder: {out_path.parent}")
    tmp = atomic_temp_path(out_path)
    try:
        with open_media(info.path) as src:
            try:
                _write(src, tmp, fmt, acodec, info, wav_info, channels, replace, title, cancel)
            except av.FFmpegError as exc:
                # Raised here, not in open_media: the writer failed, not the source.
                raise MediaError(f"cannot write {out_path.name}: {_one_line(exc)}") from None
        os.replace(tmp, out_path)
    except OSError as exc:
        raise MediaError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return out_path


def _write(src: InputContainer, tmp: Path, fmt: str, acodec: str, info: MediaInfo,
           wav_info: MediaInfo, channels: int, replace: bool, title: str,
           cancel: CancelToken | None) -> None:
    video = info.require_video()
    with av.open(str(tmp), "w", format=fmt) as dst:
        keep = [src.streams[video.stream_index]]
        if not replace:
            keep += list(src.streams.audio)
        mapping = {}
        for s in keep:
            o = dst.add_stream_from_template(s)
            o.metadata.update({k: v for k, v in s.metadata.items() if k != "encoder"})
            mapping[s.index] = o
        vout = mapping[video.stream_index]
        # The muxer needs the frame rate for a timecode track (it would take 1/time_base).
        vout.codec_context.framerate = video.fps
        if video.rotation:
            # FFmpeg's display matrix angle is counter-clockwise; ours is clockwise.
            vout.set_display_rotation(-video.rotation % 360)
        if info.timecode:
            vout.metadata["timecode"] = info.timecode
        aout = dst.add_stream(acodec, rate=SAMPLE_RATE)
        aout.layout = "mono" if channels == 1 else "stereo" if channels == 2 else f"{channels}c"
        if acodec == "aac":
            aout.bit_rate = AAC_BITRATE
        aout.metadata["title"] = title
        aout.metadata["handler_name"] = title
        # The new track starts at the container's zero with silence up to the first frame,
        # rather than at a later timestamp: MP4 readers skip AAC's priming only for a track
        # that starts at zero, and Matroska would round a later start to the millisecond.
        lead = round(info.origin * SAMPLE_RATE)
        copied = _copied_packets(src, mapping, cancel)
        new = _encoded_packets(wav_info.path, aout, lead, cancel)
        for packet, stream in _merge(copied, new):
            packet.stream = stream
            dst.mux(packet)


def _one_line(exc: Exception) -> str:
    return " ".join(str(getattr(exc, "strerror", None) or exc).split())


def _time(packet: av.Packet) -> Fraction:
    ts = packet.dts if packet.dts is not None else packet.pts
    return Fraction(ts or 0) * packet.time_base


def _copied_packets(src: InputContainer, mapping: dict[int, Stream], cancel: CancelToken | None
                    ) -> Iterator[tuple[Fraction, av.Packet, object]]:
    for packet in src.demux(*[src.streams[i] for i in mapping]):
        check(cancel)
        if packet.dts is None and packet.pts is None:
            continue  # the demuxer's end-of-stream marker
        yield _time(packet), packet, mapping[packet.stream.index]


def _with_lead(lead: int, channels: int, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    while lead > 0:
        n = min(lead, BLOCK)
        yield np.zeros((channels, n), np.float32)
        lead -= n
    yield from blocks


def _encoded_packets(wav_path: Path, stream: AudioStream, lead: int, cancel: CancelToken | None
                     ) -> Iterator[tuple[Fraction, av.Packet, object]]:
    pts = 0
    layout = stream.layout.name
    channels = stream.layout.nb_channels

    def frames():
        nonlocal pts
        blocks = iter_audio(wav_path, BLOCK, sr=SAMPLE_RATE, cancel=cancel)
        for block in _with_lead(lead, channels, blocks):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, np.float32),
                                               format="fltp", layout=layout)
            frame.sample_rate = SAMPLE_RATE
            frame.pts = pts
            frame.time_base = Fraction(1, SAMPLE_RATE)
            pts += block.shape[1]
            yield frame
        yield None  # flush the encoder

    for frame in frames():
        for packet in stream.encode(frame):
            yield _time(packet), packet, stream


def _merge(a: Iterator, b: Iterator) -> Iterator[tuple[av.Packet, object]]:
    """Interleave two packet streams by time so the muxer never buffers a whole track."""
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if x is not None and (y is None or x[0] <= y[0]):
            yield x[1], x[2]
            x = next(a, None)
        elif y is not None:
            yield y[1], y[2]
            y = next(b, None)
