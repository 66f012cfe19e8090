"""Spotting in the window: tap M to mark, drag and nudge a marker, Delete, undo; the
inspector's mode and marker row (real widgets, offscreen)."""

from __future__ import annotations

import pytest
from gui_helpers import drag, open_clip
from gui_helpers import settle as _settle
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui




def _flag_pos(win, t):
    r = win.canvas.lane_rect("foley")
    return int(win.canvas.scale.x_of(t)), int(r.bottom() - 9)


def test_tap_drag_nudge_delete_and_undo_markers(qtbot, win, clip_tank):
    from foley_desktop.media.timebase import frame_to_samples

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 4 * 48000, "metal hits")
    win.canvas.set_selected([seg.id])
    win.canvas.setFocus()
    frame = frame_to_samples(1, win.doc.fps)
    # Outside every segment, M says where markers go and adds nothing.
    qtbot.keyClick(win, Qt.Key.Key_M)
    assert seg.markers == [] and "inside a segment" in win.statusBar().currentMessage()
    for k in range(3):
        win.seek(48000 + k * 12 * frame)
        qtbot.keyClick(win, Qt.Key.Key_M)
    assert [m.time for m in seg.markers] == [48000 + k * 12 * frame for k in range(3)]
    assert all(m.kind == "hit" and m.source == "user" for m in seg.markers)
    assert win.inspector.markers_label.text() == "3 markers"
    # Each tap is one undo step.
    win.doc.undo_stack.undo()
    assert len(seg.markers) == 2
    win.doc.undo_stack.redo()
    # Drag the second marker's flag 5 frames later: it lands on a frame.
    t1 = seg.markers[1].time
    x, y = _flag_pos(win, t1)
    dx = int(5 * frame / win.canvas.scale.samples_per_px)
    drag(qtbot, win.canvas, x, x + dx, y)
    moved = seg.markers[1].time
    assert moved != t1 and moved % frame == 0 and abs(moved - (t1 + 5 * frame)) <= frame
    assert win.canvas.selected_marker == (seg.id, moved)
    # Alt+Right nudges the selected marker by exactly one frame.
    qtbot.keyClick(win, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert seg.markers[1].time == moved + frame
    # Delete removes the selected marker, not the segment.
    qtbot.keyClick(win, Qt.Key.Key_Delete)
    assert len(win.doc.project.segments) == 1 and len(seg.markers) == 2
    win.doc.undo_stack.undo()
    assert len(seg.markers) == 3
    # The canvas draws the flags (yellow: the editor's).
    img = win.canvas.grab().toImage()
    fx, fy = _flag_pos(win, seg.markers[0].time)
    near = [img.pixelColor(fx + dx, fy + dy) for dx in (1, 2, 3) for dy in (3, 4, 5)]
    assert any(c.red() > 200 and c.green() > 150 and c.blue() < 150 for c in near), \
        [c.name() for c in near]
    _settle(qtbot)


def test_mode_and_clear_in_the_inspector(qtbot, win, clip_tank):
    from foley_desktop.spotting.markers import Marker

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 96000, "footsteps on gravel")
    win.doc.set_field(seg.id, "markers", [Marker(30000, "footstep", 1.0, "auto"),
                                          Marker(50000, "footstep")])
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    assert ins.markers_label.text() == "2 markers (1 from auto-spot)"
    # Between the markers: Auto by default; Quiet / Keep are one undoable edit each.
    assert ins.between.currentData() == "auto" and ins.between.isEnabled()
    ins.between.setCurrentIndex(ins.between.findData("keep"))
    ins.between.activated.emit(ins.between.currentIndex())
    assert seg.between_markers == "keep" and "keep between markers" in ins.more_btn.text()
    win.doc.undo_stack.undo()
    assert seg.between_markers == "auto" and ins.between.currentData() == "auto"
    ins.mode.setCurrentIndex(ins.mode.findData("library"))
    ins.mode.activated.emit(ins.mode.currentIndex())
    assert seg.mode == "library"
    # The model's settings do not apply to library takes: greyed out.
    assert not ins.steps.isEnabled() and not ins.visual_guidance.isEnabled()
    assert not ins.between.isEnabled()
    assert ins.prompt.isEnabled() and ins.seed.isEnabled()
    qtbot.mouseClick(ins.clear_markers_btn, Qt.MouseButton.LeftButton)
    assert seg.markers == [] and ins.markers_label.text() == "no markers"
    win.doc.undo_stack.undo()
    win.doc.undo_stack.undo()
    assert len(seg.markers) == 2 and seg.mode == "model"
    # Deleting the segment empties the inspector's fields (they no longer show its prompt).
    win.canvas.set_selected([seg.id])
    win.canvas.select_marker(None, None)
    qtbot.keyClick(win, Qt.Key.Key_Delete)
    assert ins.prompt.text() == "" and not ins.prompt.isEnabled()
    _settle(qtbot)


def test_the_inspector_says_how_a_prompt_is_read(qtbot, win, clip_tank):
    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 96000, "footsteps on gravel")
    win.canvas.set_selected([seg.id])
    ins = win.inspector
    assert ins.prompt_note.isHidden()
    ins.prompt.setText("在碎石路上的脚步声")
    assert not ins.prompt_note.isHidden()
    assert 'read as "footsteps on a gravel path"' in ins.prompt_note.text()
    ins.prompt.setText("مرحبا بالعالم")
    assert "not understood" in ins.prompt_note.text()
    ins.prompt.setText("door slam")
    assert ins.prompt_note.isHidden()
    _settle(qtbot)


