"""Projects that never lose work, through the desktop window (pytest-qt, offscreen).

Crash recovery is tested by killing a real process: a subprocess opens a project in the real
window, edits it through `Document` (the path the widgets use), lets the autosave timer fire,
and is SIGKILLed; the next launch (this process) is offered the autosave and recovers it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytestmark = pytest.mark.gui


@pytest.fixture
def win(make_win, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_AUTOSAVE_S", "0.2")
    w = make_win(show=False)
    w.ask_recover = lambda auto: pytest.fail(f"unexpected recovery offer: {auto}")
    w.ask_relink = lambda missing: pytest.fail(f"unexpected relink: {missing}")
    return w


@pytest.fixture
def saved(tmp_path, clip_tank) -> Path:
    """A project folder with the clip copied beside its project file."""
    from foley_desktop.project import io

    folder = tmp_path / "proj"
    folder.mkdir()
    clip = folder / "tank.mp4"
    shutil.copy(clip_tank, clip)
    p = io.new_project(clip)
    return io.save(p, folder / "tank.foley")


def wait_job(qtbot, job, timeout=60000):
    qtbot.waitUntil(lambda: job.state in ("done", "failed", "cancelled"), timeout=timeout)


# ------------------------------------------------------------------ crash recovery

CHILD = textwrap.dedent("""
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings
    from foley_desktop.project import autosave

    app = create_app([])
    w = MainWindow(Settings(sys.argv[2]))
    assert w.open_path(sys.argv[1]), w.last_error
    seg = w.doc.add_segment(48000, 96000, "")
    w.doc.set_field(seg.id, "prompt", "tank tracks on gravel")
    auto = autosave.autosave_path(w.doc.project)

    def poll():
        if auto.exists():
            print("AUTOSAVED", seg.id, flush=True)
            poll_timer.stop()
    poll_timer = QTimer()
    poll_timer.timeout.connect(poll)
    poll_timer.start(20)
    app.exec()  # runs until it is killed
