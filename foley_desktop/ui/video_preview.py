"""Video preview: frames decoded off the GUI thread, shown letterboxed with the timecode.

Paused (seek, scrub, frame step) each frame comes from `media.read_frame_at` with at most one
decode in flight: a newer request replaces a pending one, so scrubbing never queues up work.
Playing, one worker decodes ahead into a small queue (`media.iter_video_frames`; backwards, in
half-second runs queued in reverse) and the clock picks the frame due now, dropping late ones.
The worker reads the clock too (`DueFrame`): it skips the frames that would reach the screen
too late instead of converting them, so a decoder short of CPU drops frames and stays on the
clock rather than falling further behind it. Frames leave the worker as 32-bit QImages, so the
GUI thread only copies them to the screen.
"""

from __future__ import annotations

import itertools
import queue
import time
from fractions import Fraction

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from foley_desktop.errors import MediaError
from foley_desktop.jobs import CancelToken
from foley_desktop.media.timebase import frame_to_samples, samples_to_frame, samples_to_timecode
from foley_desktop.ui import theme
from foley_desktop.ui.workers import Runner, make_pool

DECODE_BOX = (960, 540)  # preview frames are decoded at most this large


def to_qimage(arr: np.ndarray) -> QImage:
    """Copy an RGB array into a QImage that owns its pixels.

    Not QImage(buffer, ...): wrapping a Python buffer corrupted reference counts under load
    (a "deallocating None" abort with frames decoded on two threads), and the copy is cheap.
    """
    h, w, _ = arr.shape
    img = QImage(w, h, QImage.Format.Format_RGB888)
    bpl = img.bytesPerLine()  # rows are padded to 4 bytes
    rows = np.frombuffer(img.bits(), np.uint8, count=bpl * h).reshape(h, bpl)
    rows[:, : w * 3] = arr.reshape(h, w * 3)
    return img


def decode_size(width: int, height: int, box: tuple[int, int] = DECODE_BOX) -> tuple[int, int]:
    scale = min(1.0, box[0] / width, box[1] / height)
    # Even sizes: some scalers dislike odd chroma dimensions.
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def screen_image(arr: np.ndarray) -> QImage:
    """A frame in the format the screen paints without converting (32-bit, opaque).

    Done on the decoding thread: drawing an RGB888 image converts every pixel on the GUI
    thread at every paint (3x the cost of drawing RGB32, measured).
    """
    return to_qimage(arr).convertToFormat(QImage.Format.Format_RGB32)


DECODE_NICE = 5  # how much nicer than the app's main thread the decoding thread runs


def _yield_cpu_to_gui() -> None:
    """Lower this decoding thread's scheduling priority a little below the app's own (the main
    thread's nice + DECODE_NICE), so the GUI thread and the audio callback get the CPU first;
    a late frame is dropped by the clock, a late event loop stalls everything.

    Relative to the app, not an absolute nice 5: an app started as a foreground program (a few
    steps up) had its decoder put 10 steps below its GUI thread and below every batch job on
    the machine, and backwards play fell 10-20 frames behind the sound next to two busy
    processes."""
    from foley_desktop.ui.workers import lower_thread_priority

    lower_thread_priority(DECODE_NICE)


def _frame_job(path: str, t: int, size: tuple[int, int], frame: int) -> tuple[int, QImage]:
    from foley_desktop.media.decode import read_frame_at

    _yield_cpu_to_gui()
    return frame, screen_image(read_frame_at(path, t, size))


class DueFrame:
    """The frame the clock wants on screen now, shared by the GUI thread (which writes it as the
    transport moves) and the decoding worker (which reads it to skip frames that would be
    late). One int attribute: reading and writing it is atomic in Python."""

    def __init__(self, frame: int) -> None:
        self.frame = frame

    def late(self, frame: int, direction: int) -> bool:
        """Whether `frame` is already behind the clock along the play direction."""
        return (frame - self.frame) * direction < 0


def _put(out: queue.Queue, item, cancel: CancelToken) -> bool:
    """Queue one frame, waiting while the queue is full; False once cancelled."""
    while not cancel.cancelled:
        try:
            out.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


# Forwards, a decoder this many frames behind the clock starts again ahead of it (a seek costs
# about a GOP of decoding; converting frames that are already late costs more).
CATCH_UP = 4


