"""Library mode on a segment without markers: single sounds (steps, hits) are laid on markers,
so such a generation is refused at once, by one rule (library.render.needs_markers), by the
window (no job queued; the status bar and the Inspector say to press M or Auto-spot), by
`generate --project` (exit 2, one line, before any take of any segment) and by
`generate --mode library --markers none` (exit 2, one line). A continuous sound (a bed) needs
no markers and is still made. Real recordings (minetest-data, CC BY-SA) in a real index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from foley_desktop.library.render import NO_MARKERS, needs_markers
from foley_desktop.spotting.markers import Marker

SR = 48000


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *map(str, args)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


@pytest.fixture(scope="module")
def sfx(media_root, tmp_path_factory) -> Path:
    """Four gravel footsteps (single hits) and four running-water loops (sustained)."""
    mods = media_root / "usr/share/games/minetest/games/minetest_game/mods"
    files = sorted((mods / "default/sounds").glob("default_gravel_footstep.*.ogg")) + \
        sorted((mods / "env_sounds/sounds").glob("env_sounds_water.*.ogg"))
    if len(files) < 8:
        pytest.skip("minetest-data sounds missing (scripts/fetch_test_media.sh)")
    folder = tmp_path_factory.mktemp("lib") / "SFX"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def library_db(sfx) -> Path:
    db = sfx.parent / "lib.sqlite"
    r = cli("library", "add", sfx, "--db", db)
    assert r.returncode == 0, r.stderr
    return db


class Hit:
    def __init__(self, continuous: bool) -> None:
        self.continuous, self.score = continuous, 1.0


def test_the_rule():
    single, bed = [Hit(False)] * 3, [Hit(True)] * 3
    inside = [Marker(SR + 100, "footstep")]
    assert needs_markers(single, [], SR, 2 * SR)
    assert not needs_markers(single, inside, SR, 2 * SR)
    # A marker outside the segment is not one of its markers.
    assert needs_markers(single, [Marker(3 * SR, "footstep")], SR, 2 * SR)
    assert needs_markers(single, [Marker(2 * SR, "footstep")], SR, 2 * SR)   # end excluded
    assert not needs_markers(bed, [], SR, 2 * SR)
    assert needs_markers(bed, [], SR, 2 * SR, continuous=False)
    assert not needs_markers([], [], SR, 2 * SR)   # nothing matched: said on its own


def _project(tmp_path, clip, *segments) -> tuple[Path, list[str]]:
    proj = tmp_path / "p.foley"
    r = cli("project", "new", clip, "-o", proj)
    assert r.returncode == 0, r.stderr
    ids = []
    for start, end, prompt, mode in segments:
        r = cli("project", "add-segment", proj, "--start", start, "--end", end, "--prompt",
                prompt, "--mode", mode, "--seed", "1")
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.strip().split()[-1])
    return proj, ids


def test_generate_project_refuses_before_any_take(tmp_path, clip_tank, library_db):
    """A model segment first, then a library segment of footsteps without markers: before,
    the model's take was made and saved, then the run failed on the second segment with the
    app's and the command line's advice mixed. Now nothing is made, and the one line names the
    segment and the command that gives it markers; that command then makes it work."""
    proj, (_model_seg, lib_seg) = _project(tmp_path, clip_tank,
                                          ("0", "2", "engine motor idle", "model"),
                                          ("2", "4", "footsteps on gravel", "library"))
    r = cli("generate", "--project", proj, "--all", "--library-db", library_db)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert NO_MARKERS in lines[0] and "2.000 s" in lines[0] and "footsteps on gravel" in lines[0]
    assert f"project edit-segment p.foley {lib_seg} --markers" in lines[0]
    shown = cli("project", "show", proj).stdout
    assert "take-" not in shown
    assert not list(tmp_path.rglob("*.wav"))

    assert cli("project", "edit-segment", proj, lib_seg, "--markers", "2.5,3.0,3.5").returncode == 0
    r = cli("generate", "--project", proj, "--segment", lib_seg, "--library-db", library_db)
    assert r.returncode == 0, r.stderr
    assert "library (3 placements)" in cli("project", "show", proj).stdout


def test_a_bed_needs_no_markers(tmp_path, clip_tank, library_db):
    proj, _ = _project(tmp_path, clip_tank, ("0", "2", "water flowing stream", "library"))
    r = cli("generate", "--project", proj, "--all", "--library-db", library_db)
    assert r.returncode == 0, r.stderr
    assert len(list(tmp_path.rglob("*.wav"))) == 1
    r = cli("generate", clip_tank, "--prompt", "water flowing stream", "--end", "2", "--mode",
            "library", "--markers", "none", "--library-db", library_db, "-o", tmp_path / "w.wav")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w.wav").is_file()


@pytest.mark.parametrize("where", ["clip", "text only"])
def test_generate_library_with_markers_none_says_which_flag(tmp_path, clip_tank, library_db,
                                                            where):
    args = ([clip_tank, "--end", "2"] if where == "clip" else ["--duration", "2"])
    r = cli("generate", *args, "--prompt", "footsteps on gravel", "--mode", "library",
            "--markers", "none", "--library-db", library_db, "-o", tmp_path / "x.wav")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and NO_MARKERS in lines[0], r.stderr
    assert "--markers T1,T2" in lines[0] and "in the app" not in lines[0]
    assert ("--markers auto" in lines[0]) == (where == "clip")
    assert not list(tmp_path.glob("*.wav"))


# ---- the window --------------------------------------------------------------------------

@pytest.fixture
def lib_env(tmp_path, model_dir, library_db, monkeypatch) -> Path:
    """The user's data folder with the test models and the index above as their library."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_dir / "models")
    shutil.copy(library_db, data / "library.sqlite")
    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(data))
    return data


