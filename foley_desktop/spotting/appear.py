"""Events that are changes of the picture rather than motion: a character typed on a screen,
a light or a display switching. Flow sees no motion there, so motion.py cannot find them.

A keystroke on a screen changes a small set of pixels at once, from one frame to the next, and
the change stays: those pixels were still before, are still after, and still differ from how
they were a while later. Each of these tests rejects a way natural footage changes:

- small (at most AREA_MAX of the picture, at least MIN_PX pixels): a cut, a pan or a light
  change of the whole picture is not one event here;
- abrupt (still before, still after, over STILL_S): a mouth, a hand or leaves change
  continuously, so their pixels are never still on both sides of a change;
- lasting (still different throughout the next PERSIST_S): a blinking cursor or a flicker
  goes back.

The score of a frame is the mean change (0..1) of its changed pixels: the contrast of what
appeared. The first frame that shows the new picture is the event's time, the convention of
resources/spotting/real_eval.json.
"""

from __future__ import annotations

import cv2
import numpy as np

LEVEL = 40 / 255        # a pixel changed if it moved this far (0..1); compression stays below
MIN_PX = 12             # a character at the analysed size is a few dozen pixels
AREA_MAX = 0.02         # a keystroke changes at most this share of the picture
STILL_S = 0.06          # still this long before and after the change ...
STILL_SHARE = 0.3       # ... (at most this share of the changed pixels changing before: the
                        # key before moved the cursor there; after: STILL_AFTER)
STILL_AFTER = 0.1
NEAR_KERNEL = np.ones((7, 7), np.uint8)   # "surroundings": 3 px around what changed
FILL = 0.1              # the changed pixels fill at least this share of their bounding box
PERSIST_S = 1.3         # and stay changed this long (a cursor blinks back within it) ...
PERSIST_MIN_S = 0.65    # at least this much of the window must be there: a change in the last
                        # 0.15 s before a 20 s chunk boundary (0.5 s of context) is not judged
PERSIST_SHARE = 0.3     # ... at least this share of them (a typed key moves the cursor on)


def appearances(frames: list[np.ndarray], fps: float) -> np.ndarray:
    """[T] contrast of the small, abrupt, lasting change that frame j shows (0 where none)."""
    n = len(frames)
    out = np.zeros(n)
    if n < 3:
        return out
    f = frames

    def diff(a: int, b: int) -> np.ndarray:   # |f[a] - f[b]| without a wider copy of the chunk
        return cv2.absdiff(f[a], f[b])
    h, w = frames[0].shape
    lvl = LEVEL * 255
    s = max(1, round(STILL_S * fps))
    m = max(s + 1, round(PERSIST_S * fps))
    for j in range(1, n):
        d = diff(j, j - 1)
        changed = d > lvl
        k = int(changed.sum())
        if k < MIN_PX or k > AREA_MAX * h * w:
            continue
        # compact: what appeared is one thing (a character and the cursor beside it, a line
        # of output), not the scattered edges of a moving hand
        ys, xs = np.nonzero(changed)
        if k < FILL * (np.ptp(xs) + 1) * (np.ptp(ys) + 1):
            continue
        # still before: the same pixels did not change over the s frames before j-1 ...
        if any(np.mean(diff(i, i - 1)[changed] > lvl) > STILL_SHARE
               for i in range(max(1, j - s), j)):
            continue
        # ... nor they or their surroundings over the s frames after j: a flat-coloured thing
        # that slides along changes only its edges, and the next edge is beside this one
        near = cv2.dilate(changed.astype(np.uint8), NEAR_KERNEL) > 0
        if any(np.count_nonzero((diff(i, i - 1) > lvl) & near) > STILL_AFTER * k
               for i in range(j + 1, min(n, j + s + 1))):
            continue
        # lasting: over the m frames after, they keep differing from before the change (a
        # blinking cursor goes back within the window, whatever its period)
        if j + round(PERSIST_MIN_S * fps) >= n or any(
                np.mean(diff(i, j - 1)[changed] > lvl) < PERSIST_SHARE
                for i in range(j + s, min(n, j + m + 1), s)):
            continue
        out[j] = float(d[changed].mean()) / 255
    return out
