"""The auto-spot region in the window (real widgets, offscreen): drag it on the preview of
resources/demo/walkers.mp4 from the inspector's Region…, Esc cancels, one undoable edit, the
outline on the picture while the segment is selected, Clear region, auto-spot in the region
(the same markers as `spotting.detect.spot(..., roi=...)`), saved and reopened."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import settle as _settle
from PySide6.QtCore import QPoint, QPointF, Qt

pytestmark = pytest.mark.gui

WALKERS = Path(__file__).resolve().parent.parent / "resources/demo/walkers.mp4"
ROI = (500, 268, 268, 132)   # the lower-right walker (resources/demo/walkers.json)


def open_clip(qtbot, win, clip) -> None:
    """walkers.mp4 has no sound track: wait for the picture only."""
    assert win.open_path(str(clip))
    qtbot.waitUntil(lambda: win.preview.view.image is not None, timeout=15000)


def _to_widget(view, x: float, y: float) -> QPoint:
    r = view.picture_rect()
    sw, sh = view.source
    return QPoint(round(r.left() + x * r.width() / sw), round(r.top() + y * r.height() / sh))


def _drag_region(qtbot, view, roi) -> None:
    x, y, w, h = roi
    a, b = _to_widget(view, x, y), _to_widget(view, x + w, y + h)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, 7):
        qtbot.mouseMove(view, a + (b - a) * i / 6)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=b)


def _pixel_scale(view) -> float:
    """Video pixels per widget pixel: how far one screen pixel of a drag can land."""
    return view.source[0] / view.picture_rect().width()


def _auto_spot(qtbot, win, seg) -> list:
    win.auto_spot([seg.id])
    qtbot.waitUntil(lambda: win.jobs.jobs and all(
        j.state in ("done", "failed", "cancelled") for j in win.jobs.jobs.values()),
        timeout=60000)
    assert all(j.state == "done" for j in win.jobs.jobs.values()), \
        [j.error for j in win.jobs.jobs.values()]
    return [m.time for m in seg.markers]


def test_drag_a_region_undo_and_clear(qtbot, win):
    open_clip(qtbot, win, WALKERS)
    view, insp = win.preview.view, win.inspector
    assert view.source == (win.doc.project.media_info["width"], win.doc.project.media_info["height"])
    seg = win.doc.add_segment(0, 3 * 48000, "footsteps")
    win.canvas.set_selected([seg.id])
    assert insp.region_btn.isEnabled() and not insp.clear_region_action.isEnabled()
    # Letterboxed: the picture's rectangle keeps the clip's aspect inside the view.
    r = view.picture_rect()
    assert abs(r.width() / r.height() - view.source[0] / view.source[1]) < 0.02
    # Esc leaves region mode and changes nothing.
    insp.region_btn.click()
    assert view.picking and view.hasFocus()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.picking and seg.spot_roi is None
    # A click without a drag picks nothing and stays in region mode.
    insp.region_btn.click()
    p = _to_widget(view, 100, 100)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=p)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=p)
    assert view.picking and seg.spot_roi is None
    before = win.doc.undo_stack.count()
    _drag_region(qtbot, view, ROI)
    assert not view.picking and seg.spot_roi is not None
    tol = _pixel_scale(view) + 1
    assert all(abs(a - b) <= tol for a, b in zip(seg.spot_roi, ROI)), seg.spot_roi
    assert all(isinstance(v, int) for v in seg.spot_roi)
    assert win.doc.undo_stack.count() == before + 1
    assert win.preview.region == seg.spot_roi
    x, y, w, h = seg.spot_roi
    assert insp.region_label.text() == f"region {w}x{h} at {x},{y}"
    assert insp.clear_region_action.isEnabled()
    # The outline is drawn on the picture: the top edge's middle is the region's colour.
    from foley_desktop.ui.video_preview import REGION_COLOR

    img = view.grab().toImage()
    edge = view.to_widget(seg.spot_roi)
    c = img.pixelColor(int(edge.center().x()), int(edge.top()))
    assert abs(c.red() - REGION_COLOR.red()) + abs(c.green() - REGION_COLOR.green()) \
        + abs(c.blue() - REGION_COLOR.blue()) < 60, c.name()
    # Another selection (none) hides it; selecting the segment again shows it.
    win.canvas.set_selected([])
    assert win.preview.region is None and not insp.region_btn.isEnabled()
    win.canvas.set_selected([seg.id])
    assert win.preview.region == seg.spot_roi
    # Undo takes the region away (one step), redo brings it back.
    win.doc.undo_stack.undo()
    assert seg.spot_roi is None and win.preview.region is None
    assert "whole picture" in insp.region_label.text()
    win.doc.undo_stack.redo()
    assert win.preview.region == seg.spot_roi is not None
    # R does what Region… does (and with no segment selected says why).
    win.canvas.set_selected([])
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_R)
    assert not view.picking and "Select one segment" in win.statusBar().currentMessage()
    win.canvas.set_selected([seg.id])
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_R)
    assert view.picking
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.picking
    # Clear region: one more undoable edit.
    insp.clear_region_action.trigger()
    assert seg.spot_roi is None and win.preview.region is None
    win.doc.undo_stack.undo()
    assert seg.spot_roi is not None


def test_region_maps_through_a_resized_view(qtbot, win):
    """Video pixels, whatever the letterbox: the same picture point gives the same pixels in
    a wide and in a tall view."""
    open_clip(qtbot, win, WALKERS)
    view = win.preview.view
    sw, sh = view.source
    for size in ((900, 300), (400, 600)):
        view.image = None   # mapped by the clip's aspect until the new size's frame arrives
        view.resize(*size)
        r = view.picture_rect()
        assert r.width() <= size[0] + 0.5 and r.height() <= size[1] + 0.5
        assert abs(r.width() / r.height() - sw / sh) < 0.01
        roi = view.region_between(QPointF(_to_widget(view, 500, 268)),
                                  QPointF(_to_widget(view, 768, 400)))
        tol = _pixel_scale(view) + 1
        assert roi is not None and all(abs(a - b) <= tol for a, b in zip(roi, ROI)), roi
        # Outside the picture (the black bars) clamps to the frame's edge.
        corner = view.region_between(QPointF(-50, -50), QPointF(view.width() + 50,
                                                                view.height() + 50))
        assert corner == (0, 0, sw, sh)
    _settle(qtbot)


def test_auto_spot_uses_the_region_and_it_survives_save_and_reopen(qtbot, win, tmp_path):
    from foley_desktop.spotting.detect import spot

    open_clip(qtbot, win, WALKERS)
    seg = win.doc.add_segment(0, 3 * 48000, "footsteps")
    win.canvas.set_selected([seg.id])
    win.inspector.region_btn.click()
    _drag_region(qtbot, win.preview.view, ROI)
    roi = seg.spot_roi
    assert roi is not None
    got = _auto_spot(qtbot, win, seg)
    assert got == [m.time for m in spot(WALKERS, seg.start, seg.end, roi=roi)]
    assert got != [m.time for m in spot(WALKERS, seg.start, seg.end)]
    assert win.inspector.region_label.text().startswith("region ")
    path = win.doc.save(tmp_path / "walkers.foley")
    assert win.open_path(str(path))
    again = win.doc.project.segments[0]
    assert again.spot_roi == roi and [m.time for m in again.markers] == got
    win.canvas.set_selected([again.id])
    assert win.preview.region == roi
    _settle(qtbot)
