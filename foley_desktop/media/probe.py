"""What a media file contains: streams, timing, frame rate, rotation, timecode.

Everything is read with PyAV from the container's headers and index (or, for containers
without an index, from packet timestamps); the only decoding is of one video frame, to read
its display matrix (rotation), which FFmpeg attaches to frames.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from statistics import median

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

from foley_desktop.errors import MediaError, NoStreamError
from foley_desktop.media.timebase import SAMPLE_RATE, seconds_to_samples

# Scanning packets for VFR / frame count when the container has no index (MKV, TS) reads the
# whole file; this bounds that scan so that probing an hour of MPEG-TS stays fast.
MAX_SCAN_PACKETS = 20000


@dataclass
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: Fraction  # nominal rate (r_frame_rate): the rate frames are laid out on
    avg_fps: Fraction | None  # frames / duration
    is_vfr: bool
    frame_count: int  # from the header, else counted (estimated past MAX_SCAN_PACKETS)
    rotation: int  # clockwise degrees to turn the coded picture for display (0/90/180/270)
    start_time: Fraction  # seconds, presentation time of the first frame
    duration: Fraction | None
    time_base: Fraction
    pix_fmt: str | None
    display_width: int  # after sample aspect ratio and rotation
    display_height: int
    stream_index: int = 0


@dataclass
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str
    start_time: Fraction  # seconds
    duration: Fraction | None
    sample_count: int | None  # at the stream's own rate, from the header (exact), else None
    stream_index: int = 0


@dataclass
class MediaInfo:
    path: Path
    container: str
    duration: Fraction  # seconds, container duration
    duration_samples: int  # at 48 kHz
    start_time: Fraction  # seconds, container start (earliest stream)
    size_bytes: int
    timecode: str | None
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    other_streams: list[str] = field(default_factory=list)
    audio_streams: list[AudioInfo] = field(default_factory=list)  # all of them; `audio` is the first

    def audio_stream(self, index: int | None = None) -> AudioInfo | None:
        """The audio stream with container index `index` (None: the first), or None."""
        if index is None:
            return self.audio
        return next((a for a in self.audio_streams if a.stream_index == index), None)

    def require_audio(self, index: int | None = None) -> AudioInfo:
        """audio_stream(index), or NoStreamError naming the file when there is no such stream."""
        a = self.audio_stream(index)
        if a is None:
            which = "no audio stream" if index is None else f"no audio stream #{index}"
            raise NoStreamError(f"{which} in {self.path}")
        return a

    def require_video(self) -> VideoInfo:
        """The video stream, or NoStreamError naming the file when there is none."""
        if self.video is None:
            raise NoStreamError(f"no video stream in {self.path}")
        return self.video

    @property
    def origin(self) -> Fraction:
        """Time (s) of sample 0 / frame 0 in this app: the first video frame, else the audio start."""
        if self.video is not None:
            return self.video.start_time
        if self.audio is not None:
            return self.audio.start_time
        return self.start_time

    def to_dict(self) -> dict:
        def plain(v):
            if isinstance(v, Fraction):
                # Exact as a string ("30000/1001") plus a float for people and scripts.
                return {"exact": str(v), "value": float(v)}
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, list):
                return [plain(x) for x in v]
            return v

        return plain(asdict(self))


def time_base(stream: av.stream.Stream) -> Fraction:
    """The stream's time base; MediaError when the demuxer gives none (nothing can be timed)."""
    tb = stream.time_base
    if tb is None or tb <= 0:
        raise MediaError(f"stream {stream.index} has no time base")
    return Fraction(tb)


def _fraction(value: Fraction | int | None) -> Fraction | None:
    if value is None:
        return None
    f = Fraction(value)
    return f if f.denominator != 0 else None