""")


def test_sigkill_mid_edit_then_next_launch_recovers(win, saved, tmp_path):
    before = saved.read_bytes()
    env = {**os.environ, "FOLEY_DESKTOP_AUTOSAVE_S": "0.3",
           "FOLEY_DESKTOP_CACHE": str(tmp_path / "cache")}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(saved), str(tmp_path / "c.ini")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    timer = threading.Timer(60, child.kill)
    timer.start()
    try:
        line = child.stdout.readline()
    finally:
        timer.cancel()
    assert line.startswith("AUTOSAVED"), child.stderr.read() if child.poll() is not None else line
    seg_id = line.split()[1]
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    assert saved.read_bytes() == before  # the project file itself was never touched

    # Next launch: the autosave is offered; accepting it brings the edit back, unsaved.
    offered = []
    win.ask_recover = lambda auto: offered.append(auto) or True
    assert win.open_path(saved), win.last_error
    assert len(offered) == 1 and offered[0].name == ".tank.foley.autosave"
    (seg,) = win.doc.project.segments
    assert (seg.id, seg.prompt, seg.start, seg.end) == (seg_id, "tank tracks on gravel", 48000, 96000)
    assert not win.doc.undo_stack.isClean() and "*" in win.windowTitle()
    assert win.save()
    assert json.loads(saved.read_text())["segments"][0]["prompt"] == "tank tracks on gravel"
    assert not offered[0].exists()  # saved: the autosave is gone, nothing is offered again
    win.ask_recover = lambda auto: pytest.fail("offered twice")
    assert win.open_path(saved)


def test_declining_recovery_opens_the_file_and_keeps_the_autosave(win, saved):
    from foley_desktop.project import autosave, io

    p = io.load(saved)
    p.segments.append(__import__("foley_desktop.project.model", fromlist=["Segment"]).Segment(
        "seg-x", 0, 48000, "wind"))
    auto = autosave.write_autosave(p)
    win.ask_recover = lambda a: False
    assert win.open_path(saved)
    assert win.doc.project.segments == [] and win.doc.undo_stack.isClean()
    assert auto.exists()  # declined, not destroyed: it can still be recovered next time


def test_autosave_timer_writes_while_modified_and_save_clears_it(qtbot, win, saved):
    from foley_desktop.project import autosave

    assert win.open_path(saved)
    auto = autosave.autosave_path(saved)
    qtbot.wait(500)
    assert not auto.exists()  # clean: nothing to autosave
    win.doc.add_segment(0, 48000, "door slam")
    qtbot.waitUntil(auto.exists, timeout=5000)
    assert json.loads(auto.read_text())["segments"][0]["prompt"] == "door slam"
    assert win.save()
    assert not auto.exists()


# ------------------------------------------------------------------ relink, speech, export

def test_relink_moved_clip(win, saved, tmp_path):
    moved = tmp_path / "elsewhere" / "tank renamed.mp4"
    moved.parent.mkdir()
    shutil.move(saved.parent / "tank.mp4", moved)
    asked = []
    win.ask_relink = lambda missing: asked.append(missing) or None
    assert win.open_path(saved) is False  # the user cancelled the dialog
    assert "clip is missing" in win.last_error and asked[0].name == "tank.mp4"
    win.ask_relink = lambda missing: str(moved)
    assert win.open_path(saved)
    assert win.doc.project.media == moved and not win.doc.undo_stack.isClean()
    assert win.doc.undo_stack.undoText() == "Relink clip"
    assert win.save()
    assert json.loads(saved.read_text())["media"] == "../elsewhere/tank renamed.mp4"
    win.ask_relink = lambda missing: pytest.fail("asked again")
    assert win.open_path(saved)


def test_speech_regions_are_saved_and_come_back(win, saved):
    assert win.open_path(saved)
    regions = [(4800, 40000), (60000, 120000)]
    win.doc.set_stems({}, regions)
    assert win.canvas.speech == regions
    win.doc.undo_stack.undo()
    assert win.canvas.speech == [] and win.doc.project.speech == []
    win.doc.undo_stack.redo()
    assert win.save()
    assert json.loads(saved.read_text())["speech"] == [list(r) for r in regions]
    assert win.open_path(saved)
    assert win.doc.project.speech == regions and win.canvas.speech == regions


def test_export_action_writes_stems_and_timelines(qtbot, win, saved, tmp_path):
    from foley_desktop.ui.export_dialog import ExportChoice, ExportDialog

    assert win.open_path(saved)
    assert win.export_action.isEnabled()
    dlg = ExportDialog(str(tmp_path), win.settings.get("export_format"), win)
    assert dlg.choice().format == "wav24"  # the default
    dlg.close()
    seg = win.doc.add_segment(48000, 96000, "engine motor idle", model="test-analytic")
    wait_job(qtbot, win.generate([seg.id])[0])
    out = tmp_path / "export"
    job = win.export(ExportChoice(str(out), "wav24", ["foley", "mix"], ["otio", "edl"]))
    wait_job(qtbot, job)
    assert job.state == "done", job.error
    names = sorted(f.name for f in out.iterdir())
    assert any(n.endswith(".otio") for n in names) and any(n.endswith(".edl") for n in names)
    fx = next(out / n for n in names if "_FX_" in n)
    info = soundfile.info(fx)
    assert info.samplerate == 48000 and info.subtype == "PCM_24"
    audio, _ = soundfile.read(fx)
    assert np.abs(audio[48000:96000]).max() > 1e-3 and np.abs(audio[:40000]).max() == 0


# ------------------------------------------------------------------ generation queue

def test_queued_generations_with_cancels_save_every_take(qtbot, win, saved):
    """A small version of scripts/bench_queue.py: 12 jobs, every third cancelled."""
    from foley_desktop.project import io

    assert win.open_path(saved)
    threads_before = threading.active_count()
    ids = [win.doc.add_segment(i * 9600, i * 9600 + 9600, f"tap {i}", model="test-analytic").id
           for i in range(12)]
    win.save()
    jobs = win.generate(ids)
    for j in jobs[::3]:
        win.jobs.cancel(j.id)
    for j in jobs:
        wait_job(qtbot, j)
    states = [j.state for j in jobs]
    assert states.count("done") >= 8 and "failed" not in states, states
    win.doc.flush_saves()  # the last take's save may still be running in the background
    on_disk = {s.id: s for s in io.load(saved).segments}
    for j, seg_id in zip(jobs, ids):
        seg = win.doc.segment(seg_id)
        if j.state == "done":
            assert len(seg.takes) == 1 and seg.takes[0].path.exists()
            assert [t.id for t in on_disk[seg_id].takes] == [seg.takes[0].id]  # saved at once
        elif j.state == "cancelled" and not seg.takes:
            assert on_disk[seg_id].takes == []
    assert win.doc.undo_stack.isClean()
    assert threading.active_count() <= threads_before + 1
    assert len(win._engines) == 1  # one engine loaded, reused by every job


# ------------------------------------------------------------------ long clips: lane audio on disk

def test_lane_audio_is_memory_mapped_and_cached_on_disk(qtbot, win, clip_hello, tmp_path,
                                                        monkeypatch):
    from foley_desktop import media
    from foley_desktop.app.audio_cache import load_lane_audio
    from foley_desktop.media import read_audio

    assert win.open_path(clip_hello)
    qtbot.waitUntil(lambda: "original" in win.playback.mixer.beds, timeout=15000)
    bed = win.playback.mixer.beds["original"]
    assert isinstance(bed.base, np.memmap)  # playback reads the disk copy, not RAM
    ref = read_audio(clip_hello)
    assert bed.shape == ref.shape and np.array_equal(bed[:, 1000:5000], ref[:, 1000:5000])
    cache = win.settings.cache_dir / "audio"
    assert len(list(cache.glob("*.overview.npy"))) == 1

    # A second open decodes nothing: the overview and the samples come from the cache.
    def no_decode(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(media, "iter_audio", no_decode)
    ov, bed2 = load_lane_audio(clip_hello, win.settings.cache_dir)
    assert np.array_equal(ov.maxs, win.canvas.overviews["original"].maxs)
    assert bed2.shape == ref.shape


# ------------------------------------------------------------------ never-saved projects

CHILD_UNTITLED = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings
    from foley_desktop.project import autosave

    app = create_app([])
    w = MainWindow(Settings(sys.argv[2]))
    assert w.open_path(sys.argv[1]), w.last_error          # a clip: the project is untitled
    seg = w.doc.add_segment(48000, 72000, "tank tracks", model="test-analytic")
    w.doc.add_segment(96000, 120000, "metal clank")
    w.generate([seg.id])

    def poll():
        auto = autosave.autosave_path(w.doc.project, w._untitled_folder())
        if w.doc.project.segment(seg.id).takes and auto.exists() \\
                and "takes/" in auto.read_text():
            print("AUTOSAVED", seg.id, auto, flush=True)
            poll_timer.stop()
    poll_timer = QTimer()
    poll_timer.timeout.connect(poll)
    poll_timer.start(50)
    app.exec()  # runs until it is killed
""")


