"""The Blender VSE add-on, run for real in headless Blender: Generate places the take as a sound
strip at the frame its BWF TimeReference names; after an edit in the app, Re-import moves it and
adds the stems. A 29.97 drop-frame clip starting at 01:00:00;00, placed at scene frame 11."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import wavinfo
from media_factory import cfr_pts, write_video
from test_export_nle import first_sample, frame_holding, tc_frames

from foley_desktop.project.io import load

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "foley_desktop" / "plugins" / "blender" / "foley_desktop_vse"
BLENDER = shutil.which("blender")
FPS = Fraction(30000, 1001)
TC = "01:00:00;00"
STRIP_START = 11


@pytest.mark.skipif(BLENDER is None, reason="Blender is not installed "
                    "(scripts/install_system_packages.sh installs it)")
def test_blender_addon_places_takes_and_stems_at_their_bwf_frames(tmp_path):
    tb = Fraction(1, FPS.numerator)
    video = write_video(tmp_path / "shot.mov", cfr_pts(120, FPS, tb), tb, size=(128, 72),
                        timecode=TC, fps_hint=FPS,
                        audio={"rate": 48000, "seconds": 4.0, "clicks": [48000]})
    # Blender finds the add-on where a user installs it: <scripts>/addons/<name>.
    scripts = tmp_path / "scripts"
    (scripts / "addons").mkdir(parents=True)
    shutil.copytree(ADDON, scripts / "addons" / ADDON.name,
                    ignore=shutil.ignore_patterns("__pycache__"))
    cli = str(Path(sys.executable).parent / "foley-desktop")
    project = tmp_path / "work" / "shot.foley"
    out = tmp_path / "result.json"
    args = {"cli": cli, "fps": 30, "fps_base": 1.001, "video": str(video),
            "strip_start": STRIP_START, "range": [STRIP_START + 30, STRIP_START + 75],
            "project": str(project), "new_span": ["0.5", "2.25"], "out": str(out)}
    env = dict(os.environ, FOLEY_VSE_TEST=json.dumps(args), BLENDER_USER_SCRIPTS=str(scripts))
    run = subprocess.run([BLENDER, "-b", "--factory-startup", "--python-exit-code", "1",
                          "--python", str(REPO / "tests" / "blender_vse_script.py")],
                         check=False, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    tref0 = first_sample(tc_frames(TC, FPS), FPS)  # the clip's first sample since midnight
    assert res["movie"]["frame_start"] == STRIP_START

    def check_take(strips, seg_start):
        (take,) = [s for s in strips if s["kind"] == "take"]
        stamp = wavinfo.WavInfoReader(take.get("copy", take["path"])).bext.time_reference
        # The strip's frame is the one its file's TimeReference names…
        offset = stamp - tref0
        assert take["frame"] == STRIP_START + round(Fraction(offset) * FPS / 48000)
        # …which is the frame holding the segment's first sample, and the file starts on it.
        k = frame_holding(seg_start, FPS)
        assert take["frame"] == STRIP_START + k and offset == first_sample(k, FPS)
        assert take["channel"] > res["movie"]["channel"]
        return take

    g = res["generate"]
    assert g["result"] == ["FINISHED"], g["status"]
    assert "placed 1 strip" in g["status"]
    # The range was scene frames 41..86: clip frames 30..75.
    start, end = g["segment"]
    assert (start, end) == (first_sample(30, FPS), first_sample(75, FPS))
    first = check_take(g["strips"], start)

    r = res["reimport"]
    assert r["result"] == ["FINISHED"], r["status"]
    seg = load(project).segments[0]
    assert seg.start == 24000
    moved = check_take(r["strips"], seg.start)
    assert moved["frame"] != first["frame"]
    assert [s for s in r["strips"] if s["frame"] == first["frame"]] == []  # the old strip is gone
    # The stems: BG (the clip's own audio: not separated, said in the status) from the clip's
    # first frame; DX left out.
    kinds = sorted(s["kind"] for s in r["strips"])
    assert kinds == ["BG", "take"]
    (bg,) = [s for s in r["strips"] if s["kind"] == "BG"]
    assert bg["frame"] == STRIP_START
    assert wavinfo.WavInfoReader(bg["path"]).bext.time_reference == tref0
    assert "not separated" in r["status"] or "omitted" in r["status"]


@pytest.mark.skipif(BLENDER is None or shutil.which("xvfb-run") is None,
                    reason="needs Blender and xvfb-run (scripts/install_system_packages.sh)")
def test_blender_addon_in_the_window_progress_and_cancel(tmp_path):
    """Blender with its window (Xvfb): Generate from the Sequencer's context runs as a modal job
    whose progress the panel shows, places the take; a second Generate is cancelled mid-way
    and leaves no strip and no take file. Also leaves a screenshot of the panel."""
    tb = Fraction(1, 25)
    video = write_video(tmp_path / "shot.mov", cfr_pts(100, Fraction(25), tb), tb, size=(128, 72),
                        fps_hint=Fraction(25))
    scripts = tmp_path / "scripts"
    (scripts / "addons").mkdir(parents=True)
    shutil.copytree(ADDON, scripts / "addons" / ADDON.name,
                    ignore=shutil.ignore_patterns("__pycache__"))
    project = tmp_path / "work" / "shot.foley"
    out, shot = tmp_path / "result.json", tmp_path / "panel.png"
    args = {"cli": str(Path(sys.executable).parent / "foley-desktop"), "fps": 25, "fps_base": 1.0,
            "video": str(video), "strip_start": 1, "range": [26, 51], "project": str(project),
            "out": str(out), "screenshot": str(shot)}
    env = dict(os.environ, FOLEY_VSE_TEST=json.dumps(args), BLENDER_USER_SCRIPTS=str(scripts))
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", BLENDER,
                          "--factory-startup", "--python-exit-code", "1", "--python",
                          str(REPO / "tests" / "blender_vse_gui_script.py")],
                         check=False, env=env, capture_output=True, text=True, timeout=300)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["invoke"] == ["RUNNING_MODAL"]  # a background job, not a blocking call
    # The panel's progress went up while the steps ran, then the take was placed.
    prog = res["progress"]
    assert prog == sorted(prog) and len(set(prog)) >= 3, prog
    assert any(st.startswith("step 3/4: generating") for st in res["statuses"])
    (take,) = res["generate"]["strips"]
    stamp = wavinfo.WavInfoReader(take["path"]).bext.time_reference
    assert take["frame"] == 1 + stamp * 25 // 48000 == 26 and stamp % 1920 == 0
    # Cancel: stopped within seconds, nothing placed, no take written for the new segment.
    assert res["cancel_status_before"].startswith("step 2/3: generating")
    c = res["cancel"]
    assert c["status"] == "cancelled" and not c["running"] and c["seconds"] < 5
    assert c["strips"] == res["generate"]["strips"]
    segs = load(project).segments
    assert len(segs) == 2 and [len(sg.takes) for sg in segs] == [1, 0]
    assert shot.exists() and shot.stat().st_size > 10_000


@pytest.mark.skipif(BLENDER is None, reason="Blender is not installed "
                    "(scripts/install_system_packages.sh installs it)")
def test_blender_spotting_auto_spot_correct_and_generate_on_the_markers(tmp_path):
    """The shipped real walkers clip at scene frame 11: Auto-spot's timeline markers sit on the
    frames holding the times `foley-desktop spot` prints (run here on its own), replace the
    stale proposals of the range and keep the editor's; after the editor moves, deletes and
    adds markers, Generate puts exactly the range's markers into the project, each on its
    frame's first sample, and places the take."""
    from foley_desktop.media.timebase import frame_to_samples, samples_to_frame

    video = REPO / "resources" / "demo" / "walkers.mp4"
    scripts = tmp_path / "scripts"
    (scripts / "addons").mkdir(parents=True)
    shutil.copytree(ADDON, scripts / "addons" / ADDON.name,
                    ignore=shutil.ignore_patterns("__pycache__"))
    cli = str(Path(sys.executable).parent / "foley-desktop")
    start, rng = 11, [11, 41]     # clip frames 0..29: the first 3 s (10 fps)
    out = tmp_path / "result.json"
    args = {"cli": cli, "fps": 10, "video": str(video), "strip_start": start, "range": rng,
            "project": str(tmp_path / "work" / "walkers.foley"), "out": str(out)}
    env = dict(os.environ, FOLEY_VSE_TEST=json.dumps(args), BLENDER_USER_SCRIPTS=str(scripts))
    run = subprocess.run([BLENDER, "-b", "--factory-startup", "--python-exit-code", "1",
                          "--python", str(REPO / "tests" / "blender_vse_markers_script.py")],
                         check=False, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    spot = json.loads(subprocess.run([cli, "spot", str(video), "--start", "0", "--end", "3",
                                      "--json", "--quiet"], capture_output=True, text=True,
                                     check=True).stdout)
    assert len(spot) >= 3
    want = sorted([start + samples_to_frame(ev["time"], 10), "auto:" + ev["kind"]] for ev in spot)
    got = res["spot"]["markers"]
    assert res["spot"]["result"] == ["FINISHED"], res["spot"]["status"]
    assert [m for m in got if m[1].startswith("auto:") and m[0] < rng[1]] == want
    assert [40, "F_40"] in got and [rng[1] + 5, "auto:hit"] in got   # kept: the editor's; outside
    assert ([35, "auto:hit"] in got) == ([35, "auto:hit"] in want)   # the stale one replaced
    assert f"{len(spot)} marker(s)" in res["spot"]["status"]
    # After the edits, the project holds exactly the range's markers, on their frames.
    edited = [m for m in res["edited"] if rng[0] <= m[0] < rng[1]]
    assert [25, "F_25"] in edited and len(edited) == len(want) + 1   # -1 deleted, +1 added (F_40 was in)
    g = res["generate"]
    assert g["result"] == ["FINISHED"], g["status"]
    marks = g["segment"]["markers"]
    assert [m["time"] for m in marks] == [frame_to_samples(f - start, 10) for f, _ in edited]
    # Kinds: the auto markers' from their names, the editor's from the prompt (footsteps).
    assert [m["kind"] for m in marks] == [n[5:] if n.startswith("auto:") else "footstep"
                                          for _, n in edited]
    assert len(g["strips"]) == 1 and "placed 1 strip" in g["status"]