def check_path(path: str | os.PathLike) -> Path:
    """Raise MediaError for the mistakes we can see before FFmpeg does."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"no such file: {p}")
    if p.is_dir():
        raise MediaError(f"is a folder, not a media file: {p}")
    try:
        st = p.stat()
        # A FIFO, socket or device would block a plain open() (and FFmpeg) forever.
        if not stat.S_ISREG(st.st_mode):
            raise MediaError(f"not a regular file (a pipe, socket or device): {p}")
        size = st.st_size
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        os.close(fd)
    except OSError as exc:
        raise MediaError(f"cannot read {p}: {exc.strerror or exc}") from None
    if size == 0:
        raise MediaError(f"empty file (0 bytes): {p}")
    return p


@contextlib.contextmanager
def open_media(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    """av.open with every FFmpeg failure turned into a one-line MediaError."""
    p = check_path(path)
    try:
        container = av.open(str(p), mode="r", metadata_errors="replace")
    except av.FFmpegError as exc:
        raise MediaError(f"not a media file, or truncated or corrupt: {p} ({_reason(exc)})") from None
    try:
        yield container
    except av.FFmpegError as exc:
        raise MediaError(f"cannot decode {p}: {_reason(exc)}; the file may be truncated or corrupt") from None
    finally:
        container.close()


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


def _timecode(container: InputContainer) -> str | None:
    tags = [container.metadata] + [s.metadata for s in container.streams]
    for t in tags:
        tc = t.get("timecode")
        if tc:
            return tc
    return None


def _rotation(container: InputContainer, stream: VideoStream) -> int:
    """Clockwise display rotation from the first frame's display matrix (FFmpeg's is CCW)."""
    try:
        for frame in container.decode(stream):
            ccw = frame.rotation or 0
            return round(-ccw / 90.0) * 90 % 360
    except av.FFmpegError:
        return 0
    return 0


def _video_timestamps(container: InputContainer, stream: VideoStream) -> tuple[list[int], bool]:
    """Frame timestamps (stream time base) from the index when complete, else from packets;
    and whether that is all of them (False when the packet scan stopped at its bound)."""
    entries = stream.index_entries
    if stream.frames and len(entries) >= stream.frames:
        return sorted(e.timestamp for e in entries if not e.is_discard), True
    # A fresh demuxer: the one passed in may already have been read from (rotation).
    with av.open(container.name, metadata_errors="replace") as scan:
        stamps = sorted(_demux_stamps(scan, scan.streams[stream.index]))
    return stamps, len(stamps) < MAX_SCAN_PACKETS


def _demux_stamps(container: InputContainer, stream: VideoStream) -> Iterator[int]:
    n = 0
    for packet in container.demux(stream):
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None:
            yield ts
            n += 1
            if n >= MAX_SCAN_PACKETS:
                return


def is_vfr_timestamps(stamps: list[int]) -> bool:
    """Variable if any frame interval strays from the median by more than one tick and 1 %."""
    deltas = [b - a for a, b in pairwise(stamps) if b > a]
    if len(deltas) < 2:
        return False
    med = median(deltas)
    tol = max(1, med / 100)
    return any(abs(d - med) > tol for d in deltas)


def _check_truncated(p: Path, size: int, container: InputContainer) -> None:
    for s in container.streams:
        entries = s.index_entries
        if len(entries):
            last = entries[len(entries) - 1]
            if last.pos >= 0 and last.pos + last.size > size:
                raise MediaError(f"file is truncated (its index points past the end): {p}")


_CACHE: dict[tuple, MediaInfo] = {}
_CACHE_SIZE = 32


def probe_cached(path: str | os.PathLike) -> MediaInfo:
    """probe(), remembered while the file is unchanged (same size and mtime).

    The decoders call this on every read; a preview that scrubs calls read_frame_at many
    times a second. Callers must not modify the result.
    """
    p = check_path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    info = _CACHE.get(key)
    if info is None:
        info = probe(p)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = info
    return info


def probe(path: str | os.PathLike) -> MediaInfo:
    p = check_path(path)
    size = p.stat().st_size
    with open_media(p) as c:
        _check_truncated(p, size, c)
        vinfo = None
        others = []
        # Cover art in music files is a one-picture "video" stream: not the picture we want.
        pictures = [s for s in c.streams.video
                    if not s.disposition & av.stream.Disposition.attached_pic]
        vstream = pictures[0] if pictures else None
        for s in c.streams:
            if s is not vstream and s.type != "audio":
                name = s.codec_context.name if s.codec_context else None
                others.append(f"{s.type}:{name or s.metadata.get('handler_name', '?')}")
        if vstream is not None:
            vinfo = _video_info(c, vstream)
        audios = [_audio_info(s) for s in c.streams.audio]
        ainfo = audios[0] if audios else None
        if vinfo is None and ainfo is None:
            raise MediaError(f"no audio or video stream in {p}")
        start = Fraction(c.start_time, av.time_base) if c.start_time is not None else min(
            x.start_time for x in (vinfo, ainfo) if x is not None)
        if c.duration is not None:
            duration = Fraction(c.duration, av.time_base)
        else:
            ends = [x.start_time + x.duration for x in (vinfo, ainfo) if x and x.duration]
            duration = (max(ends) - start) if ends else Fraction(0)
        return MediaInfo(
            path=p, container=c.format.name, duration=duration,
            duration_samples=seconds_to_samples(duration, SAMPLE_RATE), start_time=start,
            size_bytes=size, timecode=_timecode(c), video=vinfo, audio=ainfo, other_streams=others,
            audio_streams=audios)


def _video_info(c: InputContainer, s: VideoStream) -> VideoInfo:
    tb = time_base(s)
    cc = s.codec_context
    stamps, complete = _video_timestamps(c, s)
    frame_count = s.frames or len(stamps)
    start = Fraction(s.start_time * tb) if s.start_time is not None else (
        Fraction(stamps[0] * tb) if stamps else Fraction(0))
    duration = Fraction(s.duration * tb) if s.duration else None
    fps = _fraction(s.base_rate) or _fraction(s.guessed_rate) or _fraction(s.average_rate) or Fraction(25)
    avg = _fraction(s.average_rate)
    if avg is None and duration and frame_count:
        avg = Fraction(frame_count) / duration
    if not s.frames and not complete:
        # Too many packets to count at probe time: estimate from the duration.
        whole = duration or (Fraction(c.duration, av.time_base) if c.duration else None)
        if whole and avg:
            frame_count = round(whole * avg)
    rotation = _rotation(c, s)
    sar = _fraction(s.sample_aspect_ratio) or Fraction(1)
    dw, dh = display_size(cc.width, cc.height, sar, rotation)
    return VideoInfo(
        codec=cc.name, width=cc.width, height=cc.height, fps=fps, avg_fps=avg,
        is_vfr=is_vfr_timestamps(stamps), frame_count=frame_count, rotation=rotation,
        start_time=start, duration=duration, time_base=Fraction(tb),
        pix_fmt=cc.format.name if cc.format else None, display_width=dw, display_height=dh,
        stream_index=s.index)


def display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    """Picture size as shown: sample aspect ratio applied to the width, then rotation."""
    dw = max(1, round(width * sar)) if sar > 0 else width
    return (height, dw) if rotation in (90, 270) else (dw, height)


def _audio_info(s: AudioStream) -> AudioInfo:
    cc = s.codec_context
    tb = time_base(s)
    rate = cc.sample_rate
    start = Fraction(s.start_time * tb) if s.start_time is not None else Fraction(0)
    duration = Fraction(s.duration * tb) if s.duration else None
    count = None
    if duration is not None and rate:
        count = round(duration * rate)
    layout = cc.layout.name if cc.layout is not None else ""
    return AudioInfo(codec=cc.name, sample_rate=rate, channels=cc.channels, layout=layout,
                     start_time=start, duration=duration, sample_count=count,
                     stream_index=s.index)
