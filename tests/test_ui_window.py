"""The desktop window driven through its real widgets (pytest-qt, offscreen).

Real clips (tests/conftest.py), real ONNX test packages (engine.testpkg), real WAV files read
back with soundfile. Every test fails if it leaves a worker thread or a timer running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from gui_helpers import drag, foley_y, open_clip
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parent.parent


def test_open_clip_shows_picture_waveform_and_timecode(qtbot, win, clip_hello):
    open_clip(qtbot, win, clip_hello)
    img = win.preview.view.grab().toImage()
    # The first frame of clip_hello is a bright slide: the preview must not be black.
    lum = [QColor(img.pixel(x, y)).lightness() for x in range(0, img.width(), 17)
           for y in range(0, img.height(), 17)]
    assert max(lum) > 200 and np.std(lum) > 20
    assert win.preview.timecode.text() == "00:00:00:00"
    # The waveform lane has drawn pixels in its colour.
    c = win.canvas
    grab = c.grab().toImage()
    r = c.lane_rect("original")
    y = int(r.center().y())
    greens = sum(1 for x in range(0, c.width(), 3)
                 if QColor(grab.pixel(x, y)).green() > 150)
    assert greens > 20
    qtbot.waitUntil(lambda: len(c.thumbs) >= 3, timeout=15000)


def test_drag_create_prompt_generate_undo_redo(qtbot, win, clip_hello):
    from foley_desktop.media.timebase import frame_to_samples, samples_to_frame

    open_clip(qtbot, win, clip_hello)
    c = win.canvas
    x0, x1 = int(c.scale.x_of(48000)), int(c.scale.x_of(3 * 48000))
    drag(qtbot, c, x0, x1, foley_y(win))
    segs = win.doc.project.segments
    assert len(segs) == 1
    seg = segs[0]
    fps = win.doc.fps
    for t in (seg.start, seg.end):  # snapped to frame boundaries
        assert frame_to_samples(samples_to_frame(t, fps), fps) == t
    assert abs(seg.start - 48000) < 2 * 48000 / float(fps) + c.scale.samples_per_px * 8
    assert c.selected == [seg.id]
    # The segment is painted in the selection colour.
    img = c.grab().toImage()
    r = c.segment_rect(c.segments[0])
    px = QColor(img.pixel(int(r.center().x()), int(r.bottom() - 4)))
    assert px.red() > 200 and px.green() > 140 and px.blue() < 120

    ins = win.inspector
    ins.prompt.setFocus()
    qtbot.keyClicks(ins.prompt, "typing keyboard")
    qtbot.keyClick(ins.prompt, Qt.Key.Key_Return)
    assert seg.prompt == "typing keyboard"
    ins.model.setCurrentIndex(ins.model.findData("test-analytic"))
    ins.model.activated.emit(ins.model.currentIndex())
    assert seg.model == "test-analytic"
    ins.variations.setValue(2)
    ins.variations.editingFinished.emit()
    assert seg.variations == 2

    qtbot.mouseClick(ins.gen_btn, Qt.MouseButton.LeftButton)
    assert win.side_tabs.currentWidget() is win.jobs_panel
    job = win.jobs.jobs[max(win.jobs.jobs)]
    qtbot.waitUntil(lambda: job.state in ("done", "failed"), timeout=60000)
    assert job.state == "done", job.error
    assert len(seg.takes) == 2 and seg.active_take == seg.takes[0].id
    # The first take of the selected segment brings the inspector (its take list) back.
    assert win.side_tabs.currentWidget() is win.inspector
    for take in seg.takes:
        audio, sr = soundfile.read(take.path)  # an independent reader
        assert sr == 48000 and len(audio) == seg.end - seg.start
        assert np.abs(audio).max() > 1e-3
    assert "done" in win.jobs_panel.state_of(job.id)
    assert "cpu" in ins.provider.text().lower()
    # Dragging takes out of the list hands other apps their WAVs as file URLs.
    items = [ins.takes.item(i) for i in range(ins.takes.count())]
    mime = ins.takes.mimeData(items)
    assert mime.hasFormat("text/uri-list")
    assert [u.toLocalFile() for u in mime.urls()] == [str(t.path.resolve()) for t in seg.takes]
    # The active take's waveform appears inside the segment once loaded.
    qtbot.waitUntil(lambda: c.segments[0].active_overview is not None, timeout=10000)
    # A/B switches the active take, undoably.
    win.ab_toggle()
    assert seg.active_take == seg.takes[1].id

    stack = win.doc.undo_stack
    stack.undo()  # A/B
    assert seg.active_take == seg.takes[0].id
    stack.undo()  # takes
    assert seg.takes == []
    stack.undo()  # variations
    stack.undo()  # model
    stack.undo()  # prompt
    assert seg.prompt == ""
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the add
    assert win.doc.project.segments == []
    for _ in range(6):
        qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier |
                       Qt.KeyboardModifier.ShiftModifier)
    assert len(win.doc.project.segments) == 1
    seg = win.doc.project.segments[0]
    assert seg.prompt == "typing keyboard" and len(seg.takes) == 2
    assert seg.active_take == seg.takes[1].id


def test_move_trim_and_snap_to_edges(qtbot, win, clip_hello):
    open_clip(qtbot, win, clip_hello)
    c, doc = win.canvas, win.doc
    fps = doc.fps
    from foley_desktop.media.timebase import frame_to_samples

    a = doc.add_segment(frame_to_samples(10, fps), frame_to_samples(40, fps), "a")
    b = doc.add_segment(frame_to_samples(100, fps), frame_to_samples(130, fps), "b")
    y = foley_y(win)
    # Drag b's body so its start lands 3 px right of a's end: it snaps onto a's end.
    grab_x = int(c.scale.x_of(b.start + 20000))
    target = int(c.scale.x_of(a.end)) + 3 + (grab_x - int(c.scale.x_of(b.start)))
    drag(qtbot, c, grab_x, target, y)
    assert b.start == a.end and b.end - b.start == frame_to_samples(30, fps)
    # Trim b's right edge out to somewhere in the middle: lands on a frame boundary.
    xr = int(c.scale.x_of(b.end)) - 1
    drag(qtbot, c, xr, xr + 120, y)
    from foley_desktop.media.timebase import samples_to_frame

    assert b.end > frame_to_samples(70, fps)
    assert frame_to_samples(samples_to_frame(b.end, fps), fps) == b.end
    # Undo restores the exact previous times.
    doc.undo_stack.undo()
    assert b.end == a.end + frame_to_samples(30, fps)
    doc.undo_stack.undo()
    assert b.start == frame_to_samples(100, fps)


def test_cancel_running_job_then_retry_button(qtbot, win, clip_hello):
    open_clip(qtbot, win, clip_hello)
    seg = win.doc.add_segment(0, 48000 * 2, "engine motor idle", model="test-slow")
    win.canvas.set_selected([seg.id])
    (job,) = win.generate([seg.id])
    qtbot.waitUntil(lambda: job.state == "running" and job.progress is not None
                    and job.progress.stage != "starting", timeout=60000)
    panel = win.jobs_panel
    row = panel.rows[job.id]
    from PySide6.QtWidgets import QPushButton

    # One line per row, the whole title in the tooltip (wrapped titles were cut).
    assert not panel.table.wordWrap()
    assert panel.table.item(row, 0).toolTip() == job.title

    buttons = panel.table.cellWidget(row, 4)
    cancel = buttons.findChild(QPushButton, f"cancel-{job.id}")
    retry = buttons.findChild(QPushButton, f"retry-{job.id}")
    assert cancel.isVisible() and not retry.isVisible()
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=20000)
    assert retry.isVisible() and not cancel.isVisible()
    assert seg.takes == []
    out = win._out_dir()
    assert not out.exists() or not any(out.iterdir())


def test_keyboard_transport_marks_delete(qtbot, win, clip_hello):
    from foley_desktop.media.timebase import frame_to_samples

    open_clip(qtbot, win, clip_hello)
    fps = win.doc.fps
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_Right)
    qtbot.keyClick(win, Qt.Key.Key_Right)
    assert win.transport.position == frame_to_samples(2, fps)
    qtbot.waitUntil(lambda: win.preview.shown == 2, timeout=10000)
    assert win.preview.timecode.text() == "00:00:00:02"
    qtbot.keyClick(win, Qt.Key.Key_I)
    for _ in range(10):
        qtbot.keyClick(win, Qt.Key.Key_Right)
    qtbot.keyClick(win, Qt.Key.Key_O)
    (seg,) = win.doc.project.segments
    assert (seg.start, seg.end) == (frame_to_samples(2, fps), frame_to_samples(12, fps))
    win.canvas.set_selected([seg.id])
    qtbot.keyClick(win, Qt.Key.Key_Delete)
    assert win.doc.project.segments == []
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(win.doc.project.segments) == 1
    # Space plays (picture only here: no sound card) and the playhead moves; Space stops.
    qtbot.keyClick(win, Qt.Key.Key_Space)
    assert win.transport.playing
    start = win.transport.position
    qtbot.waitUntil(lambda: win.transport.position > start + 48000 // 4, timeout=5000)
    qtbot.waitUntil(lambda: win.preview.shown > 14, timeout=5000)
    qtbot.keyClick(win, Qt.Key.Key_Space)
    assert not win.transport.playing
    # L twice shuttles at 2x; K stops.
    qtbot.keyClick(win, Qt.Key.Key_L)
    qtbot.keyClick(win, Qt.Key.Key_L)
    assert win.transport.rate == 2
    qtbot.keyClick(win, Qt.Key.Key_K)
    assert not win.transport.playing
    assert not win.playback.available
    assert "unavailable" in win.playback_label.text().lower()


def test_zoom_to_single_frames_and_ruler(qtbot, win, clip_hello):
    from foley_desktop.ui.timeline.geometry import MAX_FRAME_PX

    open_clip(qtbot, win, clip_hello)
    c = win.canvas
    for _ in range(30):
        win.timeline.zoom_in()
    px_per_frame = c.scale.frame_samples / c.scale.samples_per_px
    assert px_per_frame == pytest.approx(MAX_FRAME_PX, rel=1e-6)
    assert c.scale.ruler_step()[1] == 1  # a tick on every frame
    win.timeline.zoom_fit()
    assert c.scale.x_of(c.scale.duration) <= c.width()


def test_recent_files_and_drop(qtbot, win, clip_hello, clip_tank):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    open_clip(qtbot, win, clip_hello)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip_tank))])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                    Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(ev)
    assert win.doc.project.media == Path(clip_tank).resolve() or \
        win.doc.project.media.name == Path(clip_tank).name
    qtbot.waitUntil(lambda: win.preview.view.image is not None, timeout=15000)
    recent = win.settings.recent_files()
    assert recent[0].endswith("movie.mp4") and recent[1].endswith("movie-hello.mp4")


def test_mixer_gain_mute_solo():
    from foley_desktop.ui.playback import Mixer

    m = Mixer()
    m.beds["original"] = np.full((2, 100), 0.25, np.float32)
    m.clips = [(50, np.full(100, 0.5, np.float32))]
    out = m.render(0, 100)
    assert np.allclose(out[:, :50], 0.25) and np.allclose(out[:, 50:], 0.75)
    m.lanes["foley"].solo = True
    assert np.allclose(m.render(0, 100)[:, :50], 0) and np.allclose(m.render(0, 100)[:, 50:], 0.5)
    m.lanes["foley"].solo = False
    m.lanes["original"].mute = True
    m.lanes["foley"].gain_db = -6.0206
    assert np.allclose(m.render(40, 20)[:, 10:], 0.25, atol=1e-4)


@pytest.mark.slow
def test_real_window_screenshot_under_xvfb(tmp_path, clip_hello, model_dir):
    out = tmp_path / "shot.png"
    env = {**os.environ, "FOLEY_DESKTOP_DATA": str(model_dir),
           "FOLEY_DESKTOP_SETTINGS": str(tmp_path / "s.ini"),
           "FOLEY_DESKTOP_CACHE": str(tmp_path / "cache")}
    env.pop("QT_QPA_PLATFORM", None)
    subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable,
                    str(REPO / "scripts/ui_screenshot.py"), str(clip_hello), str(out)],
                   check=True, env=env, timeout=120)
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert img.width() >= 1200 and img.height() >= 700
    lum = np.array([QColor(img.pixel(x, y)).lightness() for x in range(0, img.width(), 11)
                    for y in range(0, img.height(), 11)])
    assert lum.std() > 25  # not blank
    assert (lum > 200).mean() > 0.02 and (lum < 60).mean() > 0.3  # picture + dark UI


def test_separate_fills_stem_lanes_and_speech_markers(qtbot, win, clip_hello):
    open_clip(qtbot, win, clip_hello)
    win.separate()
    job = win.jobs.jobs[max(win.jobs.jobs)]
    qtbot.waitUntil(lambda: job.state in ("done", "failed"), timeout=90000)
    assert job.state == "done", job.error
    stems = win.doc.project.stems
    assert set(stems) == {"dialogue", "background"}
    qtbot.waitUntil(lambda: {"dialogue", "background"} <= set(win.canvas.overviews),
                    timeout=15000)
    dialogue, sr = soundfile.read(stems["dialogue"])
    assert sr == 48000 and len(dialogue) > 7 * 48000
    # The clip opens with a spoken "hello": at least one speech region, drawn on the lane.
    assert win.canvas.speech
    win.doc.undo_stack.undo()
    assert win.doc.project.stems == {}
    assert "dialogue" not in win.canvas.overviews  # the lane empties with the undo
    win.doc.undo_stack.redo()
    qtbot.waitUntil(lambda: "dialogue" in win.canvas.overviews, timeout=15000)


def test_picture_guidance_in_the_inspector_is_undoable(qtbot, win, clip_tank):
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(48000, 96000, "engine motor idle")
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    # Unset fields say what the default model will use (read from its manifest).
    from foley_desktop.engine.generate import DEFAULT_MODEL
    from foley_desktop.engine.package import load_package

    sd = load_package(DEFAULT_MODEL).sampler
    assert ins.visual_guidance.text() == f"model default ({sd['visual_guidance']:g})"
    assert ins.steps.text() == f"model default ({sd['steps']})"
    assert ins.guidance.text() == f"model default ({sd['guidance']:g})"
    # With markers the model uses another picture guidance (the take records that one): the
    # field said the plain default.
    from foley_desktop.spotting.markers import Marker

    win.doc.set_field(seg.id, "markers", [Marker(60000, "hit")])
    assert ins.visual_guidance.text() == \
        f"model default ({sd['visual_guidance_with_markers']:g} with markers)"
    win.doc.undo_stack.undo()
    assert ins.visual_guidance.text() == f"model default ({sd['visual_guidance']:g})"
    assert ins.visual_guidance.isEnabled()
    ins.visual_guidance.setValue(6.5)
    ins.visual_guidance.editingFinished.emit()
    assert seg.visual_guidance == 6.5
    win.doc.undo_stack.undo()
    assert seg.visual_guidance is None
    qtbot.waitUntil(lambda: ins.visual_guidance.value() == 0.0, timeout=3000)


def test_prompt_completes_from_the_models_training_prompts(qtbot, win, clip_tank):
    """Typing part of a word offers the default model's training prompts (manifest
    text.examples) that contain it; picking one sets the segment's prompt, undoably."""
    from foley_desktop.engine.generate import DEFAULT_MODEL
    from foley_desktop.engine.package import load_package

    examples = load_package(DEFAULT_MODEL).text["examples"]
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(48000, 96000, "engine motor idle")
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    assert f"{len(examples)} prompts" in ins.prompt.toolTip()
    ins.prompt.setFocus()
    ins.prompt.selectAll()
    qtbot.keyClicks(ins.prompt, "GRAV")
    c = ins.completer
    offered = [c.completionModel().index(i, 0).data() for i in range(c.completionCount())]
    assert offered and all("grav" in o.lower() for o in offered)
    assert sorted(offered) == sorted(e for e in examples if "grav" in e.lower())
    assert "footsteps on gravel" in offered
    ins.prompt.setText("footsteps on gravel")
    c.activated.emit("footsteps on gravel")
    assert seg.prompt == "footsteps on gravel"
    win.doc.undo_stack.undo()
    assert seg.prompt == "engine motor idle"


