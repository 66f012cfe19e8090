"""Auto-spot on real footage: events found where the annotations put them, none where nothing
happens. Clips come from scripts/fetch_real_footage.sh (skipped when not fetched) and from the
standard test media."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from foley_desktop.errors import Cancelled, MediaError
from foley_desktop.jobs import CancelToken
from foley_desktop.media import read_video_frames
from foley_desktop.media.timebase import SAMPLE_RATE, seconds_to_samples
from foley_desktop.spotting import evaluate
from foley_desktop.spotting.detect import spot
from foley_desktop.spotting.markers import KINDS
from foley_desktop.spotting.onsets import onset_f1

CLIPS = {c["id"]: c for c in json.loads(evaluate.ANNOTATIONS.read_text())["clips"]}


def _clip(media_root: Path, clip_id: str) -> tuple[Path, dict]:
    c = CLIPS[clip_id]
    path = media_root / c["path"]
    if not path.exists():
        pytest.skip(f"{clip_id}: real footage not fetched (scripts/fetch_real_footage.sh)")
    return path, c


def _range(c: dict) -> tuple[int, int]:
    return seconds_to_samples(Fraction(str(c["start"]))), seconds_to_samples(Fraction(str(c["end"])))


def test_annotations_are_well_formed():
    splits = {"dev": [0, 0], "heldout": [0, 0]}
    for c in CLIPS.values():
        assert c["split"] in splits and c["how"] and c["licence"] and c["package"]
        assert 0 <= c["start"] < c["end"]
        times = [e["t"] for e in c["events"]]
        assert times == sorted(times)
        assert all(c["start"] <= t < c["end"] for t in times), c["id"]
        assert all(e["kind"] in KINDS for e in c["events"])
        splits[c["split"]][0 if times else 1] += 1
    # Each split has clips with events and clips where nothing should be spotted.
    assert all(n_ev >= 2 and n_neg >= 2 for n_ev, n_neg in splits.values())


def test_heel_strikes_of_a_real_walker(media_root):
    path, c = _clip(media_root, "vtest_walker_a")
    got = spot(path, *_range(c), roi=tuple(c["roi"]))
    times = np.array([m.time / SAMPLE_RATE for m in got])
    assert onset_f1([e["t"] for e in c["events"]], times, 0.1) >= 0.8
    assert all(m.source == "auto" and m.kind == "footstep" and 0 < m.strength <= 1 for m in got)


def test_strength_rises_from_the_floor_to_full_at_four_times_the_threshold(media_root):
    """Auto markers are as strong as `strength_floor` at the detector's threshold: a margin says
    how sure the detector is, not how hard the foot lands (at the old floor of 0.25 the model
    played the weaker strikes of real walkers faintly or not at all)."""
    from foley_desktop.spotting import detect

    path, c = _clip(media_root, "vtest_walker_a")
    cands = detect.candidates(path, *_range(c), roi=tuple(c["roi"]))
    p = detect.load_params()
    assert p["strength_floor"] == 1.0
    assert {round(s, 6) for _, _, s in detect.select(cands, p)} == {1.0}
    graded = [s for _, _, s in detect.select(cands, {**p, "strength_floor": 0.25})]
    assert min(graded) >= 0.25 and max(graded) <= 1.0 and len(set(graded)) > 1
    times = [t for t, _, _ in detect.select(cands, p)]
    assert times == [t for t, _, _ in detect.select(cands, {**p, "strength_floor": 0.25})]


def test_a_thrown_object_landing_is_a_hit(media_root):
    path, c = _clip(media_root, "bbb_trailer_fruit")
    got = spot(path, *_range(c))
    assert len(got) == 1
    assert abs(got[0].time / SAMPLE_RATE - c["events"][0]["t"]) <= 0.1
    assert got[0].kind == "hit"


def test_a_foot_lifted_and_put_back_is_one_landing_not_a_walk(media_root):
    # The bird (dev clip) lifts a foot, holds it in the air with its wings spread and puts it
    # back on the branch: its rising and sinking outline was read as a walker's stances (two
    # false footsteps) before the silhouette walker test asked for travel across the picture.
    path, c = _clip(media_root, "bbb_trailer_bird")
    got = spot(path, *_range(c))
    assert len(got) == 1
    assert abs(got[0].time / SAMPLE_RATE - c["events"][0]["t"]) <= 0.1


def test_a_talking_head_gets_no_markers(media_root):
    path, c = _clip(media_root, "psychopy_jwp_intro")
    got = spot(path, *_range(c))
    assert len(got) * 10 / (c["end"] - c["start"]) <= 1.0


def test_continuous_motion_without_an_event_gets_none(clip_tank):
    # The toy tank's turret turns all along (standard test media: always present).
    assert spot(clip_tank) == []


def test_a_camera_pan_over_a_real_picture_is_not_an_event(clip_hello, tmp_path):
    # A real frame panned and shaken like a handheld camera, then stopping: everything moves
    # alike, so the median flow takes it all and nothing stops relative to the scene.
    still = read_video_frames(clip_hello, 1, size=(640, 360), start=0, end=SAMPLE_RATE)[0]
    path = tmp_path / "pan.mp4"
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        x = 0.0
        for k in range(50):
            x += 6.0 if k < 35 else 0.0           # pans, then the camera stops
            dx, dy = (rng.integers(-2, 3) for _ in range(2))
            x0, y0 = int(x) + 20 + dx, 90 + dy
            crop = np.ascontiguousarray(still[y0:y0 + 180, x0:x0 + 320])
            for p in s.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    assert spot(path) == []


def test_progress_and_cancel(clip_tank):
    reports = []
    spot(clip_tank, 0, 2 * SAMPLE_RATE, progress=reports.append)
    assert reports and reports[-1].fraction == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        spot(clip_tank, cancel=token)


def test_bad_ranges_are_one_line_errors(clip_tank):
    with pytest.raises(MediaError, match="outside"):
        spot(clip_tank, 100 * SAMPLE_RATE, 101 * SAMPLE_RATE)
    with pytest.raises(MediaError, match="region"):
        spot(clip_tank, roi=(5000, 0, 100, 100))


def test_repeated_frames_are_not_stops(media_root):
    # tree.avi brings 2 new pictures a second on a 15 fps grid; a hand waves in front of the
    # lens from 23 s. Motion "stopped" at every repeated frame (3.7 events per 10 s before the
    # held-frame gate); nothing there makes a sound.
    path, _c = _clip(media_root, "opencv_tree_hand")
    got = spot(path, seconds_to_samples(22), seconds_to_samples(29.5))
    assert got == []


def test_keystrokes_on_a_rendered_screen_are_spotted(media_root):
    path, c = _clip(media_root, "screen_typing_render")
    got = spot(path, *_range(c))
    times = np.array([m.time / SAMPLE_RATE for m in got])
    assert onset_f1([e["t"] for e in c["events"]], times, 0.04) >= 0.9
    assert {m.kind for m in got} == {"other"}
