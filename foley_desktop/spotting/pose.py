"""People's pose from the picture: MediaPipe's BlazePose (full) converted to ONNX, run here.

resources/models/spotting/ holds pose_detection.onnx (person detector, 224x224 input, values
-1..1) and pose_landmark_full.onnx (33 body landmarks + 6 auxiliary ones in a 256x256 crop,
values 0..1), converted once from the mediapipe==0.10.21 wheel by
scripts/convert_pose_tflite.py (Apache-2.0, see the LICENSE there). The steps around the two
graphs follow MediaPipe's pose graph, written here from its published parameters:

- detection: SSD anchors (strides 8, 16, 32, 32, 32; two square anchors per cell, 2254 in all),
  boxes and 4 keypoints decoded relative to them, a sigmoid score over 0.5, weighted
  non-maximum suppression; the picture is letterboxed into the square input;
- region: centred on keypoint 0 (the hips' middle), a square of 2.5x the distance from it to
  keypoint 1 (a point above the head), rotated so the body stands upright;
- landmarks: the rotated crop resized to 256x256; each landmark (x, y, z, visibility,
  presence) is mapped back into the picture; the next frame's region comes from the two
  auxiliary landmarks (33, 34) the same way, so the detector runs only when the person is lost.

Heel strikes: a heel (landmarks 29, 30) swings, then lands and stays. The first frame at which
its speed falls under a small share of the body height per second, after a swing faster than
that, is a strike: the frame where the foot is down, the convention of
resources/spotting/real_eval.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import onnxruntime as ort

from foley_desktop.errors import MediaError
from foley_desktop.paths import resources_dir
from foley_desktop.spotting import gait

MODEL_DIR = resources_dir() / "models" / "spotting"
DETECTOR = "pose_detection.onnx"
LANDMARKS = "pose_landmark_full.onnx"
DET_SIZE = 224
LM_SIZE = 256
DET_SCORE = 0.5
PRESENCE = 0.5
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_ANKLE, RIGHT_ANKLE = 27, 28


def _session(name: str, threads: int = 1) -> ort.InferenceSession:
    path = MODEL_DIR / name
    if not path.exists():
        raise MediaError(f"the pose model {path} is missing (scripts/convert_pose_tflite.py "
                         "makes it from the mediapipe 0.10.21 wheel)")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


@cache
def _anchors() -> np.ndarray:
    """[2254, 2] anchor centres (x, y) in 0..1; the anchors are squares of side 1."""
    out = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        n = math.ceil(DET_SIZE / stride)
        ys, xs = np.mgrid[0:n, 0:n]
        c = np.stack([(xs + 0.5) / n, (ys + 0.5) / n], -1).reshape(-1, 1, 2)
        out.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class Region:
    """A rotated square in picture pixels: centre, side, rotation (radians)."""

    cx: float
    cy: float
    size: float
    angle: float


@dataclass(frozen=True)
class Pose:
    landmarks: np.ndarray   # [33, 3] x, y (picture pixels), z (same scale as x)
    visibility: np.ndarray  # [33] 0..1
    presence: float         # the model's confidence that a person is in the region
    region: Region


def _region(p0: np.ndarray, p1: np.ndarray) -> Region:
    """MediaPipe's alignment: centre on p0, side 2x |p1 - p0| x 1.25, p0 -> p1 pointing up."""
    angle = math.pi / 2 - math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0])
    angle = (angle + math.pi) % (2 * math.pi) - math.pi
    size = 2.0 * float(np.hypot(*(p1 - p0))) * 1.25
    return Region(float(p0[0]), float(p0[1]), size, angle)


def _crop_matrix(r: Region, out: int) -> np.ndarray:
    """2x3 affine mapping picture pixels to the out x out crop of region r."""
    c, s = math.cos(r.angle), math.sin(r.angle)
    k = out / r.size
    # picture -> crop: rotate by -angle about the centre, scale, move the centre to out/2
    return np.array([[k * c, k * s, out / 2 - k * (c * r.cx + s * r.cy)],
                     [-k * s, k * c, out / 2 - k * (-s * r.cx + c * r.cy)]], np.float32)