def _stream_job(path: str, fps: Fraction, size, first: int, out: queue.Queue,
                cancel: CancelToken, direction: int = 1, due: DueFrame | None = None,
                last: int | None = None) -> None:
    """Decode ahead from `first` into `out` (bounded: it waits while the queue is full).

    Backwards (J), video can only be decoded forwards from a keyframe: the job decodes the
    half second before the last frame it queued, forwards, and queues those frames in reverse
    order, then the half second before that, and so on.

    With `due` (the clock), frames that would be late are not made: backwards, a run ends at
    the frame due now (the frames after it were due before it); each frame is checked again
    before its conversion to a screen image; forwards, a decoder CATCH_UP frames behind starts
    again ahead of the clock, as far ahead as it fell behind in the time its last catch-up
    took (never past `last`, the clip's last frame).
    """
    from foley_desktop.media.decode import iter_video_frames

    _yield_cpu_to_gui()
    if due is None:
        due = DueFrame(first)
    if direction > 0:
        start, lead = first, CATCH_UP
        while not cancel.cancelled:
            began = time.monotonic()
            frames = iter_video_frames(path, fps, size, frame_to_samples(start, fps),
                                       cancel=cancel)
            try:
                head = next(frames, None)
            except MediaError:
                if start == first:
                    raise
                return  # caught up past the video's last frame (its sound runs longer)
            restart = None
            for k, arr in enumerate(itertools.chain([head] if head is not None else [], frames)):
                frame = start + k
                if k == 0 and start != first:
                    # Frames the clock moved on while this catch-up sought and decoded: the
                    # next one starts that much further ahead.
                    lead = max(CATCH_UP, round((time.monotonic() - began) * float(fps)) + 2)
                if due.frame - frame >= CATCH_UP and (last is None or due.frame < last):
                    restart = due.frame + lead if last is None else min(last, due.frame + lead)
                    break
                if not _put(out, (frame, screen_image(arr)), cancel):
                    return
            frames.close()
            if restart is None:
                return
            start = restart
        return
    chunk = max(4, round(float(fps) / 2))
    end = first + 1  # frames [a, end) decoded per round
    while end > 0 and not cancel.cancelled:
        end = max(1, min(end, due.frame + 1))  # frames after the one due now would be late
        a = max(0, end - chunk)
        arrs = list(iter_video_frames(path, fps, size, frame_to_samples(a, fps),
                                      frame_to_samples(end, fps), cancel=cancel))
        for k in range(len(arrs) - 1, -1, -1):
            if due.late(a + k, -1):
                continue
            if not _put(out, (a + k, screen_image(arrs[k])), cancel):
                return
        end = a


Roi = tuple[int, int, int, int]   # x, y, w, h in pixels of the video frame
MIN_REGION = 4                    # a drag smaller than this (video pixels) picks nothing
# Cyan like auto-spot's marker flags on the timeline: what auto-spot looks at.
REGION_COLOR = QColor("#4fd8ff")
REGION_HINT = "Drag a rectangle around what auto-spot should watch · Esc cancels"