def _run_untitled_child(clip, tmp_path):
    env = {**os.environ, "FOLEY_DESKTOP_AUTOSAVE_S": "0.3"}
    child = subprocess.Popen([sys.executable, "-c", CHILD_UNTITLED, str(clip), str(tmp_path / "c.ini")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    timer = threading.Timer(90, child.kill)
    timer.start()
    try:
        line = child.stdout.readline()
    finally:
        timer.cancel()
    assert line.startswith("AUTOSAVED"), child.stderr.read() if child.poll() is not None else line
    _, seg_id, auto = line.split(maxsplit=2)
    return child, seg_id, Path(auto.strip())


def test_never_saved_project_is_recovered_after_sigkill(win, clip_tank, tmp_path, monkeypatch):
    from foley_desktop.project import autosave, io

    child, seg_id, auto = _run_untitled_child(clip_tank, tmp_path)
    try:
        # While its window lives, the autosave is that window's: never offered.
        win.ask_recover_untitled = lambda a: pytest.fail(f"offered a live window's autosave {a}")
        assert not win.offer_untitled_recovery()
    finally:
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL

    offered = []
    win.ask_recover_untitled = lambda a: offered.append(a) or "recover"
    assert win.offer_untitled_recovery()
    assert offered == [auto]
    proj = win.doc.project
    assert proj.path is None and not win.doc.undo_stack.isClean()
    segs = {s.id: s for s in proj.segments}
    assert len(segs) == 2 and segs[seg_id].prompt == "tank tracks"
    (take,) = segs[seg_id].takes
    assert take.path.exists() and soundfile.info(str(take.path)).frames == 24000

    # A second window (same user, this process still alive) is not offered it again.
    win.ask_recover_untitled = lambda a: pytest.fail("offered twice")
    assert not win.offer_untitled_recovery()

    # Save As gives it a file: the take moves beside it and the untitled autosave is gone.
    target = tmp_path / "proj" / "tank.foley"
    target.parent.mkdir()
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), ""))
    assert win.save_as()
    win.doc.flush_saves()
    assert not auto.exists() and not Path(str(auto) + ".pid").exists()
    saved = io.load(target)
    assert {s.id for s in saved.segments} == set(segs)
    assert all(t.path.exists() for s in saved.segments for t in s.takes)
    assert autosave.find_untitled_recoveries([win.settings.cache_dir / "unsaved"]) == []


def test_untitled_recovery_later_keeps_and_discard_deletes(win, clip_tank):
    from foley_desktop.project import autosave, io

    folder = win.settings.cache_dir / "unsaved" / "tank"
    p = io.new_project(clip_tank)
    p.segments.append(__import__("foley_desktop.project.model", fromlist=["Segment"]).Segment(
        "seg-y", 0, 48000, "engine idle"))
    auto = autosave.write_autosave(p, folder)
    Path(str(auto) + ".pid").write_text("999999999")  # its process is gone (no such PID)

    asked = []
    win.ask_recover_untitled = lambda a: asked.append(a) or "later"
    assert not win.offer_untitled_recovery()
    assert asked == [auto] and auto.exists() and win.doc.project is None  # "later" keeps it
    win.ask_recover_untitled = lambda a: asked.append(a) or "discard"
    assert not win.offer_untitled_recovery()
    assert len(asked) == 2 and not auto.exists() and not Path(str(auto) + ".pid").exists()
    win.ask_recover_untitled = lambda a: pytest.fail("nothing left to offer")
    assert not win.offer_untitled_recovery()
