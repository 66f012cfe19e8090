"""The timeline's painted area: ruler, thumbnail strip, waveform and stem lanes, Foley lane.

One widget paints every lane from integer sample times through `TimeScale`; the Foley lane also
handles drag-to-create, drag-to-move and edge trimming. The canvas never edits the project: it
emits requests (create/move/trim/select/seek) that the main window turns into undoable commands.

Dragging a take out to another app starts on a segment's grip (the dotted handle at its top
right, shown once it has a take) or with Alt held anywhere on its body; plain drags keep
meaning move/trim/create. The file comes from `drag_files` (set by the timeline widget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from foley_desktop.media.timebase import (
    frame_to_samples,
    frames_to_samples,
    samples_to_frame,
    samples_to_timecode,
)
from foley_desktop.ui import theme
from foley_desktop.ui.drag_out import DragStarter, FilePreparer
from foley_desktop.ui.timeline.geometry import TimeScale
from foley_desktop.ui.timeline.waveform import Overview, paint_overview

EDGE_PX = 6  # grab distance for trimming a segment's edge
SOUND_SUFFIXES = (".wav", ".bwf", ".flac", ".aif", ".aiff", ".ogg", ".mp3", ".rf64")
MARKER_PX = 5  # grab distance for a marker's flag (the lower half of the Foley lane)
MARKER_USER, MARKER_AUTO = QColor("#ffd54f"), QColor("#4dd0e1")
MARKER_EDGE = QColor(20, 20, 20, 200)   # the dark edge around markers, for contrast
GRIP_W, GRIP_H = 14, 12  # a segment's take grip (drag the take out), top right inside it


@dataclass(frozen=True)
class LaneSpec:
    key: str
    title: str
    height: int
    mixable: bool = False  # has gain / mute / solo in its header


LANES = (
    LaneSpec("ruler", "", 26),
    LaneSpec("thumbs", "Picture", 46),
    LaneSpec("original", "Original", 60, True),
    LaneSpec("dialogue", "Dialogue", 44, True),
    LaneSpec("background", "Background", 44, True),
    LaneSpec("foley", "Foley", 64, True),
)


@dataclass
class SegmentItem:
    """What the canvas needs to draw one segment (built from the project's Segment)."""

    id: str
    start: int
    end: int
    label: str = ""
    takes: int = 0
    active_overview: Overview | None = None
    # Spotting markers inside the segment: (time in samples, kind, source "user" | "auto",
    # strength 0..1).
    markers: tuple[tuple[int, str, str, float], ...] = ()


@dataclass
class _Drag:
    mode: str  # "create" | "move" | "trim-l" | "trim-r" | "scrub"
    anchor_t: int
    seg_id: str | None = None
    orig: tuple[int, int] = (0, 0)
    cur: tuple[int, int] = (0, 0)
    moved: bool = False
    extra: dict = field(default_factory=dict)


class TimelineCanvas(QWidget):
    seekRequested = Signal(int)
    createRequested = Signal(int, int)
    moveRequested = Signal(str, int)
    trimRequested = Signal(str, int, int)
    selectionChanged = Signal(list)
    markerMoveRequested = Signal(str, int, int)   # segment id, old time, new time
    markerSelected = Signal(str, int)             # segment id, time ("" , -1: none)
    soundDropped = Signal(str, str)               # segment id, path of a sound file
    viewChanged = Signal()
    thumbnailsWanted = Signal(list)  # frame indices visible and not cached

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scale = TimeScale()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(sum(lane.height for lane in LANES))
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAcceptDrops(True)  # sounds from the Library panel (or a file manager) pin
        self.playhead = 0
        self.mark_in: int | None = None  # I pressed, O not yet
        self.has_media = False
        self.overviews: dict[str, Overview] = {}  # lane key -> overview
        self.lane_state: dict[str, str] = {}  # lane key -> message when empty ("separate first")
        self.speech: list[tuple[int, int]] = []
        self.segments: list[SegmentItem] = []
        self.selected: list[str] = []
        self.selected_marker: tuple[str, int] | None = None
        self.thumbs: dict[int, QImage] = {}  # frame index -> image
        self.thumb_aspect = 16 / 9
        self._drag: _Drag | None = None
        self.drag_files: FilePreparer | None = None  # set by TimelineWidget.set_drag_files
        self.take_drag = DragStarter(self, lambda: self.drag_files)
        self._font = theme.mono_font(8)
        # Everything but the playhead is painted into this pixmap and reused while only the
        # playhead moves (playback repaints ~50 times a second).
        self._layer: QPixmap | None = None
        self._layer_key: tuple | None = None

    def refresh(self) -> None:
        """Repaint after the data or the view changed (not for playhead moves)."""
        self._layer = None
        self.update()

    # ---- data
    def set_media(self, duration: int, fps: Fraction, aspect: float) -> None:
        self.scale.duration = max(1, duration)
        self.scale.fps = fps
        self.thumb_aspect = aspect or 16 / 9
        self.has_media = True
        self.thumbs.clear()
        self.overviews.clear()
        self.scale.width_px = max(100, self.width())
        self.scale.fit()
        self.viewChanged.emit()
        self.refresh()

    def set_lane(self, key: str, overview: Overview | None = None, state: str | None = None
                 ) -> None:
        """A lane's waveform (None: none yet) and the line shown while it has none."""
        if overview is None:
            self.overviews.pop(key, None)
        else:
            self.overviews[key] = overview
        if state is not None:
            self.lane_state[key] = state
        self.refresh()

    def set_speech(self, regions: list[tuple[int, int]]) -> None:
        self.speech = list(regions)
        self.refresh()

    def set_mark_in(self, t: int | None) -> None:
        self.mark_in = t
        self.refresh()

    def add_thumb(self, frame: int, image: QImage, limit: int = 2000) -> None:
        """A decoded thumbnail (the cache starts over past `limit`)."""
        if len(self.thumbs) > limit:
            self.thumbs.clear()
        self.thumbs[frame] = image
        self.refresh()

    def set_segments(self, items: list[SegmentItem]) -> None:
        self.segments = sorted(items, key=lambda s: s.start)
        ids = {s.id for s in items}
        self.selected = [i for i in self.selected if i in ids]
        self.refresh()

    def set_selected(self, ids: list[str]) -> None:
        if ids != self.selected:
            self.selected = list(ids)
            self.selectionChanged.emit(list(ids))
            self.refresh()

    def set_playhead(self, t: int, follow: bool = False) -> None:
        old = self.playhead
        self.playhead = t
        if follow:
            before = self.scale.origin
            self.scale.scroll_to_show(t)
            if self.scale.origin != before:
                self.viewChanged.emit()
                self.refresh()
                return
        # Only the strips under the old and new playhead (and its frame marker) repaint.
        pad = 8 + int(self.scale.frame_samples / self.scale.samples_per_px)
        for x in (self.scale.x_of(old), self.scale.x_of(t)):
            self.update(int(x) - pad, 0, 2 * pad, self.height())

    # ---- geometry
    def lane_rect(self, key: str) -> QRectF:
        y = 0
        for lane in LANES:
            if lane.key == key:
                return QRectF(0, y, self.width(), lane.height)
            y += lane.height
        raise KeyError(key)

    def lane_at(self, y: float) -> str | None:
        top = 0
        for lane in LANES:
            if top <= y < top + lane.height:
                return lane.key
            top += lane.height
        return None

    def segment_rect(self, seg: SegmentItem) -> QRectF:
        lane = self.lane_rect("foley")
        x0, x1 = self.scale.x_of(seg.start), self.scale.x_of(seg.end)
        return QRectF(x0, lane.top() + 4, max(2.0, x1 - x0), lane.height() - 8)

    def hit_segment(self, pos: QPointF) -> tuple[SegmentItem | None, str]:
        """(segment, part) under pos; part is "left", "right" or "body"."""
        for seg in reversed(self.segments):
            r = self.segment_rect(seg)
            if r.adjusted(-EDGE_PX, 0, EDGE_PX, 0).contains(pos):
                if abs(pos.x() - r.left()) <= EDGE_PX:
                    return seg, "left"
                if abs(pos.x() - r.right()) <= EDGE_PX:
                    return seg, "right"
                if r.contains(pos):
                    return seg, "body"
        return None, ""

    def hit_marker(self, pos: QPointF) -> tuple[SegmentItem, int] | None:
        """(segment, marker time) whose flag is under pos: the lower half of the Foley lane."""
        lane = self.lane_rect("foley")
        if pos.y() < lane.center().y():
            return None
        best = None
        for seg in self.segments:
            for t, *_ in seg.markers:
                dx = abs(self.scale.x_of(t) - pos.x())
                if dx <= MARKER_PX and (best is None or dx < best[0]):
                    best = (dx, seg, t)
        return None if best is None else (best[1], best[2])

    def select_marker(self, seg_id: str | None, t: int | None) -> None:
        self.selected_marker = None if seg_id is None or t is None else (seg_id, int(t))
        self.markerSelected.emit(seg_id or "", -1 if t is None else int(t))
        self.refresh()

    def take_grip_rect(self, seg: SegmentItem) -> QRectF | None:
        """Where a segment's take grip is drawn and grabbed (None: no take, or too narrow)."""
        if not seg.takes:
            return None
        r = self.segment_rect(seg)
        if r.width() < GRIP_W + 2 * EDGE_PX + 16:
            return None
        return QRectF(r.right() - EDGE_PX - GRIP_W - 1, r.top() + 1, GRIP_W, GRIP_H)

    def wants_take_drag(self, seg: SegmentItem, part: str, pos: QPointF,
                        modifiers: Qt.KeyboardModifier) -> bool:
        if not seg.takes:
            return False
        grip = self.take_grip_rect(seg)
        return (grip is not None and grip.contains(pos)) or (
            part == "body" and bool(modifiers & Qt.KeyboardModifier.AltModifier))

    def _edges(self, exclude: str | None) -> list[int]:
        out = [0, self.scale.duration, self.playhead]
        for s in self.segments:
            if s.id != exclude:
                out += [s.start, s.end]
        return out

    # ---- events
    def resizeEvent(self, ev) -> None:
        self.scale.width_px = max(100, self.width())
        if self.has_media and self.scale.samples_per_px > self.scale.max_samples_per_px:
            self.scale.fit()
        self.scale.clamp()
        self.viewChanged.emit()
        super().resizeEvent(ev)

    def wheelEvent(self, ev: QWheelEvent) -> None:
        if not self.has_media:
            return
        delta = ev.angleDelta().y() or ev.angleDelta().x()
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.scale.zoom(1.25 ** (delta / 120), ev.position().x())
        else:
            self.scale.origin -= int(delta / 120 * 60 * self.scale.samples_per_px)
            self.scale.clamp()
        self.viewChanged.emit()
        self.refresh()
        ev.accept()

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        if not self.has_media or ev.button() != Qt.MouseButton.LeftButton:
            return
        pos = ev.position()
        t = self.scale.t_of(pos.x())
        marker = self.hit_marker(pos) if self.lane_at(pos.y()) == "foley" else None
        if marker is not None:
            seg, mt = marker
            self._drag = _Drag("marker", t, seg.id, (mt, mt), (mt, mt))
            if seg.id not in self.selected:
                self.set_selected([seg.id])
            self.select_marker(seg.id, mt)
        elif self.lane_at(pos.y()) == "foley":
            if self.selected_marker is not None:
                self.select_marker(None, None)
            seg, part = self.hit_segment(pos)
            if seg is None:
                start = self.scale.snap(t, self._edges(None))
                self._drag = _Drag("create", start, cur=(start, start))
                if not ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                    self.set_selected([])
            elif self.wants_take_drag(seg, part, pos, ev.modifiers()) and \
                    self.take_drag.press(ev, ("take", seg.id)):
                if seg.id not in self.selected:
                    self.set_selected([seg.id])
            else:
                mode = {"left": "trim-l", "right": "trim-r", "body": "move"}[part]
                self._drag = _Drag(mode, t, seg.id, (seg.start, seg.end), (seg.start, seg.end))
                if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                    sel = [i for i in self.selected if i != seg.id]
                    if seg.id not in self.selected:
                        sel.append(seg.id)
                    self.set_selected(sel)
                elif seg.id not in self.selected:
                    self.set_selected([seg.id])
        else:
            self._drag = _Drag("scrub", t)
            self.seekRequested.emit(self._clamp_t(t))
        self.refresh()

    # ---- drops: a sound file dropped on a segment is pinned to it; anything else (a video)
    # goes on to the window, which opens it.
    def _dropped_sound(self, ev) -> tuple[SegmentItem, str] | None:
        md = ev.mimeData()
        if not md.hasUrls():
            return None
        paths = [u.toLocalFile() for u in md.urls() if u.isLocalFile()]
        sounds = [p for p in paths if p.lower().endswith(SOUND_SUFFIXES)]
        if not sounds:
            return None
        pos = ev.position() if hasattr(ev, "position") else QPointF(ev.pos())
        if self.lane_at(pos.y()) != "foley":
            return None
        seg, _part = self.hit_segment(pos)
        return None if seg is None else (seg, sounds[0])

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls() and any(u.toLocalFile().lower().endswith(SOUND_SUFFIXES)
                                           for u in ev.mimeData().urls()):
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dragMoveEvent(self, ev) -> None:
        if self._dropped_sound(ev) is not None:
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dropEvent(self, ev) -> None:
        hit = self._dropped_sound(ev)
        if hit is None:
            ev.ignore()
            return
        self.soundDropped.emit(hit[0].id, hit[1])
        ev.acceptProposedAction()

    def _clamp_t(self, t: int) -> int:
        return max(0, min(self.scale.duration, t))

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        pos = ev.position()
        if self.take_drag.move(ev):
            return
        d = self._drag
        if d is None:
            seg, part = self.hit_segment(pos) if self.lane_at(pos.y()) == "foley" else (None, "")
            shape = {"left": Qt.CursorShape.SizeHorCursor, "right": Qt.CursorShape.SizeHorCursor,
                     "body": Qt.CursorShape.OpenHandCursor}.get(part, Qt.CursorShape.ArrowCursor)
            grip = seg is not None and self.wants_take_drag(seg, part, pos, ev.modifiers())
            if grip:
                shape = Qt.CursorShape.DragCopyCursor
            tip = ("Drag the active take into your editing app (or Alt+drag the clip)"
                   if grip else "")
            if self.toolTip() != tip:
                self.setToolTip(tip)
            self.setCursor(shape)
            return
        t = self._clamp_t(self.scale.t_of(pos.x()))
        d.moved = True
        if d.mode == "scrub":
            self.seekRequested.emit(t)
            return
        if d.mode == "marker":
            seg = next((x for x in self.segments if x.id == d.seg_id), None)
            if seg is not None:
                # A marker stays inside its segment and lands on a frame boundary.
                m = d.orig[0] + (t - d.anchor_t)
                frame = frame_to_samples(1, self.scale.fps)
                m = round(m / frame) * frame if frame else m
                m = max(seg.start, min(seg.end - 1, m))
                d.cur = (m, m)
            self.refresh()
            return
        edges = self._edges(d.seg_id)
        s0, e0 = d.orig
        if d.mode == "create":
            b = self.scale.snap(t, edges)
            d.cur = (min(d.anchor_t, b), max(d.anchor_t, b))
        elif d.mode == "move":
            length = e0 - s0
            start = s0 + (t - d.anchor_t)
            # Snap whichever edge lands closer to something worth snapping to.
            sa = self.scale.snap(start, edges)
            sb = self.scale.snap(start + length, edges) - length
            start = sa if abs(sa - start) <= abs(sb - start) else sb
            start = max(0, min(self.scale.duration - length, start))
            d.cur = (start, start + length)
        elif d.mode == "trim-l":
            min_len = frame_to_samples(1, self.scale.fps)
            start = min(self.scale.snap(t, edges), e0 - min_len)
            d.cur = (max(0, start), e0)
        elif d.mode == "trim-r":
            min_len = frame_to_samples(1, self.scale.fps)
            end = max(self.scale.snap(t, edges), s0 + min_len)
            d.cur = (s0, min(self.scale.duration, end))
        self.refresh()

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        if self.take_drag.release():
            return
        d, self._drag = self._drag, None
        if d is None:
            return
        s, e = d.cur
        if d.mode == "create":
            if d.moved and e - s >= frame_to_samples(1, self.scale.fps) // 2 and e > s:
                self.createRequested.emit(s, e)
            elif not d.moved:
                self.seekRequested.emit(self._clamp_t(self.scale.t_of(ev.position().x())))
        elif d.mode == "marker" and d.moved and s != d.orig[0]:
            self.selected_marker = (d.seg_id, s)
            self.markerMoveRequested.emit(d.seg_id, d.orig[0], s)
        elif d.mode == "move" and d.moved and (s, e) != d.orig:
            self.moveRequested.emit(d.seg_id, s)
        elif d.mode in ("trim-l", "trim-r") and d.moved and (s, e) != d.orig:
            self.trimRequested.emit(d.seg_id, s, e)
        self.refresh()

    # ---- painting
    def paintEvent(self, ev) -> None:
        key = (self.width(), self.height(), self.scale.origin, self.scale.samples_per_px,
               self.scale.duration)
        if self._layer is None or self._layer_key != key:
            dpr = self.devicePixelRatioF()
            layer = QPixmap(int(self.width() * dpr), int(self.height() * dpr))
            layer.setDevicePixelRatio(dpr)
            lp = QPainter(layer)
            self._paint_static(lp)
            lp.end()
            self._layer, self._layer_key = layer, key
        p = QPainter(self)
        p.drawPixmap(0, 0, self._layer)
        if self.has_media:
            self._paint_frame_marker(p)
            self._paint_playhead(p)
        p.end()

    def _paint_static(self, p: QPainter) -> None:
        p.fillRect(self.rect(), theme.BG_DARK)
        if not self.has_media:
            p.setPen(theme.TEXT_DIM)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "Open a video (Ctrl+O) or drop one on the window")
            return
        self._paint_lane_backgrounds(p)
        self._paint_thumbs(p)
        self._paint_speech(p)
        for key, color in (("original", theme.WAVE_ORIGINAL), ("dialogue", theme.WAVE_DIALOGUE),
                           ("background", theme.WAVE_BACKGROUND)):
            rect = self.lane_rect(key)
            ov = self.overviews.get(key)
            if ov is not None:
                paint_overview(p, rect.adjusted(0, 3, 0, -3), ov, self.scale.origin,
                               self.scale.samples_per_px, color)
                if not ov.complete:
                    self._paint_pending(p, rect, ov)
            elif self.lane_state.get(key):
                p.setPen(theme.TEXT_DIM)
                p.drawText(rect.adjusted(8, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter,
                           self.lane_state[key])
        self._paint_segments(p)
        self._paint_ruler(p)
        self._paint_end(p)
        if self.mark_in is not None:
            x = self.scale.x_of(self.mark_in)
            p.setPen(QPen(theme.ACCENT, 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            p.drawText(QPointF(x + 3, self.lane_rect("foley").top() + 12), "IN")

    def _paint_pending(self, p: QPainter, rect: QRectF, ov: Overview) -> None:
        """The part of a lane whose waveform is still being read, shaded and labelled."""
        x0 = max(rect.left(), self.scale.x_of(ov.end))
        x1 = min(rect.right(), self.scale.x_of(ov.expected_end))
        if x1 <= x0:
            return
        p.fillRect(QRectF(x0, rect.top(), x1 - x0, rect.height()), QColor(255, 255, 255, 14))
        share = ov.end / max(1, ov.expected_end)
        p.setPen(theme.TEXT_DIM)
        p.drawText(QRectF(x0 + 8, rect.top(), max(0.0, x1 - x0 - 8), rect.height()),
                   Qt.AlignmentFlag.AlignVCenter, f"Reading waveform… {share:.0%}")

    def _paint_lane_backgrounds(self, p: QPainter) -> None:
        y = 0
        for i, lane in enumerate(LANES):
            shade = theme.BG if i % 2 else QColor("#1a1b1e")
            p.fillRect(QRectF(0, y, self.width(), lane.height), shade)
            p.setPen(theme.BORDER)
            p.drawLine(0, y + lane.height - 1, self.width(), y + lane.height - 1)
            y += lane.height

    def _visible_frames(self, step_px: float) -> list[tuple[float, int]]:
        sc = self.scale
        out = []
        x = -(sc.x_of(0) % step_px) if sc.x_of(0) < 0 else sc.x_of(0)
        while x < self.width():
            t = sc.t_of(x + step_px / 2)
            if 0 <= t < sc.duration:
                out.append((x, samples_to_frame(t, sc.fps)))
            x += step_px
        return out

    def _paint_thumbs(self, p: QPainter) -> None:
        rect = self.lane_rect("thumbs")
        h = rect.height() - 4
        w = max(8.0, h * self.thumb_aspect)
        missing = []
        end_x = self.scale.x_of(self.scale.duration)
        p.save()
        p.setClipRect(QRectF(rect.left(), rect.top(), min(rect.width(), end_x), rect.height()))
        for x, frame in self._visible_frames(w):
            img = self.thumbs.get(frame)
            target = QRectF(x, rect.top() + 2, w - 1, h)
            if img is None:
                missing.append(frame)
                p.fillRect(target, QColor("#26282c"))
            else:
                p.drawImage(target, img)
        p.restore()
        if missing:
            self.thumbnailsWanted.emit(missing)

    def _paint_speech(self, p: QPainter) -> None:
        rect = self.lane_rect("original")
        for s, e in self.speech:
            x0, x1 = self.scale.x_of(s), self.scale.x_of(e)
            if x1 < 0 or x0 > self.width():
                continue
            p.fillRect(QRectF(x0, rect.top(), x1 - x0, rect.height()), theme.SPEECH)
            p.fillRect(QRectF(x0, rect.top(), x1 - x0, 3), QColor(120, 200, 255, 200))

    def _paint_segments(self, p: QPainter) -> None:
        lane = self.lane_rect("foley")
        items = list(self.segments)
        d = self._drag
        preview = None
        if d is not None and d.mode in ("move", "trim-l", "trim-r") and d.moved:
            items = [SegmentItem(s.id, *d.cur, s.label, s.takes, s.active_overview, s.markers)
                     if s.id == d.seg_id else s for s in items]
        if d is not None and d.mode == "marker" and d.moved:
            items = [SegmentItem(s.id, s.start, s.end, s.label, s.takes, s.active_overview,
                                 tuple((d.cur[0], k, "user", g) if t == d.orig[0]
                                       else (t, k, src, g) for t, k, src, g in s.markers))
                     if s.id == d.seg_id else s for s in items]
        if d is not None and d.mode == "create" and d.moved and d.cur[1] > d.cur[0]:
            preview = d.cur
        p.setFont(self._font)
        for seg in items:
            r = self.segment_rect(seg)
            if r.right() < 0 or r.left() > self.width():
                continue
            sel = seg.id in self.selected
            p.fillRect(r, theme.SEGMENT_SELECTED if sel else theme.SEGMENT_FILL)
            if seg.active_overview is not None:
                paint_overview(p, r.adjusted(0, 14, 0, -2), seg.active_overview,
                               self.scale.origin, self.scale.samples_per_px, QColor("#2a1a05"),
                               clip_x=(r.left(), r.right()))
            p.setPen(QPen(theme.SELECTION if sel else theme.SEGMENT, 2 if sel else 1))
            p.drawRect(r)
            p.setPen(QColor("#111") if sel else theme.TEXT)
            label = seg.label or "(no prompt)"
            if seg.takes:
                label += f"  [{seg.takes} take{'s' if seg.takes > 1 else ''}]"
            grip = self.take_grip_rect(seg)
            p.save()
            p.setClipRect(r.adjusted(3, 0, -(3 + (GRIP_W + EDGE_PX if grip else 0)), 0))
            p.drawText(r.adjusted(4, 1, -2, 0), Qt.AlignmentFlag.AlignTop, label)
            p.restore()
            if grip is not None:
                self._paint_grip(p, grip, QColor("#111") if sel else theme.TEXT)
            self._paint_markers(p, seg, r)
        if preview:
            x0, x1 = self.scale.x_of(preview[0]), self.scale.x_of(preview[1])
            r = QRectF(x0, lane.top() + 4, x1 - x0, lane.height() - 8)
            p.fillRect(r, QColor(74, 163, 255, 90))
            p.setPen(QPen(theme.ACCENT, 1, Qt.PenStyle.DashLine))
            p.drawRect(r)

    def _paint_markers(self, p: QPainter, seg: SegmentItem, r: QRectF) -> None:
        """A spotting marker: a line up from the flag, as tall as the marker is strong (a full
        one reaches the segment's label), and a flag at the bottom (yellow: placed by the
        editor; cyan: proposed by auto-spot; white: selected)."""
        if not seg.markers:
            return
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for t, kind, src, strength in seg.markers:
            x = self.scale.x_of(t)
            if x < r.left() - 1 or x > r.right() + 1:
                continue
            sel = self.selected_marker == (seg.id, t)
            # Whose it is stays readable when selected (the colour); selection is the white
            # outline and a thicker line. A dark edge keeps a yellow flag apart from an orange
            # segment and a waveform.
            col = MARKER_AUTO if src == "auto" else MARKER_USER
            top = r.bottom() - max(0.1, strength) * (r.height() - 14)
            p.setPen(QPen(MARKER_EDGE, 4 if sel else 3))
            p.drawLine(QPointF(x, top), QPointF(x, r.bottom()))
            p.setPen(QPen(col, 2 if sel else 1))
            p.drawLine(QPointF(x, top), QPointF(x, r.bottom()))
            flag = QPolygonF([QPointF(x, r.bottom() - 9), QPointF(x + 6, r.bottom() - 5),
                              QPointF(x, r.bottom() - 1)])
            p.setBrush(col)
            p.setPen(QPen(QColor("#ffffff") if sel else MARKER_EDGE, 1.5 if sel else 1))
            p.drawPolygon(flag)
            if kind != "other":
                p.setPen(col)
                p.drawText(QPointF(x + 7, r.bottom() - 2), "F" if kind == "footstep" else "H")
        p.restore()

    @staticmethod
    def _paint_grip(p: QPainter, r: QRectF, color: QColor) -> None:
        """Two columns of three dots: the usual sign of something that can be dragged."""
        p.save()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        for cx in (r.left() + r.width() * 0.35, r.left() + r.width() * 0.65):
            for k in range(3):
                p.drawEllipse(QPointF(cx, r.top() + r.height() * (0.25 + 0.25 * k)), 1.3, 1.3)
        p.restore()

    def _paint_ruler(self, p: QPainter) -> None:
        sc = self.scale
        rect = self.lane_rect("ruler")
        p.fillRect(rect, theme.BG_LIGHT)
        major, minor = sc.ruler_step()
        f0 = max(0, samples_to_frame(max(0, sc.origin), sc.fps) // minor * minor)
        f1 = samples_to_frame(min(sc.duration, sc.visible_end), sc.fps) + minor
        # All ticks in one vectorised pass and two drawLines calls: per-tick Fractions cost
        # ~6 ms a repaint, and the playhead's follow-scroll repaints the layer every page.
        frames = np.arange(f0, f1 + 1, minor, dtype=np.int64)
        ts = frames_to_samples(frames, sc.fps)
        keep = ts <= sc.duration
        frames, ts = frames[keep], ts[keep]
        xs = (ts - sc.origin) / sc.samples_per_px
        is_major = frames % major == 0
        bottom = rect.bottom()
        p.setPen(theme.BORDER)
        p.drawLines([QLineF(x, bottom - 4, x, bottom) for x in xs[~is_major].tolist()])
        p.setPen(theme.TEXT_DIM)
        p.drawLines([QLineF(x, bottom - 10, x, bottom) for x in xs[is_major].tolist()])
        p.setFont(self._font)
        p.setPen(theme.TEXT)
        for x, t in zip(xs[is_major].tolist(), ts[is_major].tolist()):
            p.drawText(QPointF(x + 3, rect.top() + 11), samples_to_timecode(t, sc.fps))

    def _paint_frame_marker(self, p: QPainter) -> None:
        """The playhead's frame shaded on the ruler when zoomed in to single frames."""
        sc = self.scale
        rect = self.lane_rect("ruler")
        px_frame = sc.frame_samples / sc.samples_per_px
        if px_frame >= 24:
            f = samples_to_frame(self.playhead, sc.fps)
            x0 = sc.x_of(frame_to_samples(f, sc.fps))
            x1 = sc.x_of(frame_to_samples(f + 1, sc.fps))
            p.fillRect(QRectF(x0, rect.bottom() - 4, x1 - x0, 4), QColor(255, 79, 79, 120))

    def _paint_end(self, p: QPainter) -> None:
        x = self.scale.x_of(self.scale.duration)
        if x < self.width():
            p.fillRect(QRectF(x, 0, self.width() - x, self.height()), QColor(0, 0, 0, 110))

    def _paint_playhead(self, p: QPainter) -> None:
        x = self.scale.x_of(self.playhead)
        if -2 <= x <= self.width() + 2:
            p.setPen(QPen(theme.PLAYHEAD, 1))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            p.setBrush(theme.PLAYHEAD)
            p.drawPolygon([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 7)])
