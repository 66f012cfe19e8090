"""Decode audio and video onto the app's time grid, streaming.

Time origin (sample 0, frame 0): the presentation time of the first video frame when the file
has video, else the start of the audio stream (`MediaInfo.origin`). Generated audio is placed
relative to that origin, so it lines up with the picture whatever the container's start time
or the audio stream's offset. Audio that starts later than the picture is preceded by
silence; audio that starts earlier is cut at the origin.

Audio: decoded samples are placed by their timestamps (so codec priming that FFmpeg reports
as skipped, gaps and overlaps are handled), cut at the end the container declares (which
trims encoder padding), resampled with soxr in a stream, and returned as float32
[channels, samples] of exactly the requested length (zeros beyond the stream).

Video: frame k of a request is the source picture being shown at time
`start/48000 + k/fps` after the origin (sample-and-hold by timestamp, so VFR sources come out on
a regular grid), rotated as the display matrix says and scaled with aspect ratio kept.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from fractions import Fraction
from typing import cast

import av
import numpy as np
import soxr
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from foley_desktop.errors import MediaError, NoStreamError
from foley_desktop.jobs import CancelToken, check
from foley_desktop.media.probe import MediaInfo, open_media, probe_cached, time_base
from foley_desktop.media.timebase import SAMPLE_RATE

# Decoding this much before a seek target lets the codec (AAC overlap) and the resampler's
# filter settle, so a seeked read equals a read from the beginning.
PREROLL_S = Fraction(1, 10)
# Seeking only pays off this far into a stream; nearer the start, decoding is cheaper.
SEEK_MIN_S = 2


# ----------------------------------------------------------------------------------- audio


def _frame_to_float(frame: av.AudioFrame) -> np.ndarray:
    """[channels, samples] float32 whatever the decoder's sample format."""
    a = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        a = a.reshape(-1, channels).T
    kind = frame.format.name.rstrip("p")
    if kind == "s16":
        return a.astype(np.float32) / 32768.0
    if kind == "s32":
        return (a.astype(np.float64) / 2147483648.0).astype(np.float32)
    if kind == "u8":
        return (a.astype(np.float32) - 128.0) / 128.0
    if kind == "s64":
        return (a.astype(np.float64) / 9223372036854775808.0).astype(np.float32)
    return a.astype(np.float32, copy=False)


class _AudioSource:
    """One audio stream as a contiguous run of native-rate samples on a fixed grid.

    Native sample i sits at time `anchor + i / rate`, where `anchor` is the stream's start.
    """

    def __init__(self, info: MediaInfo, stream_index: int | None = None):
        self.info = info
        a = info.require_audio(stream_index)
        self.rate = a.sample_rate
        self.channels = a.channels
        self.anchor = a.start_time
        self.stream_index = a.stream_index
        # Exclusive end in native samples; None = until the decoder stops.
        self.end = a.sample_count
        # Timestamps in a time base coarser than a sample (Matroska's 1 ms) are rounded; a
        # frame within one tick of where the previous one ended is taken as contiguous.
        self.slack = 0

    def _frames(self, container: InputContainer, stream: AudioStream,
                cancel: CancelToken | None) -> Iterator[tuple[int | None, np.ndarray]]:
        tb = time_base(stream)
        ticks = tb * self.rate  # samples per time-base tick
        self.slack = math.ceil(ticks) if ticks > 1 else 0
        for packet in container.demux(stream):
            check(cancel)
            for frame in packet.decode():
                # No timestamp (some raw streams): the frame follows the previous one.
                idx = None if frame.pts is None else round((frame.pts * tb - self.anchor) * self.rate)
                yield idx, _frame_to_float(frame)

    def _decoded(self, container: InputContainer, first: int,
                 cancel: CancelToken | None) -> Iterator[tuple[int | None, np.ndarray]]:
        """Decoded frames, seeking near `first` when that is far enough in to pay off."""
        stream = cast(AudioStream, container.streams[self.stream_index])
        if first > SEEK_MIN_S * self.rate:
            target = self.anchor + Fraction(first, self.rate)
            container.seek(int(target / time_base(stream)), stream=stream, backward=True)
            frames = self._frames(container, stream, cancel)
            head = next(frames, None)
            if head is not None and head[0] is not None and head[0] <= first:
                yield head
                yield from frames
                return
            # The seek landed after the target (an index that lies): read from the start.
            container.seek(0, stream=stream, backward=True)
        yield from self._frames(container, stream, cancel)

    def chunks(self, container: InputContainer, first: int,
               cancel: CancelToken | None) -> Iterator[np.ndarray]:
        """Native samples from index `first` on, contiguous, gaps filled with silence."""
        cursor = first
        for idx, data in self._decoded(container, first, cancel):
            if idx is None or (abs(idx - cursor) <= self.slack and cursor > first):
                idx = cursor  # timestamp rounding in a coarse time base: keep it contiguous
            if data.shape[0] != self.channels:
                data = _fit(data, self.channels)
            if idx > cursor:  # a gap in the stream: silence
                gap = idx - cursor if self.end is None else min(idx, self.end) - cursor
                if gap > 0:
                    yield np.zeros((self.channels, gap), np.float32)
                    cursor += gap
            if idx < cursor:  # overlap, or before the range asked for
                data = data[:, cursor - idx:]
                idx = cursor
            if self.end is not None:
                data = data[:, :max(0, self.end - idx)]
            if data.shape[1]:
                yield data
                cursor += data.shape[1]
            if self.end is not None and cursor >= self.end:
                return


