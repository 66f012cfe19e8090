"""The Inspector's take list with long labels (a long variant and provider, sync, what changed,
"≈"): every row as wide as the list (no sideways scrolling that hid the label's end), the take
number and seed always whole, the details elided in the middle, the whole label in the tooltip.
The real window (pytest-qt, offscreen) with the panel at its narrowest and wide."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import open_clip, settle
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from foley_desktop.project.model import Take

pytestmark = pytest.mark.gui

SR = 48000
SYNC = {"f1_100ms": 0.86, "f1_40ms": 0.71, "n_markers": 4, "n_onsets": 5, "precision": 0.8,
        "recall": 1.0}


def _takes(seg) -> list[Take]:
    old = {"prompt": "footsteps on gravel", "mode": "model"}   # made before the prompt changed
    return [
        Take("take-a", Path("/nowhere/a.wav"), 1847362910, "foley-tiny", "1.7.0", "int8", "cuda",
             params=old, sync=SYNC, prompt_used="footsteps on gravel"),
        Take("take-b", Path("/nowhere/b.wav"), 1847362911, "foley-tiny", "1.7.0",
             "fp16-mixed-static-calibrated", "tensorrt", params=old, sync=SYNC),
        Take("take-c", Path("/nowhere/c.wav"), 1847362912, "library", "hits", mode="library",
             params={"prompt": "footsteps on gravel", "mode": "library"}, sync=SYNC,
             sources=[{"file": "/sfx/default_gravel_footstep.1.ogg"}]),
        Take("take-d", Path("/nowhere/d.wav"), 7, "foley-tiny", "1.7.0", "fp32", "cpu"),
    ]


@pytest.fixture
def takes_win(qtbot, win, clip_tank):
    from foley_desktop.project.commands import AddTake

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 3 * SR, "footsteps on wet gravel, slow, heavy boots")
    for i, t in enumerate(_takes(seg)):
        AddTake(seg.id, t, make_active=i == 1).apply(win.doc.project)
    win.doc.changed.emit()
    win.canvas.set_selected([seg.id])
    win.side_tabs.setCurrentWidget(win.inspector)
    yield win
    settle(qtbot)


def _rows(win):
    view = win.inspector.takes
    return [(view.item(i), view.itemDelegate().shown_text(view, view.indexFromItem(view.item(i))))
            for i in range(view.count())]


def _layout(qtbot, win, width: int) -> None:
    win.resize(width, 880)
    qtbot.waitUntil(lambda: abs(win.width() - width) <= 2, timeout=5000)
    QApplication.processEvents()
    win.inspector.takes.doItemsLayout()
    QApplication.processEvents()


def test_narrow_panel_keeps_number_and_seed_and_elides_the_middle(qtbot, takes_win):
    win = takes_win
    _layout(qtbot, win, 1000)
    view = win.inspector.takes
    fm = QFontMetrics(view.font())
    vw = view.viewport().width()
    assert not view.horizontalScrollBar().isVisible()
    rows = _rows(win)
    assert [it.text().split("  seed")[0][2:] for it, _ in rows] == [
        "Take 1", "Take 2", "Take 3", "Take 4"]
    elided = 0
    for (item, shown), take in zip(rows, _takes(None)):
        head = f"Take {view.row(item) + 1}  seed {take.seed}"
        assert head in shown, (shown, head)                      # number and seed whole
        assert view.visualItemRect(item).width() <= vw           # no row reaches past the view
        assert fm.horizontalAdvance(shown) <= vw
        # The tooltip starts with the whole label, which is the item's text.
        assert item.toolTip().split("\n")[0] == item.text()
        if shown != item.text():
            elided += 1
            assert "…" in shown and shown.startswith(item.text()[:len(shown.split("…")[0])])
            # The details' end stays: what changed, and the training prompt's sign.
            assert shown.endswith(item.text()[-4:])
    # At this width the long labels cannot fit whole (the test checks something).
    assert fm.horizontalAdvance(rows[1][0].text()) > vw and elided >= 2
    assert rows[0][1].endswith("≈") and "(before: prompt)" in rows[0][0].text()
    assert rows[3][1] == rows[3][0].text() == "○ Take 4  seed 7  fp32 cpu"


def test_wide_panel_shows_whole_labels(qtbot, takes_win):
    """The editor drags the picture / panel splitter to the left: whole labels again."""
    win = takes_win
    _layout(qtbot, win, 1800)
    view = win.inspector.takes
    fm = QFontMetrics(view.font())
    need = max(fm.horizontalAdvance(view.item(i).text()) for i in range(view.count()))
    splitter = win.side_tabs.parentWidget()
    splitter.setSizes([300, 1500])
    QApplication.processEvents()
    view.doItemsLayout()
    QApplication.processEvents()
    assert view.viewport().width() > need + 20, "could not widen the take list"
    for item, shown in _rows(win):
        assert shown == item.text() and "…" not in shown


def test_fit_label_never_drops_the_head():
    from foley_desktop.ui.take_list import fit_label

    fm = QFontMetrics(QApplication.font())
    head, details = "● Take 12  seed 1847362911", "fp16-mixed-static tensorrt  sync 0.86  (before: prompt)  ≈"
    whole = f"{head}  {details}"
    assert fit_label(head, details, fm, fm.horizontalAdvance(whole)) == whole
    for extra in (60, 120, 200):
        w = fm.horizontalAdvance(head + "  ") + extra
        shown = fit_label(head, details, fm, w)
        assert shown.startswith(head + "  ") and "…" in shown and shown.endswith("≈")
        assert fm.horizontalAdvance(shown) <= w
    tiny = fit_label(head, details, fm, fm.horizontalAdvance("● Take 12"))
    assert tiny.startswith("● Take") and tiny.endswith("…")
