"""Where motion stops: dense optical flow turned into an "impact" signal over time.

A footstep or a hit is, in the picture, a moving thing that stops: the swinging foot lands, the
thrown object meets the ground. For frame j, two flows start on j's own pixel grid: back to
frame j-k and on to frame j+k (k frames = ~100 ms). Each pixel then follows the same material,
and its speed into frame j minus its speed out of it is its deceleration; a thing that merely
crosses the picture keeps its speed and scores nothing. The camera's own pan or shake (the whole
picture's shift, by phase correlation) is removed first. The score of a frame is the strongest
mean deceleration of a grid cell (1/6 of the picture height), in picture heights per second, so one threshold serves any
resolution and frame rate, and a still or slowly drifting picture stays below it.

A frame is scored by the motion into it against the motion out of it, so an event's time is
that of the first frame that shows the contact, the convention of the annotations in
resources/spotting/real_eval.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from foley_desktop.errors import MediaError
from foley_desktop.jobs import CancelToken, ProgressMeter, check
from foley_desktop.media import iter_video_frames, probe

ANALYSIS_HEIGHT = 192      # flow is computed at this height: enough for 60 px walkers' feet
GRID_ROWS = 6              # cells of 1/6 of the picture height (square-ish columns)
MAX_FPS = 30               # higher rates are analysed at 30 fps (events >= 100 ms apart)
WINDOW_S = 0.1             # speed is averaged over this long before and after a frame


@dataclass(frozen=True)
class MotionTrack:
    """The per-frame signals of one analysed stretch of video (index j = frame j)."""

    stop: np.ndarray        # [T] strongest cell deceleration (picture heights / s)
    down: np.ndarray        # [T] share of that deceleration that was downward motion, 0..1
    energy: np.ndarray      # [T] mean speed into the frame (picture heights / s)
    camera: np.ndarray      # [T] speed of the camera (whole-picture shift, picture heights / s)
    frame_diff: np.ndarray  # [T] mean absolute frame difference into the frame (0..1)
    cell: np.ndarray | None = None    # [T, 2] (row, column) of the strongest cell, grid units
    heading: np.ndarray | None = None  # [T, 2] unit direction (x, y) of its motion into j
    into: np.ndarray | None = None     # [T] that cell's mean speed into j (picture heights / s)
    extent: np.ndarray | None = None   # [T] share of cells decelerating at >= half the peak
    nb_rest: np.ndarray | None = None  # [T] the 3x3 neighbourhood's speed out / speed in


def frame_rate(video: Path) -> tuple[Fraction, object]:
    """(analysis fps, probe info) of a clip; a clip without video is the user's mistake."""
    info = probe(video)
    if info.video is None:
        raise MediaError(f"{Path(video).name} has no video stream to spot events in")
    fps = Fraction(info.video.fps) if info.video.fps else Fraction(25)
    return min(fps, Fraction(MAX_FPS)), info


def decode_gray(video: Path, fps: Fraction, start: int, end: int, height: int,
                roi: tuple[int, int, int, int] | None = None,
                cancel: CancelToken | None = None, *, gray: bool = True) -> list[np.ndarray]:
    """Grey frames of [start, end) samples on the fps grid, `height` rows high (never
    enlarged beyond the source or the region), cropped to roi = (x, y, w, h) if given.
    gray=False keeps the RGB frames (for the pose model)."""
    return list(iter_frames(video, fps, start, end, height, roi, cancel, gray=gray))


