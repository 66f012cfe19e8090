"""Frictions a new user met (issue #28), each fixed and held here: Ctrl+G with the prompt still
being typed, the status line after O, the CLI's first take active like the window's, a model
that is not installed refused when added, `--literal-prompt` alone, no CUDA noise on a CPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from gui_helpers import open_clip
from gui_helpers import settle as _settle
from PySide6.QtCore import Qt

from foley_desktop.project import io


def cli(*args):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *map(str, args)],
                          capture_output=True, text=True, check=False)


@pytest.mark.gui
def test_ctrl_g_uses_the_prompt_still_being_typed(qtbot, win, clip_tank):
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 72000, "")
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    ins.prompt.setFocus()
    qtbot.keyClicks(ins.prompt, "engine motor idle")          # no Return, no Tab
    jobs = win.generate([seg.id])                             # what Ctrl+G calls
    assert seg.prompt == "engine motor idle" and len(jobs) == 1
    qtbot.waitUntil(lambda: jobs[0].state in ("done", "failed"), timeout=60000)
    _settle(qtbot)


@pytest.mark.gui
def test_the_status_line_moves_on_after_o(qtbot, win, clip_tank):
    open_clip(qtbot, win, clip_tank)
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_I)
    assert "press O" in win.statusBar().currentMessage()
    for _ in range(5):
        qtbot.keyClick(win, Qt.Key.Key_Right)
    qtbot.keyClick(win, Qt.Key.Key_O)
    assert "press O" not in win.statusBar().currentMessage()
    assert len(win.doc.project.segments) == 1
    _settle(qtbot)


def test_project_cli_model_check_literal_flag_and_first_take_active(clip_tank, tmp_path):
    from foley_desktop.engine import testpkg

    pkg = testpkg.build(tmp_path / "pkg", int8=False)
    p = tmp_path / "p.foley"
    assert cli("project", "new", clip_tank, "-o", p).returncode == 0
    r = cli("project", "add-segment", p, "--start", "0", "--end", "1", "--prompt", "x",
            "--model", "nosuch")
    assert r.returncode == 2 and "nosuch" in r.stderr and io.load(p).segments == []
    r = cli("project", "add-segment", p, "--start", "0", "--end", "1", "--prompt", "door slam",
            "--literal-prompt", "--seed", "3", "--variations", "2", "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    seg_id = r.stdout.strip()
    assert io.load(p).segment(seg_id).literal_prompt is True
    r = cli("generate", "--project", p, "--all", "--model", pkg, "--provider", "cpu")
    assert r.returncode == 0, r.stderr
    seg = io.load(p).segment(seg_id)
    assert [t.seed for t in seg.takes] == [3, 4] and seg.active_take == seg.takes[0].id


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="a GPU is present here")
def test_no_cuda_noise_when_no_gpu_is_expected(tmp_path):
    from foley_desktop.engine import testpkg

    pkg = testpkg.build(tmp_path / "pkg", int8=False)
    r = cli("generate", "--prompt", "rain", "--duration", "1", "--model", pkg, "-o",
            tmp_path / "a.wav")
    assert r.returncode == 0, r.stderr
    assert "libcublas" not in r.stdout + r.stderr and "provider:" not in r.stdout


@pytest.mark.gui
def test_a_changed_prompt_makes_a_new_take_and_the_inspector_says_what_made_it(
        qtbot, win, clip_tank):
    """Fixed seed: Generate, edit the prompt, Generate -> a second take, each recording its own
    prompt, model hash and settings; Generate again with nothing changed makes nothing."""
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 72000, "engine motor idle", model="test-analytic")
    win.doc.set_field(seg.id, "seed", 11)
    win.canvas.set_selected([seg.id])

    def run():
        jobs = win.generate([seg.id])
        for j in jobs:
            qtbot.waitUntil(lambda j=j: j.state in ("done", "failed"), timeout=60000)
            assert j.state == "done", j.error
        qtbot.waitUntil(lambda: not win.runs.waiting, timeout=5000)
        return jobs

    run()
    assert len(seg.takes) == 1
    assert run() == [] and "Nothing to generate" in win.statusBar().currentMessage()
    win.doc.set_field(seg.id, "prompt", "tank tracks on gravel")
    run()
    assert [t.seed for t in seg.takes] == [11, 11]
    first, second = (t.params for t in seg.takes)
    assert (first["prompt"], second["prompt"]) == ("engine motor idle", "tank tracks on gravel")
    assert first["key"] != second["key"] and first["model_hash"] == second["model_hash"]
    assert first["model"] == "test-analytic" and first["engine_version"]
    assert first["effective"]["steps"] == 4      # the package's default, as used
    items = [win.inspector.takes.item(i).text() for i in range(2)]
    assert "(before: prompt)" in items[0] and "before" not in items[1]
    win.inspector.takes.setCurrentRow(0)
    info = win.inspector.take_info.text()
    assert "engine motor idle" in info and first["model_hash"] in info and "seed 11" in info
    assert "steps 4 (model default)" in info
    _settle(qtbot)


@pytest.mark.gui
def test_after_a_delete_the_inspector_is_empty_and_the_provider_line_stays_one_line(
        qtbot, win, clip_tank):
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 72000, "engine motor idle")
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    assert ins.prompt.text() == "engine motor idle" and ins.prompt.isEnabled()
    win.delete_selected()
    assert win.doc.project.segments == []
    assert ins.prompt.text() == "" and not ins.prompt.isEnabled()
    assert not any(w.isEnabled() for w in (ins.negative, ins.seed, ins.steps, ins.gen_btn))
    assert "No segment selected" in ins.header.text()
    # A long provider report: one line in the form, the whole of it on hover.
    reason = "CUDA: libcublasLt.so.12: cannot open shared object file " * 3
    ins.set_provider(f"provider: cpu (requested: auto)\n{reason}")
    assert "\n" not in ins.provider.text() and "hover" in ins.provider.text()
    assert reason.strip() in ins.provider.toolTip()
    _settle(qtbot)


@pytest.mark.gui
def test_the_inspector_never_makes_the_window_taller_than_the_screen(qtbot, win, clip_tank):
    """A segment with takes, a prompt note and a take's record used to need ~1100 px: on a
    1000-px screen the window grew past it (the Foley lane off screen) and the form's rows were
    squeezed below their height (clipped buttons and text). The inspector scrolls instead."""
    from foley_desktop.spotting.markers import Marker

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 72000, "坦克履带碾过碎石", model="test-analytic")
    win.doc.set_field(seg.id, "variations", 3)
    win.doc.set_field(seg.id, "markers", [Marker(30000 + 4800 * i, "hit") for i in range(6)])
    win.canvas.set_selected([seg.id])
    jobs = win.generate([seg.id])
    for j in jobs:
        qtbot.waitUntil(lambda j=j: j.state in ("done", "failed"), timeout=60000)
        assert j.state == "done", j.error
    qtbot.waitUntil(lambda: len(seg.takes) == 3 and not win.runs.waiting, timeout=5000)
    win.side_tabs.setCurrentWidget(win.inspector)
    ins = win.inspector
    ins.takes.setCurrentRow(0)
    assert ins.take_info.text()
    qtbot.wait(50)
    assert win.minimumSizeHint().height() <= 700, win.minimumSizeHint()
    win.resize(1400, 880)
    qtbot.wait(50)
    assert win.height() <= 880
    # The model's settings are folded, their summary on the button: the takes are in view.
    assert not ins.more.isVisible() and "Model settings: test-analytic" in ins.more_btn.text()
    view = ins.scroll.viewport()
    top = ins.takes.mapTo(view, ins.takes.rect().topLeft()).y()
    assert top >= 0 and top + 3 * ins.takes.sizeHintForRow(0) <= view.height()
    ins.more_btn.click()                       # unfolded: the panel scrolls, the window stays
    qtbot.wait(50)
    assert ins.more.isVisible() and win.height() <= 880
    for w in (ins.mode, ins.prompt, ins.spot_btn, ins.seed, ins.precision, ins.gen_btn):
        assert w.height() >= w.minimumSizeHint().height(), (w, w.height())
        assert w.width() >= w.minimumSizeHint().width(), (w, w.width())
    win.doc.set_field(seg.id, "steps", 20)
    assert "steps 20" in ins.more_btn.text()
    _settle(qtbot)


@pytest.mark.gui
def test_a_clip_without_sound_says_so_instead_of_offering_separation(qtbot, win, tmp_path):
    """The demo clip has no audio: its stem lanes said "Not separated yet (File ▸ Separate)"
    and File ▸ Separate queued a job that failed with a clipped message in the Jobs panel
    (and a Retry that could never work). Now the lanes say there is no sound and Separate
    says why at once; the CLI's `project separate` says the same."""
    import shutil
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "resources/demo/walkers.mp4"
    clip = tmp_path / "walkers.mp4"
    shutil.copy(demo, clip)
    assert win.open_path(str(clip))
    qtbot.waitUntil(lambda: win.preview.view.image is not None, timeout=15000)
    for key in ("dialogue", "background"):
        assert "no audio" in win.canvas.lane_state[key].lower()
        assert "File ▸ Separate" not in win.canvas.lane_state[key]
    assert win.separate() is None
    assert win.last_error == "walkers.mp4 has no audio: nothing to separate"
    assert win.jobs_panel.table.rowCount() == 0
    p = tmp_path / "p.foley"
    assert cli("project", "new", clip, "-o", p).returncode == 0
    r = cli("project", "separate", p)
    assert r.returncode == 2 and "walkers.mp4 has no audio: nothing to separate" in r.stderr
    _settle(qtbot)