def test_use_prompt_as_typed_is_an_undoable_segment_setting(qtbot, win, clip_tank):
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(48000, 96000, "boots on pebbles")
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    assert ins.literal.isEnabled() and not ins.literal.isChecked()
    ins.literal.click()
    assert seg.literal_prompt is True
    win.doc.undo_stack.undo()
    assert seg.literal_prompt is False
    qtbot.waitUntil(lambda: not ins.literal.isChecked(), timeout=3000)


def test_save_and_reopen_project(qtbot, win, clip_tank, tmp_path):
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(48000, 96000, "engine motor idle")
    assert not win.doc.undo_stack.isClean() and win.windowTitle().startswith("movie *")
    out = win.doc.save(tmp_path / "tank.foley")
    assert win.doc.undo_stack.isClean() and win.windowTitle().startswith("tank.foley —")
    assert win.open_path(clip_tank)  # something else, then the project again
    assert win.doc.project.segments == []
    assert win.open_path(out)
    (again,) = win.doc.project.segments
    assert (again.start, again.end, again.prompt) == (seg.start, seg.end, seg.prompt)
    qtbot.waitUntil(lambda: win.canvas.segments and win.canvas.segments[0].id == seg.id,
                    timeout=5000)


def test_editor_story_three_segments_variations_while_scrubbing_keep_the_best(qtbot, win,
                                                                               clip_hello):
    """Issue #6's "done when": open a clip, mark three segments, generate variations for each in
    the background while scrubbing, audition them against the picture, keep the best."""
    from foley_desktop.media.timebase import frame_to_samples

    open_clip(qtbot, win, clip_hello)
    fps = win.doc.fps
    win.canvas.setFocus()
    # Three segments marked with I / O at the playhead, each described in the inspector.
    prompts = ["a spoken hello", "typing keyboard", "mouse click"]
    for k, (a, b) in enumerate([(10, 40), (80, 150), (170, 200)]):
        win.seek(frame_to_samples(a, fps))
        qtbot.keyClick(win, Qt.Key.Key_I)
        win.seek(frame_to_samples(b, fps))
        qtbot.keyClick(win, Qt.Key.Key_O)
        seg = win.doc.project.sorted_segments()[k]
        assert (seg.start, seg.end) == (frame_to_samples(a, fps), frame_to_samples(b, fps))
        win.canvas.set_selected([seg.id])
        ins = win.inspector
        ins.prompt.setFocus()
        qtbot.keyClicks(ins.prompt, prompts[k])
        qtbot.keyClick(ins.prompt, Qt.Key.Key_Return)
        ins.model.setCurrentIndex(ins.model.findData("test-analytic"))
        ins.model.activated.emit(ins.model.currentIndex())
        ins.variations.setValue(3)
        ins.variations.editingFinished.emit()
    segs = win.doc.project.sorted_segments()
    assert [s.prompt for s in segs] == prompts and all(s.variations == 3 for s in segs)

    # Generate all: jobs run in the background while the editor scrubs the picture.
    jobs = win.generate([s.id for s in segs])
    assert len(jobs) == 3
    shown = set()
    frame = 0
    while not all(j.state in ("done", "failed", "cancelled") for j in jobs):
        frame = (frame + 7) % 200
        win.seek(frame_to_samples(frame, fps))
        qtbot.wait(30)
        shown.add(win.preview.shown)
    assert all(j.state == "done" for j in jobs), [j.error for j in jobs]
    assert len(shown) >= 3  # the picture followed the scrubbing during generation
    qtbot.waitUntil(lambda: all(c.active_overview is not None for c in win.canvas.segments),
                    timeout=10000)

    # Audition: for each segment, A/B through its takes; what plays at the segment is the
    # active take (the mixer renders it at the segment's start sample); keep the loudest.
    mixer = win.playback.mixer
    mixer.lanes["original"].mute = True
    for seg in segs:
        assert len(seg.takes) == 3 and len({t.seed for t in seg.takes}) == 3
        win.canvas.set_selected([seg.id])
        levels = {}
        for _ in seg.takes:
            take = seg.active()
            audio, sr = soundfile.read(take.path, dtype="float32")
            qtbot.waitUntil(lambda s=seg: any(cs == s.start for cs, _ in mixer.clips), timeout=5000)
            heard = mixer.render(seg.start, seg.length)
            assert sr == 48000 and np.allclose(heard[0], audio[: seg.length], atol=1e-6)
            levels[take.id] = float(np.sqrt(np.mean(heard ** 2)))
            win.ab_toggle()
        best = max(levels, key=levels.get)
        takes_list = win.inspector.takes
        row = [t.id for t in seg.takes].index(best)
        takes_list.setCurrentRow(row)
        takes_list.itemDoubleClicked.emit(takes_list.item(row))  # double-click keeps a take
        qtbot.waitUntil(lambda s=seg, b=best: s.active_take == b, timeout=2000)
    # Kept: saving and reopening brings the chosen takes back.
    chosen = {s.id: s.active_take for s in segs}
    path = Path(win.settings.cache_dir).parent / "story.foley"
    win.doc.save(path)
    from foley_desktop.project import io

    again = {s.id: s.active_take for s in io.load(path).segments}
    assert again == chosen


def test_inspector_says_when_int8_is_passed_over_on_this_cpu(win, qtbot, tmp_path, monkeypatch):
    """A package whose INT8 variant has full 8-bit weights, on a CPU whose INT8 kernels
    saturate (engine/cpu.py, forced here): the inspector says the model runs without it."""
    import json

    from foley_desktop.engine import cpu, testpkg

    folder = testpkg.build(tmp_path / "old-int8", name="old-int8")
    m = json.loads((folder / "manifest.json").read_text())
    for g in m["graphs"].values():
        g["variants"].get("int8", {}).pop("weight_range", None)
    (folder / "manifest.json").write_text(json.dumps(m))
    monkeypatch.setenv("FOLEY_DESKTOP_INT8_SATURATES", "1")
    cpu.int8_saturates.cache_clear()
    try:
        win.settings.set("default_model", str(folder))
        win._load_models()
        qtbot.waitUntil(lambda: "INT8 passed over" in win.inspector.provider.text(), timeout=10000)
        assert "VNNI" in win.inspector.provider.toolTip()
    finally:
        cpu.int8_saturates.cache_clear()
