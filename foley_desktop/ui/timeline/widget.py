"""The timeline panel: lane headers (name, mute, solo, gain) beside the canvas, a scroll bar
and zoom buttons. Headers only report mixer settings; playback owns the mix."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollBar,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from foley_desktop.ui import theme
from foley_desktop.ui.timeline.canvas import LANES, LaneSpec, TimelineCanvas

HEADER_W = 150


class LaneHeader(QFrame):
    mixChanged = Signal(str, float, bool, bool)  # key, gain dB, mute, solo

    def __init__(self, lane: LaneSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = lane.key
        self.setFixedHeight(lane.height)
        self.setObjectName(f"lane-{lane.key}")
        self.setStyleSheet(f"QFrame#lane-{lane.key} {{ background: {theme.BG_LIGHT.name()};"
                           f" border-bottom: 1px solid {theme.BORDER.name()}; }}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 4, 2)
        lay.setSpacing(1)
        top = QHBoxLayout()
        self.title = QLabel(lane.title)
        top.addWidget(self.title, 1)
        self.mute = self.solo = self.gain = None
        if lane.mixable:
            self.mute = self._toggle("M", "Mute this lane", "#c0392b")
            self.solo = self._toggle("S", "Solo this lane", "#b7950b")
            top.addWidget(self.mute)
            top.addWidget(self.solo)
        lay.addLayout(top)
        if lane.mixable and lane.height >= 40:
            self.gain = QSlider(Qt.Orientation.Horizontal)
            self.gain.setRange(-40, 12)
            self.gain.setValue(0)
            self.gain.setToolTip("Gain (dB); double-click the lane title to reset")
            self.gain.valueChanged.connect(self._emit)
            lay.addWidget(self.gain)

    def _toggle(self, text: str, tip: str, color: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setCheckable(True)
        b.setToolTip(tip)
        b.setFixedSize(20, 18)
        b.setStyleSheet(f"QToolButton:checked {{ background: {color}; color: white; }}")
        b.toggled.connect(self._emit)
        return b

    def _emit(self, *_):
        self.mixChanged.emit(self.key, float(self.gain.value() if self.gain else 0),
                             bool(self.mute and self.mute.isChecked()),
                             bool(self.solo and self.solo.isChecked()))


class TimelineWidget(QWidget):
    mixChanged = Signal(str, float, bool, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = TimelineCanvas()
        self.headers: dict[str, LaneHeader] = {}
        col = QVBoxLayout()
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        for lane in LANES:
            if lane.key == "ruler":
                zoom = QWidget()
                zoom.setFixedHeight(lane.height)
                zl = QHBoxLayout(zoom)
                zl.setContentsMargins(4, 0, 4, 0)
                for text, tip, slot in (("−", "Zoom out (Ctrl+wheel, -)", self.zoom_out),
                                        ("+", "Zoom in (Ctrl+wheel, =)", self.zoom_in),
                                        ("Fit", "Show the whole clip", self.zoom_fit)):
                    b = QToolButton()
                    b.setText(text)
                    b.setToolTip(tip)
                    b.clicked.connect(slot)
                    zl.addWidget(b)
                zl.addStretch(1)
                col.addWidget(zoom)
                continue
            h = LaneHeader(lane)
            h.mixChanged.connect(self.mixChanged)
            self.headers[lane.key] = h
            col.addWidget(h)
        col.addStretch(1)
        left = QWidget()
        left.setFixedWidth(HEADER_W)
        left.setLayout(col)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.valueChanged.connect(self._scrolled)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        right.addWidget(self.canvas)
        right.addWidget(self.scrollbar)
        right.addStretch(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(left)
        lay.addLayout(right, 1)
        self.canvas.viewChanged.connect(self._sync_scrollbar)
        self._syncing = False

    def _sync_scrollbar(self) -> None:
        sc = self.canvas.scale
        self._syncing = True
        page = int(sc.width_px * sc.samples_per_px)
        # The scroll bar counts in units of 1/48 ms so an hour fits in an int.
        unit = 1000
        self.scrollbar.setRange(0, max(0, (sc.duration - page) // unit))
        self.scrollbar.setPageStep(max(1, page // unit))
        self.scrollbar.setSingleStep(max(1, page // unit // 20))
        self.scrollbar.setValue(sc.origin // unit)
        self._syncing = False

    def _scrolled(self, value: int) -> None:
        if self._syncing:
            return
        self.canvas.scale.origin = value * 1000
        self.canvas.scale.clamp()
        self.canvas.refresh()

    def _zoom(self, factor: float) -> None:
        c = self.canvas
        if not c.has_media:
            return
        anchor = c.scale.x_of(c.playhead)
        if not 0 <= anchor <= c.width():
            anchor = c.width() / 2
        c.scale.zoom(factor, anchor)
        c.viewChanged.emit()
        c.refresh()

    def zoom_in(self) -> None:
        self._zoom(1.6)

    def zoom_out(self) -> None:
        self._zoom(1 / 1.6)

    def zoom_fit(self) -> None:
        self.canvas.scale.fit()
        self.canvas.viewChanged.emit()
        self.canvas.refresh()