class FrameView(QWidget):
    """Paints the current frame, letterboxed, on black; draws a segment's auto-spot region
    and, in region mode, lets the editor drag a new one.

    Frames are decoded at the size they are shown (see VideoPreview.fit_size), so painting is
    a plain copy: smooth-scaling a large frame on the GUI thread every frame stalled the loop.
    Regions are in pixels of the video frame (`source`, the clip's display size), mapped to
    the letterboxed picture on screen both ways.
    """

    resized = Signal()
    regionPicked = Signal(object)   # (x, y, w, h) in video pixels
    regionCancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.message = "No clip open"
        self.source: tuple[int, int] | None = None   # the video frame's size in pixels
        self.region: Roi | None = None               # drawn as an outline
        self.picking = False                         # region mode: a drag picks a region
        self._drag: tuple[QPointF, QPointF] | None = None
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    # ---- geometry: the letterboxed picture and video pixels
    def picture_rect(self) -> QRectF:
        """Where the picture lies in the widget (its letterbox), as `paintEvent` draws it."""
        if self.image is not None:
            iw, ih = self.image.width(), self.image.height()
        elif self.source is not None:
            iw, ih = self.source
        else:
            return QRectF(self.rect())
        s = min(self.width() / iw, self.height() / ih)
        if self.image is not None and abs(s - 1) < 0.02:
            return QRectF(int((self.width() - iw) / 2), int((self.height() - ih) / 2), iw, ih)
        w, h = iw * s, ih * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_video(self, pos: QPointF) -> tuple[float, float]:
        """A widget position as video pixels (clamped to the frame)."""
        sw, sh = self.source or (1, 1)
        r = self.picture_rect()
        x = (pos.x() - r.left()) / max(r.width(), 1e-9) * sw
        y = (pos.y() - r.top()) / max(r.height(), 1e-9) * sh
        return min(max(x, 0.0), float(sw)), min(max(y, 0.0), float(sh))

    def to_widget(self, roi: Roi) -> QRectF:
        """A region in video pixels as a rectangle on the widget."""
        sw, sh = self.source or (1, 1)
        r = self.picture_rect()
        sx, sy = r.width() / sw, r.height() / sh
        x, y, w, h = roi
        return QRectF(r.left() + x * sx, r.top() + y * sy, w * sx, h * sy)

    def region_between(self, a: QPointF, b: QPointF) -> Roi | None:
        """The region (video pixels) dragged from `a` to `b`; None when too small."""
        (x0, y0), (x1, y1) = self.to_video(a), self.to_video(b)
        left, top = round(min(x0, x1)), round(min(y0, y1))
        right, bottom = round(max(x0, x1)), round(max(y0, y1))
        if right - left < MIN_REGION or bottom - top < MIN_REGION:
            return None
        return left, top, right - left, bottom - top

    # ---- region mode
    def begin_region(self) -> None:
        self.picking = True
        self._drag = None
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocus(Qt.FocusReason.OtherFocusReason)
        self.update()

    def end_region(self) -> None:
        self.picking = False
        self._drag = None
        self.unsetCursor()
        self.update()

    def mousePressEvent(self, ev) -> None:
        if self.picking and ev.button() == Qt.MouseButton.LeftButton:
            self._drag = (ev.position(), ev.position())
            self.update()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:
        if self.picking and self._drag is not None:
            self._drag = (self._drag[0], ev.position())
            self.update()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:
        if self.picking and self._drag is not None and ev.button() == Qt.MouseButton.LeftButton:
            roi = self.region_between(self._drag[0], ev.position())
            if roi is None:   # a click, not a drag: stay in region mode
                self._drag = None
                self.update()
                return
            self.end_region()
            self.regionPicked.emit(roi)
            return
        super().mouseReleaseEvent(ev)

    def keyPressEvent(self, ev) -> None:
        if self.picking and ev.key() == Qt.Key.Key_Escape:
            self.end_region()
            self.regionCancelled.emit()
            return
        super().keyPressEvent(ev)

    def sizeHint(self) -> QSize:
        return QSize(800, 450)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self.resized.emit()

    def paintEvent(self, ev) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        if self.image is None:
            p.setPen(theme.TEXT_DIM)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
        else:
            iw, ih = self.image.width(), self.image.height()
            s = min(self.width() / iw, self.height() / ih)
            if abs(s - 1) < 0.02:  # decoded at this size: copy it, centred
                p.drawImage(int((self.width() - iw) / 2), int((self.height() - ih) / 2),
                            self.image)
            else:  # until the frame decoded for a new window size arrives
                w, h = iw * s, ih * s
                p.drawImage(QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h),
                            self.image)
        if self.source is not None:
            self._paint_region(p)
        p.end()

    def _paint_region(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if self.picking:
            p.fillRect(self.picture_rect(), QColor(0, 0, 0, 70))
        shown = None
        if self.picking and self._drag is not None:
            shown = QRectF(self._drag[0], self._drag[1]).normalized()
        elif self.region is not None:
            shown = self.to_widget(self.region)
        if shown is not None:
            # A dark edge under the bright outline: readable on light and dark pictures.
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(0, 0, 0, 200), 4))
            p.drawRect(shown)
            p.setPen(QPen(REGION_COLOR, 2, Qt.PenStyle.DashLine if self.picking
                          else Qt.PenStyle.SolidLine))
            p.drawRect(shown)
            if not self.picking and self.region is not None:
                label = "auto-spot region"
                fm = p.fontMetrics()
                box = QRectF(shown.left(), shown.top() - fm.height() - 4,
                             fm.horizontalAdvance(label) + 8, fm.height() + 4)
                if box.top() < 0:
                    box.moveTop(shown.top())
                p.fillRect(box, QColor(0, 0, 0, 170))
                p.setPen(REGION_COLOR)
                p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
        if self.picking:
            fm = p.fontMetrics()
            box = QRectF(0, 0, self.width(), fm.height() + 10)
            p.fillRect(box, QColor(0, 0, 0, 190))
            p.setPen(REGION_COLOR)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, REGION_HINT)


