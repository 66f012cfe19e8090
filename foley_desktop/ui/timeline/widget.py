"""The timeline panel: lane headers (name, mute, solo, gain) beside the canvas, a scroll bar
and zoom buttons. Headers only report mixer settings; playback owns the mix.

The Foley, Dialogue and Background headers are also drag handles: dragging one (anywhere but
its buttons and slider) hands other apps that lane's full-length stem as a file; the "Mix"
grip above them hands out the mix. The files come from a `FilePreparer` (`set_drag_files`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
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

from foley_desktop.app.drag_files import STEM_LANES
from foley_desktop.ui import theme
from foley_desktop.ui.drag_out import DragStarter, FilePreparer
from foley_desktop.ui.timeline.canvas import LANES, LaneSpec, TimelineCanvas

HEADER_W = 150
GRIP = "⠿"  # the dotted drag-handle sign, also drawn on a segment's take grip
STEM_TIPS = {"foley": "the full-length Foley stem (FX)", "dialogue": "the dialogue stem (DX)",
             "background": "the background stem (BG; the clip's own audio until separated)",
             "mix": "the full mix (dialogue + background + Foley)"}


class _StemDrag:
    """Mouse handling shared by the lane headers and the mix grip: press prepares the stem,
    a drag hands it out; hovering the grip sign alone starts preparing it (a cheap hint of
    intent that hides most of the write)."""

    stem: str | None = None

    def _init_drag(self, preparer) -> None:
        self.drag = DragStarter(self, preparer)
        self._preparer = preparer

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        if not (self.stem and self.drag.press(ev, ("stem", self.stem))):
            super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        if not self.drag.move(ev):
            super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        if not self.drag.release():
            super().mouseReleaseEvent(ev)

    def hover_grip(self) -> None:
        prep = self._preparer()
        if prep is not None and self.stem:
            prep.prepare(("stem", self.stem), quiet=True)

    def drag_state(self, prep: FilePreparer | None) -> tuple[str, str, bool]:
        """(grip text, tooltip, can drag now) for the stem's current state."""
        tip = (f"Drag into your editing app: {STEM_TIPS[self.stem]} as a 48 kHz 24-bit "
               "Broadcast WAV as long as the clip, from its first frame")
        what = ("stem", self.stem)
        if prep is None:
            return GRIP, tip, False
        if prep.preparing(what):
            return "…", tip + "\nPreparing the file…", True
        why = prep.unavailable(what)
        if why:
            return GRIP, tip + "\nNot available: " + why, False
        return GRIP, tip, True

    @staticmethod
    def grip_style(enabled: bool) -> str:
        return f"color: {(theme.TEXT if enabled else theme.BORDER).name()};"


class _GripLabel(QLabel):
    """The ⠿ sign: shows the hand cursor and warms the stem up when the mouse rests on it."""

    def __init__(self, owner: _StemDrag) -> None:
        super().__init__(GRIP)
        self.owner = owner
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def enterEvent(self, ev) -> None:
        self.owner.hover_grip()
        super().enterEvent(ev)


class MixGrip(_StemDrag, QLabel):
    """"⠿ Mix" above the lane headers: drag it to hand out the mix stem."""

    stem = "mix"

    def __init__(self, preparer, parent: QWidget | None = None) -> None:
        QLabel.__init__(self, f"{GRIP} Mix", parent)
        self._init_drag(preparer)
        self.setObjectName("mix-grip")
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setContentsMargins(3, 0, 3, 0)
        self.refresh_drag()

    def enterEvent(self, ev) -> None:
        self.hover_grip()
        super().enterEvent(ev)

    def refresh_drag(self) -> None:
        text, tip, enabled = self.drag_state(self._preparer())
        self.setText(f"{text} Mix")
        self.setToolTip(tip)
        self.setStyleSheet(f"QLabel#mix-grip {{ {self.grip_style(enabled)} border: 1px solid "
                           f"{theme.BORDER.name()}; border-radius: 3px; }}")


class LaneHeader(_StemDrag, QFrame):
    mixChanged = Signal(str, float, bool, bool)  # key, gain dB, mute, solo

    def __init__(self, lane: LaneSpec, parent: QWidget | None = None,
                 preparer=lambda: None) -> None:
        QFrame.__init__(self, parent)
        self.key = lane.key
        self.stem = lane.key if lane.key in STEM_LANES else None
        self._init_drag(preparer)
        self.setFixedHeight(lane.height)
        self.setObjectName(f"lane-{lane.key}")
        self.setStyleSheet(f"QFrame#lane-{lane.key} {{ background: {theme.BG_LIGHT.name()};"
                           f" border-bottom: 1px solid {theme.BORDER.name()}; }}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 4, 2)
        lay.setSpacing(1)
        top = QHBoxLayout()
        self.grip = None
        if self.stem:
            self.grip = _GripLabel(self)
            top.addWidget(self.grip)
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
        self.refresh_drag()

    def refresh_drag(self) -> None:
        if self.grip is None:
            return
        text, tip, enabled = self.drag_state(self._preparer())
        self.grip.setText(text)
        self.grip.setStyleSheet(self.grip_style(enabled))
        self.grip.setToolTip(tip)
        self.title.setToolTip(tip)

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
        self.drag_files: FilePreparer | None = None
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
                zl.setSpacing(2)
                for text, tip, slot in (("−", "Zoom out (Ctrl+wheel, -)", self.zoom_out),
                                        ("+", "Zoom in (Ctrl+wheel, =)", self.zoom_in),
                                        ("Fit", "Show the whole clip", self.zoom_fit)):
                    b = QToolButton()
                    b.setText(text)
                    b.setToolTip(tip)
                    b.setFixedWidth(22 if len(text) == 1 else 30)  # room for the Mix grip
                    b.clicked.connect(slot)
                    zl.addWidget(b)
                zl.addStretch(1)
                self.mix_grip = MixGrip(lambda: self.drag_files)
                zl.addWidget(self.mix_grip)
                col.addWidget(zoom)
                continue
            h = LaneHeader(lane, preparer=lambda: self.drag_files)
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

    def set_drag_files(self, preparer: FilePreparer) -> None:
        """Where lane-header, mix and take drags get their files (the window's project)."""
        self.drag_files = preparer
        self.canvas.drag_files = preparer
        preparer.stateChanged.connect(self._drag_state_changed)
        self._drag_state_changed(None)

    def _drag_state_changed(self, _what) -> None:
        for h in self.headers.values():
            h.refresh_drag()
        self.mix_grip.refresh_drag()

    def shutdown(self) -> None:
        """Stop the drag-file worker (the window calls this when it closes)."""
        if self.drag_files is not None:
            self.drag_files.shutdown()

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