@pytest.mark.gui
def test_the_window_refuses_at_once_and_says_what_to_do(qtbot, win, clip_tank, lib_env):
    from gui_helpers import open_clip, settle

    from foley_desktop.ui.shortcuts import SHORTCUTS

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 3 * SR, "footsteps on gravel")
    win.doc.set_field(seg.id, "mode", "library")
    other = win.doc.add_segment(0, int(0.4 * SR), "engine motor idle")   # planned first
    win.canvas.set_selected([other.id])
    ins = win.inspector
    assert not ins.markers_note.isVisible()

    # Generate all: the model segment is not queued either (nothing is, as on the CLI).
    win.generate_all()
    assert not win.jobs.jobs
    assert seg.id in win.canvas.selected
    assert win.side_tabs.currentWidget() is ins
    msg = win.statusBar().currentMessage()
    # Short enough to read whole in the status bar: the rule and what to do (the segment is
    # the selected one, so it is not named).
    assert msg.startswith(NO_MARKERS[0].upper() + NO_MARKERS[1:]) and len(msg) < 150, msg
    assert f"press {SHORTCUTS['marker'][0][0]} at each event" in msg
    assert f"Auto-spot ({SHORTCUTS['auto_spot'][0][0]})" in msg
    assert ins.markers_note.isVisible() and "Auto-spot (Ctrl+M)" in ins.markers_note.text()
    assert "without markers" in ins.gen_btn.toolTip()

    # The Generate button, as clicked: still no job.
    ins.gen_btn.click()
    assert not win.jobs.jobs and NO_MARKERS[1:] in win.statusBar().currentMessage()

    # Markers in: the note goes, and the same click makes a library take on them.
    win.doc.set_field(seg.id, "markers", [Marker(SR + k * 19200, "footstep") for k in range(3)])
    assert not ins.markers_note.isVisible()
    assert "without markers" not in ins.gen_btn.toolTip()
    jobs = win.generate([seg.id])
    assert len(jobs) == 1
    qtbot.waitUntil(lambda: jobs[0].state in ("done", "failed"), timeout=60000)
    assert jobs[0].state == "done", jobs[0].error
    qtbot.waitUntil(lambda: len(seg.takes) == 1, timeout=10000)
    assert seg.takes[0].mode == "library" and len(seg.takes[0].sources) == 3
    settle(qtbot)


@pytest.mark.gui
def test_the_window_still_makes_a_bed_without_markers(qtbot, win, clip_tank, lib_env):
    from gui_helpers import open_clip, settle

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 2 * SR, "water flowing stream")
    win.doc.set_field(seg.id, "mode", "library")
    jobs = win.generate([seg.id])
    assert len(jobs) == 1
    qtbot.waitUntil(lambda: jobs[0].state in ("done", "failed"), timeout=60000)
    assert jobs[0].state == "done", jobs[0].error
    qtbot.waitUntil(lambda: len(seg.takes) == 1, timeout=10000)
    assert seg.takes[0].params.get("mode") == "library"
    settle(qtbot)


@pytest.mark.gui
def test_a_pinned_recording_is_judged_by_the_index(qtbot, win, clip_tank, lib_env, sfx, tmp_path):
    """Pinned sounds the index knows are judged at once; a pinned file it does not know would
    have to be decoded to tell, so its job decides, with the same rule and words."""
    from gui_helpers import open_clip, settle

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 3 * SR, "footsteps on gravel")
    win.pin_sound(seg.id, str(sfx / "default_gravel_footstep.1.ogg"))
    assert seg.mode == "library"
    assert win.generate([seg.id]) == [] and not win.jobs.jobs
    assert NO_MARKERS[1:] in win.statusBar().currentMessage()

    stray = tmp_path / "my_step.ogg"
    shutil.copy(sfx / "default_gravel_footstep.2.ogg", stray)
    win.pin_sound(seg.id, str(stray))
    jobs = win.generate([seg.id])
    assert len(jobs) == 1
    qtbot.waitUntil(lambda: jobs[0].state in ("done", "failed"), timeout=60000)
    assert jobs[0].state == "failed" and NO_MARKERS in jobs[0].error
    settle(qtbot)