class PoseTracker:
    """Detects one person (the most confident) and follows them frame to frame."""

    def __init__(self, threads: int = 1):
        self.det = _session(DETECTOR, threads)
        self.lm = _session(LANDMARKS, threads)
        self.region: Region | None = None

    def detect(self, rgb: np.ndarray) -> list[tuple[float, Region]]:
        """(score, region) of each person found in an RGB uint8 picture, best first."""
        h, w = rgb.shape[:2]
        side = max(h, w)
        scale = DET_SIZE / side
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        img = np.zeros((DET_SIZE, DET_SIZE, 3), np.float32)
        oy, ox = (DET_SIZE - nh) // 2, (DET_SIZE - nw) // 2
        img[oy:oy + nh, ox:ox + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        img = img / 127.5 - 1.0
        raw, logit = self.det.run(None, {self.det.get_inputs()[0].name: img[None]})
        raw, logit = raw[0], logit[0, :, 0]
        score = 1.0 / (1.0 + np.exp(-np.clip(logit, -60, 60)))
        keep = np.flatnonzero(score >= DET_SCORE)
        if not len(keep):
            return []
        a = _anchors()[keep]
        r = raw[keep] / DET_SIZE
        ctr = r[:, 0:2] + a
        half = r[:, 2:4] / 2
        boxes = np.concatenate([ctr - half, ctr + half], 1)
        kps = r[:, 4:12].reshape(-1, 4, 2) + a[:, None, :]
        out = []
        for group in _weighted_nms(boxes, score[keep], 0.3):
            wts = score[keep][group][:, None, None]
            kp = (kps[group] * wts).sum(0) / wts.sum()
            # letterboxed 0..1 -> picture pixels
            kp_px = np.stack([(kp[:, 0] * DET_SIZE - ox) / scale, (kp[:, 1] * DET_SIZE - oy) / scale], 1)
            out.append((float(score[keep][group].max()), _region(kp_px[0], kp_px[1])))
        return sorted(out, key=lambda e: -e[0])

    def landmarks(self, rgb: np.ndarray, region: Region) -> Pose:
        m = _crop_matrix(region, LM_SIZE)
        crop = cv2.warpAffine(rgb, m, (LM_SIZE, LM_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        x = (crop.astype(np.float32) / 255.0)[None]
        outs = self.lm.run(None, {self.lm.get_inputs()[0].name: x})
        raw = outs[0].reshape(39, 5)
        presence = float(outs[1].reshape(-1)[0])
        inv = cv2.invertAffineTransform(m)
        xy = raw[:, :2] @ inv[:, :2].T + inv[:, 2]
        z = raw[:, 2:3] * region.size / LM_SIZE
        vis = 1.0 / (1.0 + np.exp(-raw[:33, 3]))
        pose = Pose(np.concatenate([xy[:33], z[:33]], 1), vis, presence, region)
        # next frame's region from the auxiliary landmarks
        self.region = _region(xy[33], xy[34]) if presence >= PRESENCE else None
        return pose

    def track(self, rgb: np.ndarray) -> Pose | None:
        """The tracked person's pose in this frame (detecting again when lost), or None."""
        if self.region is None:
            found = self.detect(rgb)
            if not found:
                return None
            self.region = found[0][1]
        pose = self.landmarks(rgb, self.region)
        return pose if pose.presence >= PRESENCE else None


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> list[np.ndarray]:
    """Groups of overlapping boxes (indices), best-scored group first."""
    order = list(np.argsort(-scores))
    groups = []
    while order:
        i = order[0]
        ious = _iou(boxes[i], boxes[order])
        g = np.array([order[k] for k in range(len(order)) if ious[k] > iou_thr])
        groups.append(g if len(g) else np.array([i]))
        order = [order[k] for k in range(len(order)) if ious[k] <= iou_thr and order[k] != i]
    return groups


def _iou(b: np.ndarray, bs: np.ndarray) -> np.ndarray:
    x0 = np.maximum(b[0], bs[:, 0])
    y0 = np.maximum(b[1], bs[:, 1])
    x1 = np.minimum(b[2], bs[:, 2])
    y1 = np.minimum(b[3], bs[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (b[2] - b[0]) * (b[3] - b[1])
    areas = (bs[:, 2] - bs[:, 0]) * (bs[:, 3] - bs[:, 1])
    return inter / np.maximum(1e-9, area + areas - inter)


HEEL_VISIBLE = 0.5          # both heels at least this visible for the stance to count
STANCE_NOISE = 0.02         # changes of the heels' distance smaller than this are jitter
CLOSE_UP = 0.5              # a person this share of the picture high, heels unseen: a close-up


def stance(poses: list[Pose | None]) -> np.ndarray:
    """[T] distance between the two heels over the body's scale (the region's side / 2.5,
    about the person's height); NaN where no person or a heel is hidden."""
    out = np.full(len(poses), np.nan)
    for j, p in enumerate(poses):
        if p is None or min(p.visibility[LEFT_HEEL], p.visibility[RIGHT_HEEL]) < HEEL_VISIBLE:
            continue
        d = p.landmarks[LEFT_HEEL, :2] - p.landmarks[RIGHT_HEEL, :2]
        out[j] = float(np.hypot(*d)) / (p.region.size / 2.5)
    return out


def strike_score(s: np.ndarray) -> np.ndarray:
    """[T] at the first frame of each opening of the heels' distance, how far it opened (the
    rises over consecutive frames summed; at 10 fps a landing often spreads over two frames);
    0 elsewhere. The first open frame is the one with the front heel down.

    Measured on the dev walkers against the other reading of the landmarks (a heel whose speed
    falls under a threshold after a swing): that one scored F1 0.80 / 0.50 at +-100 ms on
    vtest_walker_a / _b, this one 1.00 / 1.00 (at 10 fps a heel's speed is two noisy samples
    per stance)."""
    return gait.strike_score(s, STANCE_NOISE)


def available() -> bool:
    return (MODEL_DIR / DETECTOR).exists() and (MODEL_DIR / LANDMARKS).exists()


def who(rgb: np.ndarray, tracker: PoseTracker) -> str:
    """"close_up" (a person at least CLOSE_UP of the picture high, no heel in view),
    "whole" (a person with a heel in view), or "nobody" (none the detector can find)."""
    found = tracker.detect(rgb)
    if not found:
        return "nobody"
    p = tracker.landmarks(rgb, found[0][1])
    tracker.region = None
    if p.presence < PRESENCE:
        return "nobody"
    seen = max(p.visibility[LEFT_HEEL], p.visibility[RIGHT_HEEL]) >= HEEL_VISIBLE
    if seen:
        return "whole"
    return "close_up" if p.region.size / 2.5 >= CLOSE_UP * rgb.shape[0] else "nobody"


WALKED = 0.5                # the hips travel at least half the body's height over the shot ...
MIN_TRACK_S = 0.6           # ... followed at least this long (a step and a bit)
LEFT_HIP, RIGHT_HIP = 23, 24


def walks(poses: list[Pose | None], fps: float) -> bool:
    """True if the person followed is walking somewhere: seen for >= MIN_TRACK_S and their
    hips' middle travels >= WALKED x their height (the same test as gait.py's silhouettes).
    A person standing, talking or gesturing does not; neither does a thing the detector took
    for a person (a toy, a cartoon prop), whose "heels" jitter in place."""
    seen = [(j, p) for j, p in enumerate(poses) if p is not None]
    if len(seen) < max(5, MIN_TRACK_S * fps):
        return False
    hips = np.array([(p.landmarks[LEFT_HIP, :2] + p.landmarks[RIGHT_HIP, :2]) / 2 for _, p in seen])
    height = float(np.median([p.region.size / 2.5 for _, p in seen]))
    return float(np.hypot(*(hips[-1] - hips[0]))) >= WALKED * height