class VideoPreview(QWidget):
    """Frame view plus transport controls; follows a `Transport`."""

    frameShown = Signal(int)
    regionPicked = Signal(object)   # (x, y, w, h) in video pixels, from region mode
    regionCancelled = Signal()

    def __init__(self, transport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.transport = transport
        self.view = FrameView()
        self.view.regionPicked.connect(self.regionPicked)
        self.view.regionCancelled.connect(self.regionCancelled)
        self.runner = Runner(make_pool(1, "preview"), self)
        self.path: str | None = None
        self.fps = Fraction(25)
        self.size_: tuple[int, int] = DECODE_BOX
        self.shown = -1  # frame index on screen
        self._in_flight = False
        self._wanted: int | None = None
        self._stream: tuple[CancelToken, queue.Queue, int, int, DueFrame] | None = None
        self._stream_last = -1

        self.play_btn = QToolButton(text="▶")
        self.play_btn.setToolTip("Play / pause (Space)")
        self.play_btn.clicked.connect(transport.toggle)
        prev_btn = QToolButton(text="◀|")
        prev_btn.setToolTip("Previous frame (Left)")
        prev_btn.clicked.connect(lambda: transport.step(-1))
        next_btn = QToolButton(text="|▶")
        next_btn.setToolTip("Next frame (Right)")
        next_btn.clicked.connect(lambda: transport.step(1))
        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setToolTip("Scrub")
        self.scrub.setRange(0, 0)
        self.scrub.valueChanged.connect(self._scrubbed)
        self.timecode = QLabel("00:00:00:00")
        self.timecode.setObjectName("timecode")
        self.timecode.setToolTip("Current timecode (HH:MM:SS:FF)")
        self.duration_lbl = QLabel("")
        self.duration_lbl.setStyleSheet(f"color: {theme.TEXT_DIM.name()}; font-family: monospace;")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for w in (prev_btn, self.play_btn, next_btn):
            bar.addWidget(w)
        bar.addWidget(self.scrub, 1)
        bar.addWidget(self.timecode)
        bar.addWidget(self.duration_lbl)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.view, 1)
        lay.addLayout(bar)

        self._src = (16, 9)
        self._resize_timer = QTimer(self)  # re-decode once a resize settles
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(150)
        self._resize_timer.timeout.connect(self._apply_size)
        self.view.resized.connect(self._resize_timer.start)
        self._poll = QTimer(self)  # drains the streaming queue while playing
        self._poll.setInterval(10)
        self._poll.timeout.connect(self._drain)
        transport.positionChanged.connect(self.show_time)
        transport.playingChanged.connect(self._playing_changed)

    # ---- media
    def set_media(self, path: str, fps: Fraction, width: int, height: int, duration: int,
                  timecode_fps: Fraction | None = None) -> None:
        self._stop_stream()
        self.path = path
        self.fps = fps
        self._src = (width, height)
        self.view.source = (width, height)
        self.view.region = None
        if self.view.picking:
            self.cancel_region()
        self.size_ = self.fit_size()
        self.shown = -1
        self.view.image = None
        self.view.message = "Decoding…"
        self.scrub.blockSignals(True)
        self.scrub.setRange(0, max(0, samples_to_frame(max(0, duration - 1), fps)))
        self.scrub.setValue(0)
        self.scrub.blockSignals(False)
        self.duration_lbl.setText("/ " + samples_to_timecode(duration, fps))
        self.show_time(0, force=True)
        self.view.update()

    # ---- the auto-spot region (video pixels)
    def set_region(self, roi: Roi | None) -> None:
        """The outline drawn on the picture (the selected segment's region; None: none)."""
        roi = None if roi is None else (int(roi[0]), int(roi[1]), int(roi[2]), int(roi[3]))
        if roi != self.view.region:
            self.view.region = roi
            self.view.update()

    @property
    def region(self) -> Roi | None:
        return self.view.region

    @property
    def picking_region(self) -> bool:
        return self.view.picking

    def begin_region(self) -> bool:
        """Region mode: the next drag on the picture picks a region (regionPicked); Esc
        cancels (regionCancelled). False when no clip is shown."""
        if self.path is None or self.view.source is None:
            return False
        self.transport.stop()
        self.view.begin_region()
        return True

    def cancel_region(self) -> None:
        if self.view.picking:
            self.view.end_region()
            self.regionCancelled.emit()

    def fit_size(self) -> tuple[int, int]:
        """The source's aspect fitted into the view (device pixels), at most DECODE_BOX."""
        dpr = self.view.devicePixelRatioF()
        box = (min(DECODE_BOX[0], int(self.view.width() * dpr)),
               min(DECODE_BOX[1], int(self.view.height() * dpr)))
        w, h = self._src
        scale = min(box[0] / w, box[1] / h)
        return max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)

    def _apply_size(self) -> None:
        if self.path is None:
            return
        size = self.fit_size()
        if size != self.size_:
            self.size_ = size
            if self._stream is not None:
                self._start_stream(samples_to_frame(self.transport.position, self.fps))
            else:
                self.show_time(self.transport.position, force=True)

    def _scrubbed(self, frame: int) -> None:
        self.transport.stop()
        self.transport.seek(frame_to_samples(frame, self.fps))

    def show_time(self, t: int, force: bool = False) -> None:
        frame = samples_to_frame(t, self.fps)
        self.timecode.setText(samples_to_timecode(frame_to_samples(frame, self.fps), self.fps))
        self.scrub.blockSignals(True)
        self.scrub.setValue(frame)
        self.scrub.blockSignals(False)
        if self.path is None or (frame == self.shown and not force):
            return
        if self._stream is not None:
            self._drain()
            return
        self._request(frame)

    # ---- paused: one accurate seek at a time, newest wins
    def _request(self, frame: int) -> None:
        if self._in_flight:
            self._wanted = frame
            return
        self._in_flight = True
        self.runner.submit(_frame_job, self.path, frame_to_samples(frame, self.fps), self.size_,
                           frame, on_done=self._got_frame, on_error=self._frame_failed)

    def _got_frame(self, result) -> None:
        self._in_flight = False
        frame, image = result
        self._show(frame, image)
        wanted, self._wanted = self._wanted, None
        if wanted is not None and wanted != frame and self._stream is None:
            self._request(wanted)

    def _frame_failed(self, exc: BaseException) -> None:
        self._in_flight = False
        self._wanted = None
        self.view.image = None
        self.view.message = f"Cannot show this frame: {exc}"
        self.view.update()

    def _show(self, frame: int, image: QImage) -> None:
        self.shown = frame
        self.view.image = image
        self.view.update()
        self.frameShown.emit(frame)

    # ---- playing: stream frames in order
    def _playing_changed(self, playing: bool) -> None:
        if playing and self.path is not None:
            self._start_stream(samples_to_frame(self.transport.position, self.fps))
        else:
            self._stop_stream()
            self.show_time(self.transport.position, force=True)

    def _start_stream(self, first: int) -> None:
        self._stop_stream()
        direction = 1 if self.transport.rate >= 0 else -1
        # Backwards, a whole half-second run arrives at once: room for it plus the next.
        token, q = CancelToken(), queue.Queue(maxsize=6 if direction > 0 else 40)
        due = DueFrame(first)
        self._stream = (token, q, first, direction, due)
        self._stream_last = first - direction
        self.runner.submit(_stream_job, self.path, self.fps, self.size_, first, q, token,
                           direction, due, self.scrub.maximum(), on_error=self._stream_failed)
        self._poll.start()

    def _stop_stream(self) -> None:
        self._poll.stop()
        if self._stream is not None:
            self._stream[0].cancel()
            self._stream = None

    def _stream_failed(self, exc: BaseException) -> None:
        from foley_desktop.errors import Cancelled

        if not isinstance(exc, Cancelled):
            self._frame_failed(exc)

    def _drain(self) -> None:
        if self._stream is None:
            return
        _token, q, first, d, due = self._stream
        want = samples_to_frame(self.transport.position, self.fps)
        due.frame = want
        if (want - first) * d < 0 or (want - self._stream_last) * d > 2 * float(self.fps):
            # Jumped away from where the stream is (a seek while playing, or a shuttle speed
            # the decoder cannot keep up with): restart there.
            self._start_stream(want)
            return
        if (self.transport.rate >= 0) != (d > 0):
            self._start_stream(want)  # the direction changed (J after L)
            return
        best = None
        while True:
            try:
                head = q.queue[0] if q.queue else None
            except IndexError:
                head = None
            if head is None or (head[0] - want) * d > 0:  # not due yet
                break
            best = q.get_nowait()
            self._stream_last = best[0]
        if best is not None and best[0] != self.shown:
            self._show(*best)

    def shutdown(self) -> None:
        self._resize_timer.stop()
        self._stop_stream()
        self.runner.shutdown()
