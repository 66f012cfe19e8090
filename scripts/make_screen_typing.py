"""Render the spotting set's screen-typing clips (dev material for picture-change events).

    python scripts/make_screen_typing.py OUT_DIR

Writes OUT_DIR/screen_typing.mp4 (a command typed into a terminal, then its output) and
OUT_DIR/screen_idle.mp4 (the same terminal idle with a blinking cursor: nothing to spot), 1280x720,
30 fps, H.264 at a screen recorder's quality. Deterministic: the keystroke times are fixed below
and listed in resources/spotting/real_eval.json (ids screen_typing_render, screen_idle_render).
These are renders, not camera footage: they stand in for screen recordings, of which the offline
packages hold a single one (held out). Pillow's built-in font keeps them the same on any machine.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H, FPS = 1280, 720, 30
BG, FG, PROMPT = (24, 24, 28), (215, 215, 210), (120, 200, 120)
FONT_SIZE = 20
LINE = 26
BLINK_S = 0.6            # a terminal's cursor: 0.6 s on, 0.6 s off while idle
TYPED = "ls -la ~/foley/takes"
# Seconds at which each character of TYPED appears (bursts and pauses of a person typing),
# then the Enter that prints the output.
KEY_TIMES = [0.80, 0.93, 1.05, 1.50, 1.62, 1.74, 2.30, 2.41, 2.55, 2.66, 2.80, 2.92,
             3.60, 3.71, 3.85, 3.96, 4.10, 4.55, 4.68, 4.80]
ENTER_S = 5.60
TYPING_S = 7.0
IDLE_S = 6.0
OUTPUT = ["total 24", "drwxr-xr-x 2 user user 4096 Dec  6 13:02 .",
          "drwxr-xr-x 9 user user 4096 Dec  6 12:40 ..",
          "-rw-r--r-- 1 user user 1810 Dec  6 13:01 take-01.wav",
          "-rw-r--r-- 1 user user 1822 Dec  6 13:02 take-02.wav"]
HISTORY = ["user@host:~$ cd ~/foley", "user@host:~/foley$ foley-desktop spot clip.mp4 --json",
           '[{"time": 91200, "seconds": 1.9, "kind": "footstep", "strength": 0.41}]']


def _frame(font, n_typed: int, enter: bool, cursor_on: bool) -> np.ndarray:
    img = Image.new("RGB", (W, H), BG)
    d = ImageDraw.Draw(img)
    y = 20
    for line in HISTORY:
        d.text((16, y), line, font=font, fill=FG)
        y += LINE
    prompt = "user@host:~/foley$ "
    d.text((16, y), prompt, font=font, fill=PROMPT)
    x0 = 16 + d.textlength(prompt, font=font)
    d.text((x0, y), TYPED[:n_typed], font=font, fill=FG)
    cx = x0 + d.textlength(TYPED[:n_typed], font=font)
    if enter:
        for line in OUTPUT:
            y += LINE
            d.text((16, y), line, font=font, fill=FG)
        y += LINE
        d.text((16, y), prompt, font=font, fill=PROMPT)
        cx = 16 + d.textlength(prompt, font=font)
    if cursor_on:
        d.rectangle([cx, y + 2, cx + 10, y + LINE - 4], fill=FG)
    return np.asarray(img)


def _write(path: Path, frames) -> None:
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(FPS))
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": "26", "preset": "veryfast"}
        for rgb in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    tmp.replace(path)


def typing_frames(font):
    last_key = 0.0
    for j in range(round(TYPING_S * FPS)):
        t = j / FPS
        n = sum(k <= t + 1e-9 for k in KEY_TIMES)
        enter = t + 1e-9 >= ENTER_S
        keys = [k for k in [*KEY_TIMES, ENTER_S] if k <= t + 1e-9]
        last_key = keys[-1] if keys else 0.0
        # Solid while typing, blinking once idle for a moment (as terminals do).
        idle = t - last_key
        on = idle < BLINK_S or int((idle - BLINK_S) / BLINK_S) % 2 == 1
        yield _frame(font, n, enter, on)


def idle_frames(font):
    for j in range(round(IDLE_S * FPS)):
        t = j / FPS
        yield _frame(font, 0, False, int(t / BLINK_S) % 2 == 0)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=FONT_SIZE)
    _write(out / "screen_typing.mp4", typing_frames(font))
    _write(out / "screen_idle.mp4", idle_frames(font))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