def test_a_precision_the_model_lacks_is_refused_before_anything_is_made(clip_tank, tmp_path):
    """`project add-segment --precision int3` was accepted and failed at generate; and
    `generate --project --all` made the first segment's takes before failing on the second's
    precision. Now the edit is refused, and the run is planned whole before any take."""
    from foley_desktop.engine import testpkg
    from foley_desktop.project.model import Segment, new_id

    pkg = testpkg.build(tmp_path / "pkg", int8=False)       # fp32 only
    p = tmp_path / "p.foley"
    assert cli("project", "new", clip_tank, "-o", p).returncode == 0
    r = cli("project", "add-segment", p, "--start", "0", "--end", "1", "--prompt", "x",
            "--precision", "int3")
    assert r.returncode == 2 and "--precision int3" in r.stderr and "Traceback" not in r.stderr
    assert io.load(p).segments == []
    r = cli("project", "add-segment", p, "--start", "0", "--end", "1", "--prompt", "x",
            "--model", pkg, "--precision", "int8")
    assert r.returncode == 2 and "no int8 variant" in r.stderr
    r = cli("project", "add-segment", p, "--start", "0", "--end", "1", "--prompt", "door slam",
            "--model", pkg, "--precision", "fp32", "--seed", "1")
    assert r.returncode == 0, r.stderr
    # A project edited elsewhere (an older version, by hand): the second segment asks for a
    # precision its model does not have.
    project = io.load(p)
    project.segments.append(Segment(id=new_id("seg"), start=48000, end=96000, prompt="rain",
                                    model=str(pkg), precision="int8", seed=2))
    io.save(project)
    r = cli("generate", "--project", p, "--all", "--provider", "cpu")
    assert r.returncode == 2 and "no int8 variant" in r.stderr and "1.000 s" in r.stderr
    assert all(s.takes == [] for s in io.load(p).segments)
    assert not list(tmp_path.glob("p.foley-cache/takes/*/*.wav"))


