"""Auto-spot: propose markers (footsteps, hits) from the picture alone.

Two cues, both measured on the real picture rather than learned from drawings:
- motion that stops abruptly (motion.py): a hit or a landing foot; camera motion is removed
  first (the whole picture's shift), so a pan or shake is not an impact;
- walkers' stances opening (gait.py): heel strikes of people too small for any pose model,
  used only while the camera holds still (the silhouettes need a still background).
Each cue's threshold was chosen on the development clips of resources/spotting/real_eval.json
only (`python -m foley_desktop.spotting.evaluate --calibrate`) and is stored in
resources/spotting/detector.json. Events closer than `min_gap_s` are merged (the strongest,
relative to its threshold, is kept).

Long clips are analysed in chunks so memory stays flat; a chunk decodes a little context on
each side so that events at its edges are scored like any other.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from foley_desktop.errors import MediaError
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.media.timebase import SAMPLE_RATE, seconds_to_samples
from foley_desktop.paths import resources_dir

from . import appear, contact, gait, motion, pose
from .markers import Marker

PARAMS_FILE = resources_dir() / "spotting" / "detector.json"
# Used only when the calibrated file is missing (a source checkout before calibration).
DEFAULT_PARAMS = {"stop": 0.6, "stride": 0.12, "min_gap_s": 0.15, "down_footstep": 0.6,
                  "camera_still": 0.05, "camera_busy": 0.1, "pose": 0.3,
                  "appear": 0.3, "min_gap_change_s": 0.05, "strength_floor": 1.0}
CHUNK_S = 20
CONTEXT_S = 0.5
CUT_DIFF = 0.15            # mean absolute frame difference (0..1) of a cut; motion stays < 0.12
HELD_DIFF = 1e-3           # mean absolute difference (0..1) under which a frame repeats the last
WALKER_NEAR_S = 1.0         # the contact gate leaves stops this close to a walker's strike
GAIT_HEIGHT = 480           # silhouettes need detail: analysed up to this many rows


@dataclass(frozen=True)
class Candidates:
    """Per-frame scores of a stretch of video, before any threshold (reused by calibration)."""

    times_s: np.ndarray     # [T] seconds from the clip's first frame
    stop: np.ndarray        # [T] deceleration (picture heights / s)
    down: np.ndarray        # [T] downward share of it
    stride: np.ndarray      # [T] strongest stance opening of any walker (0 if camera moves)
    camera: np.ndarray      # [T] camera speed
    frame_diff: np.ndarray  # [T] mean absolute frame difference (for the naive baseline)
    pose: np.ndarray | None = None     # [T] heel strikes from the pose model (0 where none)
    cell: np.ndarray | None = None     # [T, 2] grid cell of the strongest stop
    heading: np.ndarray | None = None  # [T, 2] direction of the motion into that stop
    into: np.ndarray | None = None     # [T] speed into the frame in that cell
    held: np.ndarray | None = None     # [T] 1 where the picture does not change after j
    appear: np.ndarray | None = None   # [T] contrast of a small, abrupt, lasting change
    extent: np.ndarray | None = None   # [T] share of cells stopping with the strongest
    nb_rest: np.ndarray | None = None  # [T] its neighbourhood's speed out / speed in

    def __post_init__(self):
        n = len(self.times_s)
        for name, shape in (("pose", (n,)), ("cell", (n, 2)), ("heading", (n, 2)),
                            ("into", (n,)), ("held", (n,)), ("appear", (n,)),
                            ("extent", (n,)), ("nb_rest", (n,))):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(shape))


def load_params() -> dict:
    if PARAMS_FILE.exists():
        return {**DEFAULT_PARAMS, **json.loads(PARAMS_FILE.read_text(encoding="utf-8"))["params"]}
    return dict(DEFAULT_PARAMS)


def candidates(video: Path, start: int = 0, end: int | None = None,
               roi: tuple[int, int, int, int] | None = None,
               progress: ProgressFn | None = None, cancel: CancelToken | None = None,
               camera_still: float | None = None, use_pose: bool = True) -> Candidates:
    video = Path(video)
    fps, info = motion.frame_rate(video)
    stop_at = info.duration_samples if end is None else min(int(end), info.duration_samples)
    if start < 0 or stop_at - start <= 0:
        raise MediaError(f"nothing to spot: the range is outside {video.name} "
                         f"(0 to {info.duration_samples / SAMPLE_RATE:.2f} s)")
    still = DEFAULT_PARAMS["camera_still"] if camera_still is None else camera_still
    n_total = int(np.ceil((stop_at - start) / SAMPLE_RATE * fps))
    meter = ProgressMeter(progress, "spotting", n_total)
    chunk = seconds_to_samples(CHUNK_S)
    ctx = seconds_to_samples(CONTEXT_S)
    parts: list[tuple[np.ndarray, ...]] = []
    t0 = start
    while t0 < stop_at:
        check(cancel)
        t1 = min(stop_at, t0 + chunk)
        # Decode on the clip's frame grid: context starts a whole number of frames earlier.
        n_ctx = math.floor(min(ctx, t0) / SAMPLE_RATE * fps)
        a = t0 - round(n_ctx * SAMPLE_RATE / fps)
        b = min(info.duration_samples, t1 + ctx)
        parts.append(_chunk(video, fps, a, b, n_ctx, t0, t1, roi, still, cancel, use_pose))
        t0 = t1
        meter.update(min(n_total, (t0 - start) / SAMPLE_RATE * float(fps)))
    cat = [np.concatenate(p) for p in zip(*parts, strict=True)]
    return Candidates(*cat)


def _chunk(video, fps: Fraction, a: int, b: int, n_ctx: int, t0: int, t1: int, roi, still,
           cancel, use_pose: bool = True) -> tuple[np.ndarray, ...]:
    # A region is analysed at its own size (enlarging it would only blur the silhouettes).
    big = motion.decode_gray(video, fps, a, b, GAIT_HEIGHT if roi is None else
                             min(GAIT_HEIGHT, roi[3]), roi, cancel)
    if not big:
        z = np.zeros(0)
        return z, z, z, z, z, z, z, np.zeros((0, 2)), np.zeros((0, 2)), z, z, z, z, z
    h, w = big[0].shape
    small_size = (max(16, round(w * motion.ANALYSIS_HEIGHT / h / 2) * 2), motion.ANALYSIS_HEIGHT)
    small = [cv2.resize(f, small_size, interpolation=cv2.INTER_AREA) for f in big]
    mt = motion.analyse(small, float(fps), cancel=cancel)
    # A cut changes the whole picture at once: each shot gets its own background, and no
    # stop is scored across a cut (the flow between two shots means nothing).
    cuts = [j for j in range(1, len(big)) if mt.frame_diff[j] > CUT_DIFF]
    bounds = [0, *cuts, len(big)]
    stride = np.zeros(len(big))
    heels = np.zeros(len(big))
    tracker = pose.PoseTracker() if use_pose and pose.available() else None
    height = GAIT_HEIGHT if roi is None else min(GAIT_HEIGHT, roi[3])
    for s0, s1 in pairwise(bounds):
        if s1 - s0 < 5:
            continue
        # Who is in the shot (pose model, on its middle frame): a person seen close up with
        # no heel in view means no footstep can be seen, and the silhouettes' "walkers"
        # would be moving parts of that person; a person seen whole gets the pose cue.
        seen = "nobody"
        if tracker is not None:
            mid = a + round((s0 + s1) // 2 * SAMPLE_RATE / fps)
            rgb = motion.decode_gray(video, fps, mid, mid + round(SAMPLE_RATE / fps), height,
                                     roi, cancel, gray=False)
            if rgb:
                seen = pose.who(rgb[0], tracker)
        if seen == "close_up":
            continue
        # Silhouettes first (calibrated on the dev walkers, 40-80 px tall at 10 fps); the pose
        # model's heel strikes where they find no walker: a moving camera, people seen at a
        # size or angle the silhouettes miss.
        inner = mt.camera[s0:s1][mt.camera[s0:s1] > 0]
        if len(inner) and float(np.median(inner)) < still:
            shot = big[s0:s1]
            bg = gait.background(shot)
            for st in gait.stance_tracks(shot, bg, float(fps)):
                stride[s0:s1] = np.maximum(stride[s0:s1], gait.strike_score(st))
        if seen == "whole" and not stride[s0:s1].any():
            poses = []
            tracker.region = None
            start_s = a + round(s0 * SAMPLE_RATE / fps)
            end_s = a + round(s1 * SAMPLE_RATE / fps)
            for rgb in motion.iter_frames(video, fps, start_s, end_s, height, roi, cancel,
                                          gray=False):
                poses.append(tracker.track(rgb))
                if len(poses) == s1 - s0:
                    break
            poses += [None] * (s1 - s0 - len(poses))
            if pose.walks(poses, float(fps)):
                heels[s0:s1] = pose.strike_score(pose.stance(poses))
    # The camera's speed near a frame (the flows reach k frames each way, and a pan's start
    # or end can fall between two estimates): the fastest within k + 1 frames; a cut counts
    # as a camera moving infinitely fast.
    k = max(1, round(motion.WINDOW_S * float(fps))) + 1
    camera = mt.camera.copy()
    camera[cuts] = np.inf
    cam = np.array([camera[max(0, j - k):j + k + 1].max() for j in range(len(big))])
    # A held picture: the frames after j repeat it exactly (a source slower than its stated
    # rate, a variable-rate phone clip, a freeze). Motion "stops" there because the frames
    # stop, not the things in them (opencv_tree_hand: 2 new pictures a second at "15 fps").
    fd = mt.frame_diff
    held = np.array([float(j + 1 < len(big) and bool(np.all(fd[j + 1:j + k] < HELD_DIFF)))
                     for j in range(len(big))])
    change = appear.appearances(big, float(fps))
    change[cuts] = 0.0
    times = a / SAMPLE_RATE + np.arange(len(big)) / float(fps)
    keep = (times >= t0 / SAMPLE_RATE - 1e-9) & (times < t1 / SAMPLE_RATE - 1e-9)
    return (times[keep], mt.stop[keep], mt.down[keep], stride[keep], cam[keep],
            mt.frame_diff[keep], heels[keep], mt.cell[keep], mt.heading[keep],
            mt.into[keep], held[keep], change[keep], mt.extent[keep], mt.nb_rest[keep])


def select(c: Candidates, params: dict) -> list[tuple[float, str, float]]:
    """(time s, kind, strength) of the events the thresholds in `params` accept."""
    ev = []   # (relative score, time, kind, strength)
    # The contact gate (contact.py): a learned P(contact) for each stop the motion cue would
    # accept; a "hit" below `contact_gate` was a stop in mid-air. Footsteps are not gated, nor
    # stops within WALKER_NEAR_S of a walker's strike (the gate learnt things, not feet).
    gate = float(params.get("contact_gate") or 0.0)
    p_contact: dict[int, float] = {}
    if gate > 0:
        model = Path(params["contact_model"]) if params.get("contact_model") else None
        if contact.available(model):
            walker = contact.walker_strikes(c, params)
            idx = [i for i in contact.stop_candidates(c, params["stop"], params["camera_busy"])
                   if not walker[np.abs(c.times_s - c.times_s[i]) <= WALKER_NEAR_S].any()]
            p_contact = dict(zip(idx, contact.contact_prob(c, idx, model).tolist(), strict=True))
        else:
            gate = 0.0
    for i in range(len(c.times_s)):
        rs = c.stride[i] / params["stride"]
        rm = c.stop[i] / params["stop"]
        rp = c.pose[i] / params["pose"] if params.get("pose") else 0.0
        if rs >= 1 and _is_peak(c.stride, i):
            ev.append((rs, float(c.times_s[i]), "footstep", rs))
        if rp >= 1 and _is_peak(c.pose, i):
            ev.append((rp, float(c.times_s[i]), "footstep", rp))
        # While the camera itself moves fast (a whip pan, a cut) the flow cannot tell a stop.
        if rm >= 1 and _is_peak(c.stop, i) and c.camera[i] < params["camera_busy"] \
                and not c.held[i]:
            kind = "footstep" if c.down[i] >= params["down_footstep"] and \
                max(c.stride.max(), c.pose.max()) > 0 else "hit"
            if not (kind == "hit" and gate > 0 and p_contact.get(i, 1.0) < gate):
                ev.append((rm, float(c.times_s[i]), kind, rm))
        ra = c.appear[i] / params["appear"] if params.get("appear") else 0.0
        # A screen or a lamp seen by a still camera; a pan shifts edges into view.
        if ra >= 1 and c.camera[i] < params["camera_busy"]:
            ev.append((ra, float(c.times_s[i]), "other", ra))
    kept: list[tuple[float, float, str, float]] = []
    for e in sorted(ev, key=lambda e: -e[0]):
        # Keystrokes on a screen come 70-100 ms apart; motion events are kept 150 ms apart.
        if all(abs(e[1] - k[1]) >= (params["min_gap_change_s"] if e[2] == k[2] == "other"
                                    else params["min_gap_s"]) for k in kept):
            kept.append(e)
    # Strength: how far past its threshold the event's motion went, from `strength_floor` at the
    # threshold to full at 4x. The floor is there because a generator plays a marker as loud as
    # its strength: a detector's margin says how sure it is, not how hard a foot lands.
    lo = float(params.get("strength_floor", DEFAULT_PARAMS["strength_floor"]))
    return [(t, kind, float(lo + (1.0 - lo) * min(1.0, (r - 1.0) / 3.0)))
            for _, t, kind, r in sorted(kept, key=lambda e: e[1])]


def _is_peak(s: np.ndarray, i: int) -> bool:
    return (i == 0 or s[i] >= s[i - 1]) and (i == len(s) - 1 or s[i] > s[i + 1])


def spot(video: Path, start: int = 0, end: int | None = None, progress: ProgressFn | None = None,
         cancel: CancelToken | None = None, *, roi: tuple[int, int, int, int] | None = None,
         params: dict | None = None) -> list[Marker]:
    """Markers (source "auto") for the events in [start, end) samples of `video`.

    roi = (x, y, w, h) in source pixels limits the search to a region of the picture.
    """
    p = load_params() if params is None else params
    c = candidates(video, start, end, roi, progress, cancel, camera_still=p["camera_still"])
    return [Marker(seconds_to_samples(round(t, 6)), kind, round(strength, 4), "auto")
            for t, kind, strength in select(c, p)]
