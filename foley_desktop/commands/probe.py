"""`foley-desktop probe PATH [--json]`: what a media file contains."""

from __future__ import annotations

import argparse
import json
import os
import sys
from fractions import Fraction

from foley_desktop.media.probe import MediaInfo, probe
from foley_desktop.media.timebase import SAMPLE_RATE

HELP = "show what a media file contains (duration, streams, frame rate, timecode)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="video or audio file")
    parser.add_argument("--json", action="store_true",
                        help="print JSON (exact rationals as strings, with float values)")


def run(args) -> int:
    info = probe(args.path)
    text = json.dumps(info.to_dict(), indent=2, ensure_ascii=False) if args.json else format_table(info)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `foley-desktop probe X | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _s(x: Fraction | None) -> str:
    return "-" if x is None else f"{float(x):.6f} s"


def _rate(x: Fraction | None) -> str:
    if x is None:
        return "-"
    return f"{float(x):.3f}" + ("" if x.denominator == 1 else f" ({x.numerator}/{x.denominator})")


def format_table(info: MediaInfo) -> str:
    rows: list[tuple[str, str]] = [
        ("file", str(info.path)),
        ("container", info.container),
        ("size", f"{info.size_bytes:,} bytes"),
        ("duration", f"{_s(info.duration)} ({info.duration_samples} samples at {SAMPLE_RATE} Hz)"),
        ("start time", _s(info.start_time)),
        ("timecode", info.timecode or "-"),
    ]
    v = info.video
    if v is not None:
        rows += [
            ("video", f"{v.codec} {v.width}x{v.height} {v.pix_fmt or ''}".rstrip()),
            ("  display size", f"{v.display_width}x{v.display_height}"
             + (f" (rotated {v.rotation}° clockwise)" if v.rotation else "")),
            ("  frame rate", _rate(v.fps) + (" variable" if v.is_vfr else " constant")
             + (f", average {_rate(v.avg_fps)}" if v.avg_fps and v.avg_fps != v.fps else "")),
            ("  frames", str(v.frame_count)),
            ("  start / duration", f"{_s(v.start_time)} / {_s(v.duration)}"),
        ]
    else:
        rows.append(("video", "none"))
    if not info.audio_streams:
        rows.append(("audio", "none"))
    for i, a in enumerate(info.audio_streams):
        label = "audio" if len(info.audio_streams) == 1 else f"audio #{i + 1}"
        rows += [
            (label, f"{a.codec} {a.sample_rate} Hz {a.layout or str(a.channels) + ' ch'}"),
            ("  samples", "-" if a.sample_count is None else f"{a.sample_count} at {a.sample_rate} Hz"),
            ("  start / duration", f"{_s(a.start_time)} / {_s(a.duration)}"),
        ]
    for o in info.other_streams:
        rows.append(("other stream", o))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {val}" for k, val in rows)
