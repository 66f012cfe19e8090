"""Helpers the GUI tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt


def open_clip(qtbot, win, clip) -> None:
    assert win.open_path(str(clip))
    qtbot.waitUntil(lambda: win.preview.view.image is not None, timeout=15000)
    qtbot.waitUntil(lambda: "original" in win.canvas.overviews, timeout=15000)


def foley_y(win) -> int:
    return int(win.canvas.lane_rect("foley").center().y())


def drag(qtbot, widget, x0: int, x1: int, y: int, steps: int = 6) -> None:
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=QPoint(x0, y))
    for i in range(1, steps + 1):
        qtbot.mouseMove(widget, QPoint(x0 + (x1 - x0) * i // steps, y))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=QPoint(x1, y))


def settle(qtbot, timeout: int = 20000) -> None:
    """Wait until no worker pool runs anything."""
    from foley_desktop.ui import workers

    qtbot.waitUntil(lambda: not any(p.activeThreadCount() for p in workers.POOLS),
                    timeout=timeout)