def iter_frames(video: Path, fps: Fraction, start: int, end: int, height: int,
                roi: tuple[int, int, int, int] | None = None,
                cancel: CancelToken | None = None, *, gray: bool = True):
    """decode_gray, one frame at a time (memory stays flat over a long stretch)."""
    info = probe(video)
    v = info.video
    if roi is not None:
        x, y, w, h = roi
        x, y = max(0, x), max(0, y)
        w, h = min(w, v.display_width - x), min(h, v.display_height - y)
        if w < 16 or h < 16:
            raise MediaError(f"the region {tuple(roi)} leaves less than 16x16 pixels of the "
                             f"{v.display_width}x{v.display_height} picture")
        it = iter_video_frames(video, fps, start=start, end=end, cancel=cancel)
    else:
        x = y = 0
        w, h = v.display_width, v.display_height
    scale = min(1.0, height / h) if roi is None else height / h
    size = (max(16, round(w * scale / 2) * 2), max(16, round(h * scale)))
    if roi is None:
        it = iter_video_frames(video, fps, size=size, start=start, end=end, letterbox=False,
                               cancel=cancel)
    for rgb in it:
        check(cancel)
        if roi is not None:
            rgb = cv2.resize(np.ascontiguousarray(rgb[y:y + h, x:x + w]), size,
                             interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(rgb)
        yield cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if gray else rgb


def _flow(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flow from a to b with the camera's motion removed, the camera's shift in px).

    The camera's shift is the whole picture's translation by phase correlation: unlike the
    median of the flow it is not pulled to zero by flat walls and sky, where flow is zero
    whatever the camera does. The flow starts from that shift, so a fast pan does not exceed
    the pyramid's reach and leave textured areas with wrong vectors.
    """
    shift, response = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32))
    if response < 0.05:
        # No peak at all: identical frames (a held picture) or no shared content (a cut).
        shift = (0.0, 0.0)
    init = np.empty(a.shape + (2,), np.float32)
    init[..., 0], init[..., 1] = shift
    # Farneback with a wide window: robust on compressed, textured real footage.
    f = cv2.calcOpticalFlowFarneback(a, b, init, pyr_scale=0.5, levels=3, winsize=13,
                                     iterations=3, poly_n=5, poly_sigma=1.1,
                                     flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    f -= np.asarray(shift, np.float32)
    return f, np.asarray(shift)


def _cell_means(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    h, w = a.shape
    hh, ww = h // rows * rows, w // cols * cols
    return a[:hh, :ww].reshape(rows, hh // rows, cols, ww // cols).mean(axis=(1, 3)).reshape(-1)


def analyse(frames: list[np.ndarray], fps: float, progress: ProgressMeter | None = None,
            cancel: CancelToken | None = None) -> MotionTrack:
    """The motion signals of grey frames (ANALYSIS_HEIGHT rows) sampled at `fps`."""
    n = len(frames)
    stop, down, energy, camera = (np.zeros(n) for _ in range(4))
    diffs = np.zeros(n)
    cell, heading, into = np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(n)
    extent, nb_rest = np.zeros(n), np.zeros(n)
    if n == 0:
        return MotionTrack(stop, down, energy, camera, diffs, cell, heading, into, extent,
                           nb_rest)
    hgt, wid = frames[0].shape
    cols = max(1, round(GRID_ROWS * wid / hgt))
    k = max(1, round(WINDOW_S * float(fps)))
    to_hps = float(fps) / k / hgt          # px per k frames -> picture heights per second
    for j in range(n):
        check(cancel)
        if j:
            diffs[j] = float(np.mean(np.abs(frames[j].astype(np.float32) - frames[j - 1]))) / 255
        if j - k < 0 or j + k >= n:
            continue
        # Both flows start on frame j's pixel grid, so each pixel follows the same material:
        # its speed into frame j (from j-k) against its speed out of it (to j+k). A thing
        # that merely crosses the picture keeps its speed; only a thing that stops scores.
        # Camera pans and shake move everything alike: that shift is removed from both.
        fb, cam = _flow(frames[j], frames[j - k])
        ff, _ = _flow(frames[j], frames[j + k])
        camera[j] = float(np.hypot(*cam)) * to_hps
        mb = np.hypot(fb[..., 0], fb[..., 1])
        speed_in = _cell_means(mb, GRID_ROWS, cols)
        speed_out = _cell_means(np.hypot(ff[..., 0], ff[..., 1]), GRID_ROWS, cols)
        dec = (speed_in - speed_out) * to_hps
        c = int(np.argmax(dec))
        # Context of the stop for the contact gate (contact.py): how many cells stop with it,
        # and whether the material around the winning cell comes to rest too.
        if dec[c] > 0:
            extent[j] = float(np.mean(dec >= 0.5 * dec[c]))
        r0, c0 = divmod(c, cols)
        rs, cs = slice(max(0, r0 - 1), r0 + 2), slice(max(0, c0 - 1), c0 + 2)
        nb_in = speed_in.reshape(GRID_ROWS, cols)[rs, cs].sum() - speed_in[c]
        nb_out = speed_out.reshape(GRID_ROWS, cols)[rs, cs].sum() - speed_out[c]
        nb_rest[j] = float(nb_out / nb_in) if nb_in > 1e-6 else 1.0
        # Flow to the earlier frame points up for a thing that came down (image y grows down).
        ddown = _cell_means(np.maximum(-fb[..., 1], 0.0) - np.maximum(ff[..., 1], 0.0),
                            GRID_ROWS, cols)[c] * to_hps
        stop[j] = max(0.0, float(dec[c]))
        cell[j] = divmod(c, cols)
        # Motion into frame j is minus the flow back to j-k (mean over the winning cell).
        hx = -_cell_means(fb[..., 0], GRID_ROWS, cols)[c]
        hy = -_cell_means(fb[..., 1], GRID_ROWS, cols)[c]
        heading[j] = np.array([hx, hy]) / max(1e-9, float(np.hypot(hx, hy)))
        into[j] = float(speed_in[c]) * to_hps
        down[j] = float(np.clip(ddown / dec[c], 0.0, 1.0)) if dec[c] > 0 else 0.0
        energy[j] = float(mb.mean()) * to_hps
        if progress is not None and j % 8 == 0:
            progress.update(j)
    return MotionTrack(stop, down, energy, camera, diffs, cell, heading, into, extent, nb_rest)