def _fit(data: np.ndarray, channels: int) -> np.ndarray:
    """A stream that changes its channel count midway keeps the count it started with."""
    out = np.zeros((channels, data.shape[1]), np.float32)
    n = min(channels, data.shape[0])
    out[:n] = data[:n]
    return out


def _open_audio(path, stream_index):
    info = probe_cached(path)
    if info.audio is None:
        raise NoStreamError(f"no audio stream in {info.path}")
    if info.audio_stream(stream_index) is None:
        raise NoStreamError(f"stream {stream_index} of {info.path} is not an audio stream")
    return info


def audio_length(info: MediaInfo, sr: int = SAMPLE_RATE, stream_index: int | None = None) -> int:
    """Samples at `sr` from the origin to the end of the audio stream (0 if it ends before)."""
    a = info.audio_stream(stream_index)
    if a is None:
        raise NoStreamError(f"no audio stream in {info.path}")
    if a.duration is None:
        end = info.start_time + info.duration
    else:
        end = a.start_time + a.duration
    return max(0, math.floor((end - info.origin) * sr + Fraction(1, 2)))


def iter_audio(path: str | os.PathLike, block: int, start: int = 0, end: int | None = None,
               sr: int = SAMPLE_RATE, mono: bool = False, stream_index: int | None = None,
               cancel: CancelToken | None = None) -> Iterator[np.ndarray]:
    """Blocks of `block` samples (the last one shorter) covering [start, end) at `sr`.

    `start`/`end` count samples at `sr` from the origin (see module doc); end=None means the
    end of the audio stream. Each block is float32 [channels, n] ([1, n] when mono).
    """
    if block <= 0:
        raise ValueError("block must be positive")
    info = _open_audio(path, stream_index)
    end = _audio_range(info, start, end, sr, stream_index)
    yield from _blocks(_audio_pieces(info, start, end, sr, stream_index, cancel), block, mono)


def read_audio(path: str | os.PathLike, start: int = 0, end: int | None = None,
               sr: int = SAMPLE_RATE, mono: bool = False, stream_index: int | None = None,
               cancel: CancelToken | None = None) -> np.ndarray:
    """float32 [channels, end - start] (see `iter_audio`); zero-padded past the stream's end."""
    info = _open_audio(path, stream_index)
    end = _audio_range(info, start, end, sr, stream_index)
    channels = 1 if mono else info.audio_stream(stream_index).channels
    out = np.empty((channels, end - start), np.float32)
    pos = 0
    for piece in _audio_pieces(info, start, end, sr, stream_index, cancel):
        n = piece.shape[1]
        out[:, pos:pos + n] = piece.mean(axis=0, keepdims=True) if mono else piece
        pos += n
    if pos != out.shape[1]:  # _audio_pieces promises the exact count
        raise AssertionError(f"decoded {pos} samples, expected {out.shape[1]}")
    return out