@pytest.mark.gui
def test_a_typed_prompt_is_kept_when_the_editor_clicks_another_field(qtbot, win, clip_tank):
    """Type a prompt (the completion list opens), click Variations, type 2, Tab: the prompt
    was never committed (the line edit lost its focus to the popup's closing, which emits no
    editingFinished) and the variations edit then reloaded the form: the typed prompt was
    gone and Ctrl+G said "Type a prompt"."""
    open_clip(qtbot, win, clip_tank)
    win.activateWindow()
    seg = win.doc.add_segment(24000, 72000, "")
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    ins._example_list.setStringList(["footsteps on gravel", "footsteps on wood"])
    qtbot.mouseClick(ins.prompt, Qt.MouseButton.LeftButton)
    ins.prompt.setFocus()
    qtbot.keyClicks(ins.prompt, "footsteps on grav")
    ins.completer.complete()                    # the list a user sees while typing
    qtbot.mouseClick(ins.variations, Qt.MouseButton.LeftButton)
    ins.completer.popup().hide()
    ins.variations.setFocus()
    ins.variations.selectAll()
    qtbot.keyClicks(ins.variations, "2")
    qtbot.keyClick(ins.variations, Qt.Key.Key_Tab)
    assert seg.variations == 2
    assert seg.prompt == "footsteps on grav" and ins.prompt.text() == "footsteps on grav"
    _settle(qtbot)


@pytest.mark.gui
def test_export_choices_read_as_an_editor_names_them(qtbot, win, tmp_path):
    """The Export dialog offered 'wav24' and 'fcp7xml': it now names the format and the
    editing apps each timeline is for; the choice it returns still uses the codes."""
    from foley_desktop.ui.export_dialog import ExportDialog
    from foley_desktop.ui.settings import PreferencesDialog

    dlg = ExportDialog(str(tmp_path), "wav32f", win)
    qtbot.addWidget(dlg)
    assert dlg.format.currentText() == "WAV, 48 kHz 32-bit float"
    assert dlg.choice().format == "wav32f"
    assert "Premiere" in dlg.timelines["fcp7xml"].toolTip()
    assert dlg.timelines["fcpxml"].text() == "FCPXML" and "Final Cut" in \
        dlg.timelines["fcpxml"].toolTip()
    assert dlg.choice().timelines == ["otio"]
    prefs = PreferencesDialog(win.settings, win.models, win)
    qtbot.addWidget(prefs)
    assert prefs.export_format.currentText().startswith("WAV, 48 kHz")


