"""`foley-desktop spot CLIP [--start T] [--end T] [--roi X,Y,W,H] [--json]`: auto-spot markers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "propose event markers (footsteps, hits) from the picture"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("clip", type=Path, help="video file")
    parser.add_argument("--start", help="where to start: seconds, HH:MM:SS.sss or timecode "
                                        "HH:MM:SS:FF (default: the clip's first frame)")
    parser.add_argument("--end", help="where to stop (default: the clip's end)")
    parser.add_argument("--roi", help="only this region of the picture: X,Y,W,H in pixels")
    parser.add_argument("--json", action="store_true",
                        help="print JSON: [{time (samples at 48 kHz), seconds, kind, strength, "
                             "source}]")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def parse_roi(text: str | None, flag: str = "--roi") -> tuple[int, int, int, int] | None:
    """`X,Y,W,H` in source pixels (spot --roi, generate/project --spot-roi); one-line errors."""
    from foley_desktop.errors import FoleyError

    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise FoleyError(f"bad {flag} {text!r}: expected X,Y,W,H in whole pixels") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise FoleyError(f"bad {flag} {text!r}: the position must be >= 0 and the size > 0")
    return x, y, w, h


def run(args) -> int:
    from foley_desktop.errors import MediaError
    from foley_desktop.jobs import Progress
    from foley_desktop.media.probe import probe
    from foley_desktop.media.timebase import SAMPLE_RATE, parse_time, samples_to_timecode
    from foley_desktop.spotting.detect import spot

    if not args.clip.exists():
        raise MediaError(f"no such file: {args.clip}")
    info = probe(args.clip)
    if info.video is None:
        raise MediaError(f"{args.clip.name} has no video stream to spot events in")
    fps = info.video.fps

    def t(text):
        try:
            return parse_time(text, fps)
        except (ValueError, TypeError) as exc:
            raise MediaError(f"bad time {text!r}: {exc}") from None

    start = t(args.start) if args.start else 0
    end = t(args.end) if args.end else info.duration_samples
    from foley_desktop.commands.generate import check_range

    check_range(start, end, info.duration_samples, MediaError)  # as `generate` refuses it
    if end <= start:
        raise MediaError("--end must be after --start")
    roi = parse_roi(args.roi)

    def show(p: Progress) -> None:
        print(f"\r{p.stage}: {100 * p.fraction:3.0f}%", end="", file=sys.stderr, flush=True)

    quiet = args.quiet or args.json or not sys.stderr.isatty()
    markers = spot(args.clip, start, end, progress=None if quiet else show, roi=roi)
    if not quiet:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps([{"time": m.time, "seconds": round(m.time / SAMPLE_RATE, 6),
                           "kind": m.kind, "strength": m.strength, "source": m.source}
                          for m in markers], indent=1))
        return 0
    for m in markers:
        print(f"{m.time / SAMPLE_RATE:9.3f} s  {samples_to_timecode(m.time, fps)}  "
              f"{m.kind:8s}  strength {m.strength:.2f}")
    span = (end - start) / SAMPLE_RATE
    print(f"{len(markers)} marker(s) in {span:.2f} s", file=sys.stderr)
    return 0
