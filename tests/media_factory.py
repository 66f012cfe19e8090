"""Synthetic clips with known content, written with PyAV, for the media tests.

Video frames carry their own index: 8 vertical bars, white for a 1 bit (most significant bit
left), black for 0, so that `frame_index(rgb)` reads the index back from a decoded (lossy,
scaled, letterboxed) picture. Audio carries clicks at known samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 8


def index_picture(k: int, width: int, height: int) -> np.ndarray:
    img = np.zeros((height, width, 3), np.uint8)
    bar = width // BITS
    for b in range(BITS):
        if (k >> (BITS - 1 - b)) & 1:
            img[:, b * bar:(b + 1) * bar] = 255
    return img


def frame_index(rgb: np.ndarray, box: tuple[int, int, int, int] | None = None) -> int:
    """Read the index from a picture made by `index_picture` (box = x, y, w, h of the picture)."""
    h, w = rgb.shape[:2]
    x0, y0, bw, bh = box if box is not None else (0, 0, w, h)
    k = 0
    for b in range(BITS):
        cx = x0 + int((b + 0.5) * bw / BITS)
        cy = y0 + bh // 2
        v = rgb[cy - 1:cy + 2, cx - 1:cx + 2].mean()
        k = (k << 1) | int(v > 128)
    return k


def write_video(path: Path, pts: Sequence[int], time_base: Fraction, size=(256, 144),
                codec: str = "libx264", rotation_ccw: int = 0, timecode: str | None = None,
                audio: dict | None = None, fps_hint: Fraction | None = None,
                container_format: str | None = None, gop: int = 12,
                options: dict | None = None) -> Path:
    """A clip whose frame k (shown from pts[k]) pictures index k.

    `audio`: dict(rate, seconds, codec, start_pts (in 1/rate), layout, clicks=[sample...])
    """
    w, h = size
    with av.open(str(path), "w", format=container_format) as c:
        rate = fps_hint or Fraction(1, 1) / time_base
        v = c.add_stream(codec, rate=rate)
        v.width, v.height = w, h
        v.pix_fmt = "yuv420p"
        v.time_base = time_base
        v.codec_context.time_base = time_base
        v.gop_size = gop
        opts = {"preset": "ultrafast", "crf": "12"} if codec == "libx264" else {}
        opts.update(options or {})
        v.options = opts
        if rotation_ccw:
            v.set_display_rotation(rotation_ccw)
        if timecode:
            v.metadata["timecode"] = timecode
        a = None
        if audio:
            a = c.add_stream(audio.get("codec", "aac"), rate=audio["rate"])
            a.layout = audio.get("layout", "stereo")
        packets = []
        for k, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(index_picture(k, w, h), format="rgb24")
            f.pts = p
            f.time_base = time_base
            packets += v.encode(f)
        packets += v.encode(None)
        if a is not None:
            packets += list(_audio_packets(a, audio))
        for p in packets:
            c.mux(p)
    return path


def click_signal(rate: int, samples: int, clicks: Sequence[int], channels: int = 2) -> np.ndarray:
    x = np.zeros((channels, samples), np.float32)
    for s in clicks:
        x[:, s:s + 4] = 0.8
    return x


def _audio_packets(stream, spec):
    rate = spec["rate"]
    total = round(spec["seconds"] * rate)
    channels = stream.layout.nb_channels
    signal = spec.get("signal")
    if signal is None:
        signal = click_signal(rate, total, spec.get("clicks", []), channels)
    pts = spec.get("start_pts", 0)
    fmt = "fltp"
    block = 1024
    for i in range(0, total, block):
        chunk = np.ascontiguousarray(signal[:, i:i + block], np.float32)
        f = av.AudioFrame.from_ndarray(chunk, format=fmt, layout=stream.layout.name)
        f.sample_rate = rate
        f.pts = pts + i
        f.time_base = Fraction(1, rate)
        yield from stream.encode(f)
    yield from stream.encode(None)


def write_audio(path: Path, rate: int, seconds: float, codec: str = "aac", clicks=(),
                layout: str = "stereo", container_format: str | None = None,
                signal: np.ndarray | None = None) -> Path:
    with av.open(str(path), "w", format=container_format) as c:
        a = c.add_stream(codec, rate=rate)
        a.layout = layout
        for p in _audio_packets(a, {"rate": rate, "seconds": seconds, "clicks": clicks, "signal": signal}):
            c.mux(p)
    return path


def cfr_pts(n: int, fps: Fraction, time_base: Fraction, start: Fraction = Fraction(0)) -> list[int]:
    return [int((start + Fraction(k) / fps) / time_base) for k in range(n)]
