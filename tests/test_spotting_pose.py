"""The pose model (MediaPipe BlazePose converted to ONNX) and the heel strikes read from it."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest

from foley_desktop.media import iter_video_frames
from foley_desktop.media.timebase import seconds_to_samples
from foley_desktop.spotting import evaluate, pose

CLIPS = {c["id"]: c for c in json.loads(evaluate.ANNOTATIONS.read_text())["clips"]}


def _frame(media_root, clip_id: str, t: float, fps: int = 10) -> np.ndarray:
    c = CLIPS[clip_id]
    path = media_root / c["path"]
    if not path.exists():
        pytest.skip(f"{clip_id}: real footage not fetched (scripts/fetch_real_footage.sh)")
    rgb = next(iter(iter_video_frames(path, Fraction(fps), start=seconds_to_samples(t),
                                      end=seconds_to_samples(t + 0.5))))
    if c.get("roi"):
        x, y, w, h = c["roi"]
        rgb = rgb[y:y + h, x:x + w]
    return np.ascontiguousarray(rgb)


def test_the_shipped_graphs_have_mediapipes_inputs_and_outputs():
    det = ort.InferenceSession(str(pose.MODEL_DIR / pose.DETECTOR), providers=["CPUExecutionProvider"])
    lm = ort.InferenceSession(str(pose.MODEL_DIR / pose.LANDMARKS), providers=["CPUExecutionProvider"])
    assert det.get_inputs()[0].shape == [1, 224, 224, 3]
    assert [o.shape for o in det.get_outputs()] == [[1, 2254, 12], [1, 2254, 1]]
    assert lm.get_inputs()[0].shape == [1, 256, 256, 3]
    assert [1, 195] in [o.shape for o in lm.get_outputs()]
    # one anchor per detector output row
    assert pose._anchors().shape == (2254, 2)
    assert (pose.MODEL_DIR / "LICENSE-mediapipe").read_text().lstrip().startswith("Apache License")


def test_a_real_walker_is_seen_whole_with_heels_at_the_feet(media_root):
    rgb = _frame(media_root, "vtest_walker_a", 0.6)       # frame 4 of vtest: stance open
    t = pose.PoseTracker()
    assert pose.who(rgb, t) == "whole"
    found = t.detect(rgb)
    p = t.landmarks(rgb, found[0][1])
    assert p.presence > 0.5
    heels = p.landmarks[[pose.LEFT_HEEL, pose.RIGHT_HEEL], :2]
    nose_y = p.landmarks[0, 1]
    # heels below the hips, the hips below the nose; the man stands in the region's lower half
    hips_y = p.landmarks[[pose.LEFT_HIP, pose.RIGHT_HIP], 1].mean()
    assert nose_y < hips_y < heels[:, 1].min()
    assert heels[:, 1].min() > 0.5 * rgb.shape[0]
    # stance open at this frame: heels a good part of the body's height apart
    assert abs(heels[0, 0] - heels[1, 0]) > 0.15 * (heels[:, 1].max() - nose_y)


def test_a_talking_head_is_a_close_up(media_root):
    assert pose.who(_frame(media_root, "psychopy_jwp_intro", 1.0), pose.PoseTracker()) == "close_up"


def test_heel_strikes_are_the_first_frames_of_each_opening():
    s = np.array([0.1, 0.1, 0.4, 0.6, 0.6, 0.3, 0.1, 0.15, 0.5, 0.5, np.nan, 0.2])
    score = pose.strike_score(s)
    assert list(np.flatnonzero(score)) == [2, 7]
    assert score[2] == pytest.approx(0.5) and score[7] == pytest.approx(0.4)
    assert not pose.strike_score(np.full(6, 0.3)).any()
