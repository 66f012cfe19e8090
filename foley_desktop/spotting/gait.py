"""Footsteps from the picture: heel strikes of walking people seen by a still camera.

Seen from the side or at an angle, a walker's stance opens at every heel strike (the front
foot lands far ahead of the back one) and closes as the back leg swings through. So the width
of the lowest fifth of a person's silhouette, relative to their height, rises sharply at each
strike. Silhouettes come from the difference to a median background (which needs a camera
that does not pan: the caller checks the camera's motion first); people are upright moving
blobs followed from frame to frame by their nearest centre. No pose model: this works on
walkers 40 px tall at 10 fps, as in surveillance and wide shots, where a pose model fails.

A strike is placed at the first frame whose stance is open, the convention of the annotations
in resources/spotting/real_eval.json (ground truth written from the same picture).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import cv2
import numpy as np

FOREGROUND_LEVEL = 30      # grey levels from the background that count as foreground
MIN_HEIGHT_FRAC = 0.06     # a person is at least this share of the picture height ...
MIN_HEIGHT_PX = 24         # ... and this many analysed pixels
UPRIGHT = 1.3              # height / width of a walking silhouette, legs closed
FOOT_BAND = 0.2            # the lowest fifth of the silhouette holds the feet
OPENING_NOISE = 0.02       # stance changes smaller than this are silhouette noise
MIN_TRACK_S = 0.6          # followed at least this long (a step and a bit)
STRAIGHT = 0.6             # net travel / path length of a walker's centre
WALKED = 0.5               # a walker's track covers at least half their height
ACROSS = 1.0               # ... mostly across the picture: |rise or fall| <= ACROSS x |sideways|


@dataclass
class _Track:
    cx: float
    cy: float
    h: float
    last: int
    widths: dict[int, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    centres: dict[int, tuple[float, float]] = field(default_factory=dict)


def background(frames: list[np.ndarray]) -> np.ndarray:
    """Per-pixel median over (at most 60 evenly spaced) frames: people walk on, the ground stays."""
    idx = np.linspace(0, len(frames) - 1, min(len(frames), 60)).round().astype(int)
    return np.median(np.stack([frames[i] for i in idx]).astype(np.float32), axis=0)


def _people(gray: np.ndarray, bg: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(centre x, centre y, height, stance width / height) of each upright moving silhouette."""
    fg = (np.abs(gray.astype(np.float32) - bg) > FOREGROUND_LEVEL).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 3), np.uint8))
    n, lab, st, cen = cv2.connectedComponentsWithStats(fg)
    out = []
    min_h = max(MIN_HEIGHT_PX, MIN_HEIGHT_FRAC * gray.shape[0])
    for i in range(1, n):
        x, y, w, h, area = st[i]
        if h < min_h or h < 1.0 * w or area < 0.15 * w * h:
            continue
        # A silhouette touching the picture's bottom edge has its feet cut off.
        if y + h >= gray.shape[0] - 1:
            continue
        band = lab[y + int(h * (1 - FOOT_BAND)):y + h, x:x + w] == i
        cols = np.flatnonzero(band.any(axis=0))
        if len(cols) == 0:
            continue
        out.append((float(cen[i][0]), float(cen[i][1]), float(h),
                    float(cols[-1] - cols[0] + 1) / h))
    return out


def stance_tracks(frames: list[np.ndarray], bg: np.ndarray, fps: float) -> list[np.ndarray]:
    """For each walker followed over >= 0.6 s: [T] stance width / height (NaN when unseen)."""
    tracks: list[_Track] = []
    for j, g in enumerate(frames):
        for cx, cy, h, wr in _people(g, bg):
            best, best_d = None, 0.5
            for t in tracks:
                if t.last < j - 2:
                    continue
                d = np.hypot(cx - t.cx, cy - t.cy) / max(h, t.h)
                if d < best_d and j not in t.widths:
                    best, best_d = t, d
            if best is None:
                best = _Track(cx, cy, h, j)
                tracks.append(best)
            best.cx, best.cy, best.h, best.last = cx, cy, h, j
            best.widths[j] = wr
            best.heights[j] = h
            best.centres[j] = (cx, cy)
    out = []
    for t in tracks:
        if len(t.widths) < max(5, MIN_TRACK_S * fps):
            continue
        # A walker gets somewhere: over the track its centre moves at least half its height.
        # A talking head, a gesturing hand or a swaying tree stays where it is.
        j0, j1 = min(t.centres), max(t.centres)
        travel = np.hypot(t.centres[j1][0] - t.centres[j0][0], t.centres[j1][1] - t.centres[j0][1])
        if travel < WALKED * float(np.median(list(t.heights.values()))):
            continue
        # ... and goes somewhere in a line: fragments of a moving face or shirt that the
        # tracker hops between zigzag.
        js = sorted(t.centres)
        path = sum(np.hypot(t.centres[b][0] - t.centres[a][0], t.centres[b][1] - t.centres[a][1])
                   for a, b in pairwise(js))
        if travel < STRAIGHT * path:
            continue
        # ... and walks along the ground, across the picture: the stance is read from the side
        # (seen from the front a walker's feet band hardly widens). A part of a character
        # seen close up that rises or sinks (an arm stretched up, a wing, a leg lifted and put
        # back) is no walker: on the dev clips the walkers' tracks rise or fall at most 0.3x
        # their sideways travel, such parts 1.2-30x (bbb_trailer_bird, _stretch, _fruit).
        dx = t.centres[j1][0] - t.centres[j0][0]
        dy = t.centres[j1][1] - t.centres[j0][1]
        if abs(dy) > ACROSS * abs(dx):
            continue
        s = np.full(len(frames), np.nan)
        for j, w in t.widths.items():
            s[j] = w
        out.append(s)
    return out


def strike_score(stance: np.ndarray, noise: float = OPENING_NOISE) -> np.ndarray:
    """[T] at the first frame of each opening of the stance, how far it opened (the sum of the
    rises over consecutive frames; a strike at 10 fps often spreads over two frames); 0
    elsewhere. The first open frame is where the front foot is down. Rises of `noise` or less
    are jitter. Also the pose cue's reading of the heels' distance (pose.strike_score)."""
    r = np.zeros(len(stance))
    r[1:] = np.nan_to_num(np.diff(stance), nan=0.0)
    out = np.zeros(len(stance))
    j = 0
    while j < len(r):
        if r[j] > noise:
            k = j
            while k + 1 < len(r) and r[k + 1] > noise:
                k += 1
            out[j] = float(r[j:k + 1].sum())
            j = k + 1
        else:
            j += 1
    return out