def _audio_range(info: MediaInfo, start: int, end: int | None, sr: int,
                 stream_index: int | None) -> int:
    if end is None:
        end = audio_length(info, sr, stream_index)
    if start < 0 or end < start:
        raise MediaError(f"bad audio range {start}..{end} samples")
    return end


def _blocks(pieces: Iterator[np.ndarray], block: int, mono: bool) -> Iterator[np.ndarray]:
    """Regroup pieces of any size into blocks of `block` samples (the last one shorter)."""
    buf: np.ndarray | None = None
    fill = 0
    for piece in pieces:
        if mono:
            piece = piece.mean(axis=0, keepdims=True)
        if buf is None:
            buf = np.empty((piece.shape[0], block), np.float32)
        pos = 0
        while pos < piece.shape[1]:
            n = min(block - fill, piece.shape[1] - pos)
            buf[:, fill:fill + n] = piece[:, pos:pos + n]
            fill += n
            pos += n
            if fill == block:
                yield buf.copy()
                fill = 0
    if buf is not None and fill:
        yield buf[:, :fill].copy()


def _audio_pieces(info: MediaInfo, start: int, end: int, sr: int, stream_index: int | None,
                  cancel: CancelToken | None) -> Iterator[np.ndarray]:
    """Exactly end - start samples at `sr`, in pieces, as [channels, n] float32."""
    src = _AudioSource(info, stream_index)
    ch = src.channels
    total = end - start
    if total == 0:
        return
    # Output sample j (origin-relative) sits at origin + j/sr; the stream's grid at anchor.
    offset = math.floor((src.anchor - info.origin) * sr + Fraction(1, 2))
    j0 = start - offset  # in output samples from the stream's own start
    emitted = 0
    if j0 < 0:  # before the audio starts: silence
        n = min(total, -j0)
        yield np.zeros((ch, n), np.float32)
        emitted += n
        j0 += n
    if emitted == total:
        return
    ratio = Fraction(sr, src.rate)
    # Native samples per whole number of output samples: seek points stay on both grids.
    step = ratio.denominator
    want_native = math.floor(j0 / ratio)
    first = max(0, (want_native - int(PREROLL_S * src.rate)) // step * step)
    jfirst = int(first * ratio)  # exact: first is a multiple of step
    skip = j0 - jfirst
    remaining = total - emitted
    # The source's exact end on the output grid: trims the resampler's tail to the sample.
    limit = None if src.end is None else math.floor((src.end - first) * ratio + Fraction(1, 2))
    produced = 0
    with open_media(info.path) as container:
        resampler = None
        if sr != src.rate:
            resampler = soxr.ResampleStream(src.rate, sr, ch, dtype="float32", quality="HQ")

        def resampled() -> Iterator[np.ndarray]:
            for native in src.chunks(container, first, cancel):
                if resampler is None:
                    yield native
                else:
                    yield resampler.resample_chunk(np.ascontiguousarray(native.T)).T
            if resampler is not None:
                yield resampler.resample_chunk(np.zeros((0, ch), np.float32), last=True).T

        for out in resampled():
            if limit is not None:
                out = out[:, :max(0, limit - produced)]
            produced += out.shape[1]
            if skip >= out.shape[1]:
                skip -= out.shape[1]
                continue
            piece = out[:, skip: skip + remaining]
            skip = 0
            if piece.shape[1]:
                remaining -= piece.shape[1]
                yield np.ascontiguousarray(piece, dtype=np.float32)
            if remaining == 0:
                return
    if remaining > 0:  # past the end of the stream
        yield np.zeros((ch, remaining), np.float32)


# ----------------------------------------------------------------------------------- video


def _open_video(path: str | os.PathLike) -> MediaInfo:
    info = probe_cached(path)
    info.require_video()
    return info


def video_length(info: MediaInfo, sr: int = SAMPLE_RATE) -> int:
    """Samples at `sr` from the first frame to the end of the video stream."""
    v = info.require_video()
    if v.duration:
        dur = v.duration
    elif v.avg_fps and v.frame_count:
        dur = Fraction(v.frame_count) / v.avg_fps
    else:
        dur = info.start_time + info.duration - v.start_time
    return max(0, math.floor(dur * sr + Fraction(1, 2)))


def frame_count(start: int, end: int, fps: Fraction, sr: int = SAMPLE_RATE) -> int:
    """Frames on the grid in [start, end): ceil((end - start) / sr * fps)."""
    return max(0, math.ceil(Fraction(end - start, sr) * Fraction(fps)))


class _Picture:
    """Turns decoded frames into RGB arrays of one target size: rotation, aspect, letterbox."""

    def __init__(self, info: MediaInfo, size: tuple[int, int] | None, letterbox: bool):
        v = info.require_video()
        self.rotation = v.rotation
        dw, dh = v.display_width, v.display_height
        if size is None:
            size = (dw, dh)
        W, H = int(size[0]), int(size[1])
        if W <= 0 or H <= 0:
            raise ValueError(f"bad frame size {size}")
        self.size = (W, H)
        # Scale so the display picture fits inside (letterbox) or covers (crop) the target.
        scale = min(Fraction(W, dw), Fraction(H, dh)) if letterbox else max(Fraction(W, dw), Fraction(H, dh))
        sw, sh = max(1, round(dw * scale)), max(1, round(dh * scale))
        self.scaled = (sw, sh)
        # reformat() works before rotation: swap the sides for 90/270.
        self.coded = (sh, sw) if self.rotation in (90, 270) else (sw, sh)
        # One reformatter per stream: it keeps its swscale context between frames. A fresh one
        # per frame (what VideoFrame.reformat does) rebuilds the context every time and was
        # measured 70x slower (2.8 ms vs 0.04 ms per 256x256 frame).
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        cw, ch = self.coded
        rgb = self._reformatter.reformat(frame, width=cw, height=ch, format="rgb24",
                                         interpolation="AREA").to_ndarray()
        if self.rotation:
            rgb = np.rot90(rgb, k=-self.rotation // 90)  # clockwise
        W, H = self.size
        sw, sh = self.scaled
        if (sw, sh) == (W, H):
            return np.ascontiguousarray(rgb)
        out = np.zeros((H, W, 3), np.uint8)
        # Centre: pad (letterbox) or crop (cover), whichever way each side goes.
        sy, dy = max(0, (sh - H) // 2), max(0, (H - sh) // 2)
        sx, dx = max(0, (sw - W) // 2), max(0, (W - sw) // 2)
        h, w = min(H, sh), min(W, sw)
        out[dy:dy + h, dx:dx + w] = rgb[sy:sy + h, sx:sx + w]
        return out


def _video_frames(container: InputContainer, stream: VideoStream, t_first: Fraction,
                  cancel: CancelToken | None) -> Iterator[tuple[Fraction, av.VideoFrame]]:
    """(time, frame) in presentation order, from the keyframe at or before t_first."""
    tb = time_base(stream)
    start = Fraction(stream.start_time or 0) * tb
    if t_first - start > tb:
        container.seek(int(t_first / tb), stream=stream, backward=True)
        frames = _decode_video(container, stream, cancel)
        head = next(frames, None)
        if head is not None and head[0] <= t_first:
            yield head
            yield from frames
            return
        # The seek landed after the target (a sparse or lying index): decode from the start.
        container.seek(0, stream=stream, backward=True)
    yield from _decode_video(container, stream, cancel)


def _decode_video(container: InputContainer, stream: VideoStream,
                  cancel: CancelToken | None) -> Iterator[tuple[Fraction, av.VideoFrame]]:
    tb = time_base(stream)
    last = None
    for packet in container.demux(stream):
        check(cancel)
        for frame in packet.decode():
            if frame.pts is None:
                continue
            t = frame.pts * tb
            if last is not None and t <= last:
                continue  # a duplicate or out-of-order timestamp: keep the earlier picture
            last = t
            yield t, frame


def iter_video_frames(path: str | os.PathLike, fps: Fraction | int | str, size: tuple[int, int] | None = None,
                      start: int = 0, end: int | None = None, letterbox: bool = True,
                      cancel: CancelToken | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 [h, w, 3] frames on the grid `start/48000 + k/fps` (see module doc).

    Frames are read-only: a held picture is the same array each time (copy to modify).

    size=(w, h) (None: the display size); letterbox=True pads to keep the aspect ratio,
    False crops to fill. end=None is the end of the video stream.
    """
    fps = Fraction(fps)
    info = _open_video(path)
    end = _video_range(info, fps, start, end)
    yield from _iter_video(info, fps, size, start, end, letterbox, cancel)


def _video_range(info: MediaInfo, fps: Fraction, start: int, end: int | None) -> int:
    if fps <= 0:
        raise ValueError("fps must be positive")
    if end is None:
        end = video_length(info)
    if start < 0 or end < start:
        raise MediaError(f"bad video range {start}..{end} samples")
    return end


def _iter_video(info: MediaInfo, fps: Fraction, size: tuple[int, int] | None, start: int, end: int, letterbox: bool,
                cancel: CancelToken | None, frame_threads: bool = True) -> Iterator[np.ndarray]:
    n = frame_count(start, end, fps)
    if n == 0:
        return
    picture = _Picture(info, size, letterbox)
    origin = info.origin
    with open_media(info.path) as container:
        stream = cast(VideoStream, container.streams[info.require_video().stream_index])
        tb = time_base(stream)
        # Frame threading pays off on a run of frames; for one picture (a seek, a thumbnail) it
        # costs more than it gives: it starts a thread per core for each read, and it holds
        # back every output frame until as many packets more were sent, so the frame asked for
        # is decoded along with that many after it. Slice threads add no such delay.
        stream.thread_type = "AUTO" if frame_threads else "SLICE"
        frames = _video_frames(container, stream, origin + Fraction(start, SAMPLE_RATE), cancel)
        current = next(frames, None)
        if current is None:
            raise MediaError(f"no decodable video frames in {info.path}")
        upcoming = next(frames, None)
        # A source frame counts as shown at t if its timestamp is within half a tick after t:
        # coarse time bases (Matroska's 1 ms) round 29.97 fps timestamps to the nearest tick.
        tolerance = tb / 2
        shown = None  # (frame time, array) last converted, reused while held
        for k in range(n):
            t = origin + Fraction(start, SAMPLE_RATE) + k / fps
            # Advance while the next picture is already on screen at t.
            while upcoming is not None and upcoming[0] <= t + tolerance:
                current, upcoming = upcoming, next(frames, None)
            if shown is None or shown[0] != current[0]:
                rgb = picture(current[1])
                rgb.flags.writeable = False  # yielded again while the picture is held
                shown = (current[0], rgb)
            yield shown[1]


def read_video_frames(path: str | os.PathLike, fps: Fraction | int | str, size: tuple[int, int] | None = None,
                      start: int = 0, end: int | None = None, letterbox: bool = True,
                      cancel: CancelToken | None = None) -> np.ndarray:
    """uint8 [T, h, w, 3] with T = ceil((end - start) / 48000 * fps); see iter_video_frames."""
    fps = Fraction(fps)
    info = _open_video(path)
    end = _video_range(info, fps, start, end)
    n = frame_count(start, end, fps)
    v = info.require_video()
    w, h = size if size is not None else (v.display_width, v.display_height)
    out = np.empty((n, h, w, 3), np.uint8)
    count = 0
    for i, frame in enumerate(_iter_video(info, fps, size, start, end, letterbox, cancel)):
        out[i] = frame
        count = i + 1
    if count != n:
        raise AssertionError(f"decoded {count} frames, expected {n}")
    return out


def read_frame_at(path: str | os.PathLike, t_samples: int,
                  size: tuple[int, int] | None = None, letterbox: bool = True) -> np.ndarray:
    """The picture shown at `t_samples` after the origin (accurate seek), RGB [h, w, 3]."""
    # One frame of a grid at 48000 fps starting at t is exactly the picture at t.
    info = _open_video(path)
    fps = Fraction(SAMPLE_RATE)
    end = _video_range(info, fps, t_samples, t_samples + 1)
    for frame in _iter_video(info, fps, size, t_samples, end, letterbox, None, frame_threads=False):
        return frame
    raise MediaError(f"no frame at sample {t_samples} in {path}")