def test_a_start_past_the_clip_says_so(tmp_path):
    """`generate CLIP --start 50` on an 8 s clip said "the segment's end (8.000 s) must be
    after its start (50.000 s)", an end the editor never gave."""
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "resources/demo/walkers.mp4"
    r = cli("generate", demo, "--prompt", "x", "--start", "50", "-o", tmp_path / "a.wav")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--start 50.000 s is at or past the clip's end (8.000 s)" in r.stderr
    assert not (tmp_path / "a.wav").exists()


@pytest.mark.gui
def test_b_with_nothing_to_switch_says_why(qtbot, win, clip_tank):
    """B with no segment selected, or a segment with one take, did nothing and said nothing."""
    open_clip(qtbot, win, clip_tank)
    win.ab_toggle()
    assert "select one segment" in win.statusBar().currentMessage()
    seg = win.doc.add_segment(24000, 72000, "engine motor idle")
    win.canvas.set_selected([seg.id])
    win.ab_toggle()
    assert "needs two takes" in win.statusBar().currentMessage()
    _settle(qtbot)


@pytest.mark.gui
def test_a_failed_generate_says_why_where_the_editor_looks(qtbot, win, clip_tank, tmp_path,
                                                           monkeypatch):
    """Library mode with an empty sound library: the job failed with its reason cut off in
    the Jobs panel's ETA column, and the CLI said that no sound matched the prompt. Now the
    window shows the reason (status bar and message box) and both say how to add sounds."""
    from foley_desktop.app.generate import EMPTY_LIBRARY

    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(tmp_path / "empty-data"))
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 72000, "footsteps on gravel")
    win.doc.set_field(seg.id, "mode", "library")
    win.canvas.set_selected([seg.id])
    jobs = win.generate([seg.id])
    qtbot.waitUntil(lambda: jobs[0].state in ("done", "failed"), timeout=30000)
    assert jobs[0].state == "failed"
    qtbot.waitUntil(lambda: win.last_error is not None, timeout=5000)
    assert EMPTY_LIBRARY in win.last_error and "failed" in win.last_error
    assert EMPTY_LIBRARY in win.statusBar().currentMessage()
    r = cli("generate", clip_tank, "--prompt", "footsteps", "--end", "1", "--mode", "library",
            "--library-db", tmp_path / "lib.sqlite", "-o", tmp_path / "a.wav")
    assert r.returncode == 2 and "library add --starter" in r.stderr
    assert not (tmp_path / "a.wav").exists()
    _settle(qtbot)


@pytest.mark.gui
def test_keys_that_cannot_act_say_why(qtbot, win, clip_tank):
    """Ctrl+G with no segment selected, or I / M / Ctrl+G before a clip is open, did nothing
    and said nothing."""
    win.activateWindow()
    for act in (win.set_mark_in, win.add_marker, win.generate_selected, win.generate_all,
                win.ab_toggle, win.separate, win.export):
        win.statusBar().clearMessage()
        act()
        assert "Open a clip first" in win.statusBar().currentMessage(), act
    open_clip(qtbot, win, clip_tank)
    win.generate_selected()
    assert "Mark a segment first" in win.statusBar().currentMessage()
    win.generate_all()
    assert "Mark a segment first" in win.statusBar().currentMessage()
    win.doc.add_segment(24000, 72000, "engine motor idle")
    win.canvas.set_selected([])
    win.generate_selected()
    assert "Select a segment to generate" in win.statusBar().currentMessage()
    _settle(qtbot)


@pytest.mark.gui
def test_return_in_the_prompt_hands_the_keys_back_to_the_window(qtbot, win, clip_tank):
    """After I / O the prompt has the focus; Return committed it but kept the focus, so the
    Space and M that follow (play, tap markers) were typed into the prompt."""
    open_clip(qtbot, win, clip_tank)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_I)
    for _ in range(10):
        qtbot.keyClick(win.canvas, Qt.Key.Key_Right)
    qtbot.keyClick(win.canvas, Qt.Key.Key_O)
    seg = win.doc.project.segments[0]
    ins = win.inspector
    qtbot.waitUntil(ins.prompt.hasFocus, timeout=5000)
    qtbot.keyClicks(ins.prompt, "door slam")
    qtbot.keyClick(ins.prompt, Qt.Key.Key_Return)
    assert seg.prompt == "door slam" and not ins.prompt.hasFocus()
    win.transport.seek(seg.start + (seg.end - seg.start) // 2)
    qtbot.keyClick(win, Qt.Key.Key_M)
    assert ins.prompt.text() == "door slam" and len(seg.markers) == 1
    ins.negative.setFocus()
    qtbot.keyClicks(ins.negative, "music")
    qtbot.keyClick(ins.negative, Qt.Key.Key_Escape)
    assert seg.negative == "music" and not ins.negative.hasFocus()
    _settle(qtbot)