def test_review_keys_step_through_markers_across_segments(qtbot, win, clip_tank):
    """Shift+M / Ctrl+Shift+M walk the markers of every segment in time order, select each
    (so Alt+Right and Delete act on it) and stop at the ends; markers outside their segment's
    range are skipped."""
    from foley_desktop.spotting.markers import Marker

    open_clip(qtbot, win, clip_tank)
    a = win.doc.add_segment(24000, 96000, "footsteps on gravel")
    b = win.doc.add_segment(120000, 200000, "metal hits")
    win.doc.set_field(a.id, "markers", [Marker(60000, "footstep", 1.0, "auto"),
                                        Marker(30000, "footstep"), Marker(99000, "footstep")])
    win.doc.set_field(b.id, "markers", [Marker(150000, "hit", 1.0, "auto")])
    win.canvas.setFocus()
    win.seek(0)
    seen = []
    for _ in range(4):
        qtbot.keyClick(win, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
        seen.append((win.canvas.selected_marker, win.transport.position))
    assert seen[:3] == [((a.id, 30000), 30000), ((a.id, 60000), 60000),
                        ((b.id, 150000), 150000)]
    assert seen[3] == seen[2]    # nothing after the last one (99000 lies outside segment a)
    assert "No marker after" in win.statusBar().currentMessage()
    mod = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(win, Qt.Key.Key_M, mod)
    assert win.canvas.selected_marker == (a.id, 60000) and win.transport.position == 60000
    assert win.canvas.selected == [a.id]
    assert "Marker 2 of 2: footstep, auto-spot" in win.statusBar().currentMessage()
    # The reached marker is the one the edit keys act on.
    qtbot.keyClick(win, Qt.Key.Key_Delete)
    assert [m.time for m in a.markers] == [30000, 99000] and len(win.doc.project.segments) == 2
    _settle(qtbot)


def test_alt_up_down_set_the_selected_markers_strength(qtbot, win, clip_tank):
    """Alt+Down / Alt+Up move the selected marker's strength by quarters (0.25..1), make it
    the editor's, undo in one step each, and the flag's line is drawn shorter for a weak one."""
    from foley_desktop.spotting.markers import Marker

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 96000, "metal hits")
    win.doc.set_field(seg.id, "markers", [Marker(48000, "hit", 0.6, "auto")])
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert "Select a marker first" in win.statusBar().currentMessage()
    assert seg.markers[0].strength == 0.6

    from foley_desktop.ui.timeline.canvas import MARKER_AUTO, MARKER_USER

    def lit_rows():   # pixels of a marker's colour in the flag's column: its line's height
        img = win.canvas.grab().toImage()
        x = round(win.canvas.scale.x_of(48000))
        r = win.canvas.lane_rect("foley")

        def is_marker(c):
            return any(abs(c.red() - m.red()) + abs(c.green() - m.green())
                       + abs(c.blue() - m.blue()) < 60 for m in (MARKER_USER, MARKER_AUTO))
        return max(sum(is_marker(img.pixelColor(c, y))
                       for y in range(int(r.top()), int(r.bottom()))) for c in (x - 1, x, x + 1))

    win.seek(0)
    qtbot.keyClick(win, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert win.canvas.selected_marker == (seg.id, 48000)
    full_before = lit_rows()
    qtbot.keyClick(win, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert seg.markers[0].strength == 0.5 and seg.markers[0].source == "user"
    qtbot.keyClick(win, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(win, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert seg.markers[0].strength == 0.25          # the floor: a marker never goes silent
    weak = lit_rows()
    for _ in range(4):
        qtbot.keyClick(win, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert seg.markers[0].strength == 1.0
    assert lit_rows() > weak and full_before > weak
    win.doc.undo_stack.undo()
    assert seg.markers[0].strength == 0.75
    _settle(qtbot)


def test_spotting_loop_frictions(qtbot, win, clip_tank):
    """From a new-user walk: a tapped marker is selected (Alt+arrows act on it at once); edits
    are named in Undo; a marker off a zoomed view is scrolled to by Shift+M; re-running
    auto-spot does not propose again a marker the editor kept (one frame away)."""
    from foley_desktop.media.timebase import frame_to_samples
    from foley_desktop.spotting.markers import Marker

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 4 * 48000, "metal hits")
    win.canvas.set_selected([seg.id])
    win.canvas.setFocus()
    frame = frame_to_samples(1, win.doc.fps)
    win.seek(48000)
    qtbot.keyClick(win, Qt.Key.Key_M)
    assert win.canvas.selected_marker == (seg.id, 48000)
    qtbot.keyClick(win, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert seg.markers[0].time == 48000 + frame
    assert win.doc.undo_stack.undoText() == "Move marker"
    assert "now yours" in win.statusBar().currentMessage()
    # Zoomed in on the start, the next marker is off the view: Shift+M scrolls to it.
    win.doc.set_field(seg.id, "markers", seg.markers + [Marker(180000, "hit", 1.0, "auto")])
    for _ in range(6):
        win.timeline.zoom_in()
    win.seek(0)
    win.canvas.select_marker(None, None)
    qtbot.keyClick(win, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(win, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert win.canvas.selected_marker == (seg.id, 180000)
    assert win.canvas.scale.origin <= 180000 <= win.canvas.scale.visible_end
    # Auto-spot's proposals next to a kept marker of the editor's are dropped.
    from foley_desktop.app.editing import fresh_proposals

    kept = [Marker(48000 + frame, "hit")]
    props = [Marker(48000, "hit", 1.0, "auto"), Marker(120000, "hit", 1.0, "auto")]
    assert fresh_proposals(kept, props, frame) == [props[1]]
    _settle(qtbot)
