"""Jobs panel: one row per job with state, progress, ETA, and cancel / retry.

Built to stay cheap with a hundred queued jobs: text cells are plain table items and the
progress bar is painted by a delegate; the cancel / retry buttons (the only widgets, and the
costly part of a row) are made for the rows in view only, as they come into view; columns have
fixed widths, so changing one cell never re-measures every row; rows for a burst of new jobs
are built a batch per event-loop turn; and progress (which can arrive for every sampler step)
is shown at most `REFRESH_MS` apart, only for the rows that changed. A change of state (done,
failed, cancelled) shows at once.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from foley_desktop.ui import workers as w

STATE_COLORS = {w.QUEUED: "#8b8f97", w.RUNNING: "#4aa3ff", w.DONE: "#6cc3a0",
                w.FAILED: "#ff6b6b", w.CANCELLED: "#c9a227"}
FRACTION_ROLE = Qt.ItemDataRole.UserRole + 1


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d} left" if s >= 60 else f"{s} s left"


def state_text(job: w.Job) -> str:
    if job.state == w.RUNNING and job.progress is not None:
        return f"running: {job.progress.stage}"
    return job.state


class _ProgressDelegate(QStyledItemDelegate):
    """Paints the progress cell as a progress bar (no widget per row)."""

    def paint(self, painter, option, index) -> None:
        fraction = index.data(FRACTION_ROLE) or 0.0
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(2, 3, -2, -3))
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(fraction * 1000)
        bar.text = f"{fraction * 100:.0f}%"
        bar.textVisible = True
        # Inside the bar, centred: Fusion otherwise draws it beside the bar, over the next cell.
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state
        bar.palette = option.palette
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


class JobsPanel(QWidget):
    COLS = ("Job", "State", "Progress", "ETA", "")
    # px; None: shares what is left. The panel sits beside the preview (~430 px): fixed widths
    # summing past that hid ETA behind a scroll bar.
    WIDTHS = (None, None, 80, 70, 120)
    REFRESH_MS = 50  # progress repaints at most 20 times a second
    ROWS_PER_TURN = 16  # rows built per event-loop turn when many jobs arrive at once
    BUTTONS_PER_TURN = 6  # rows given their buttons per turn (a row's widgets cost ~1 ms)

    def __init__(self, queue: w.JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.table = QTableWidget(0, len(self.COLS))
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # One line a row, cut in the middle ("Generate “footsteps…gravel” (2×)"): wrapped titles
        # were cut at the row's height; the whole text is in the tooltip.
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setItemDelegateForColumn(2, _ProgressDelegate(self.table))
        hh = self.table.horizontalHeader()
        for c, width in enumerate(self.WIDTHS):
            if width is None:
                hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
            else:
                hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
                hh.resizeSection(c, width)
        self.rows: dict[int, int] = {}  # job id -> row
        self._row_jobs: list[w.Job] = []  # row -> job
        self._buttons: dict[int, tuple[QPushButton, QPushButton]] = {}
        self._shown_state: dict[int, str] = {}
        self._waiting: list[w.Job] = []  # added, row not built yet
        self._dirty: set[int] = set()  # rows whose progress changed since the last refresh
        self._add_timer = QTimer(self)
        self._add_timer.setSingleShot(True)
        self._add_timer.setInterval(0)
        self._add_timer.timeout.connect(self._build_rows)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(self.REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_dirty)
        self._view_timer = QTimer(self)  # buttons for rows scrolled or resized into view
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(0)
        self._view_timer.timeout.connect(self._ensure_buttons)
        self.table.verticalScrollBar().valueChanged.connect(lambda _v: self._view_timer.start())
        self._scroll_to_new = True  # the first row of a burst is scrolled into view
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.table)
        queue.jobAdded.connect(self._add)
        queue.jobChanged.connect(self._changed)
        queue.stopped.connect(self._stop)
        queue.jobsForgotten.connect(self._forget)

    # ---- rows
    def _add(self, job: w.Job) -> None:
        # Built on the next turn of the event loop, with whatever else was added meanwhile.
        self._waiting.append(job)
        if not self._add_timer.isActive():
            self._add_timer.start()

    def _build_rows(self) -> None:
        batch, self._waiting = self._waiting[:self.ROWS_PER_TURN], self._waiting[self.ROWS_PER_TURN:]
        for job in batch:
            self._build_row(job)
        if batch and self._scroll_to_new:
            self._scroll_to_new = False
            self.table.scrollToItem(self.table.item(self.rows[batch[0].id], 0))
        if self._waiting:
            self._add_timer.start()
        else:
            self._scroll_to_new = True
        self._ensure_buttons()

    def _build_row(self, job: w.Job) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.rows[job.id] = row
        title = QTableWidgetItem(job.title)
        title.setToolTip(job.title)
        self.table.setItem(row, 0, title)
        self.table.setItem(row, 1, QTableWidgetItem())
        self.table.setItem(row, 2, QTableWidgetItem())
        self.table.setItem(row, 3, QTableWidgetItem())
        self._row_jobs.append(job)
        self._show(job)

    def _visible_rows(self) -> range:
        n = self.table.rowCount()
        if n == 0:
            return range(0)
        first = max(0, self.table.rowAt(0))
        last = self.table.rowAt(self.table.viewport().height() - 1)
        if last < 0:  # the rows end above the bottom of the view (or it has no size yet)
            last = min(n - 1, first + 40)
        return range(first, last + 1)

    def _ensure_buttons(self) -> None:
        made = 0
        for row in self._visible_rows():
            job = self._row_jobs[row]
            if job.id not in self._buttons:
                if made == self.BUTTONS_PER_TURN:
                    self._view_timer.start()  # the rest on the next turn
                    return
                self._make_buttons(row, job)
                made += 1

    def _make_buttons(self, row: int, job: w.Job) -> None:
        buttons = QWidget()
        bl = QHBoxLayout(buttons)
        bl.setContentsMargins(0, 0, 0, 0)
        cancel = QPushButton("Cancel")
        cancel.setObjectName(f"cancel-{job.id}")
        cancel.clicked.connect(lambda _=False, j=job.id: self.queue.cancel(j))
        retry = QPushButton("Retry")
        retry.setObjectName(f"retry-{job.id}")
        retry.clicked.connect(lambda _=False, j=job.id: self.queue.retry(j))
        bl.addWidget(cancel)
        bl.addWidget(retry)
        self.table.setCellWidget(row, 4, buttons)
        self._buttons[job.id] = (cancel, retry)
        self._show_buttons(job)

    # ---- updates
    def _changed(self, job: w.Job) -> None:
        if job.id not in self.rows:
            return  # its row is built from the job as it is then
        if self._shown_state.get(job.id) != job.state:
            self._show(job)  # a new state (and its buttons) shows at once
            self._dirty.discard(job.id)
        else:
            self._dirty.add(job.id)
            if not self._refresh_timer.isActive():
                self._refresh_timer.start()

    def _refresh_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for job_id in dirty:
            if job_id in self.rows:
                self._show(self._row_jobs[self.rows[job_id]])

    def _forget(self, ids: list[int]) -> None:
        """Drop the rows of jobs the queue forgot (a batch at a time: renumbering is O(n))."""
        gone = set(ids)
        self._waiting = [j for j in self._waiting if j.id not in gone]
        for row in sorted((self.rows[i] for i in gone if i in self.rows), reverse=True):
            self.table.removeRow(row)
        self._row_jobs = [j for j in self._row_jobs if j.id not in gone]
        self.rows = {j.id: r for r, j in enumerate(self._row_jobs)}
        for i in gone:
            self._buttons.pop(i, None)
            self._shown_state.pop(i, None)
            self._dirty.discard(i)
        self._view_timer.start()

    def _show(self, job: w.Job) -> None:
        row = self.rows[job.id]
        text = state_text(job)
        state = self.table.item(row, 1)
        if state.text() != text:
            state.setText(text)
            state.setToolTip(job.error or text)
        fraction = job.fraction
        prog = self.table.item(row, 2)
        if prog.data(FRACTION_ROLE) != fraction:
            prog.setData(FRACTION_ROLE, fraction)
        eta = job.error if job.state == w.FAILED else format_eta(job.eta_s)
        eta_item = self.table.item(row, 3)
        if eta_item.text() != (eta or ""):
            eta_item.setText(eta or "")
            eta_item.setToolTip(eta or "")   # a failed job's message is longer than its cell
        if self._shown_state.get(job.id) != job.state:
            self._shown_state[job.id] = job.state
            state.setForeground(QBrush(QColor(STATE_COLORS[job.state])))
            self._show_buttons(job)

    def _show_buttons(self, job: w.Job) -> None:
        if job.id in self._buttons:
            cancel, retry = self._buttons[job.id]
            cancel.setVisible(job.state in (w.QUEUED, w.RUNNING))
            retry.setVisible(job.state in (w.FAILED, w.CANCELLED))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._view_timer.start()

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        self._view_timer.start()

    def _stop(self) -> None:
        self._add_timer.stop()
        self._refresh_timer.stop()
        self._view_timer.stop()

    def flush(self) -> None:
        """Build every waiting row and show every pending change now (tests, benchmarks)."""
        while self._waiting:
            self._build_rows()
        self._add_timer.stop()
        self._refresh_dirty()
        self._refresh_timer.stop()

    def state_of(self, job_id: int) -> str:
        self.flush()
        return self.table.item(self.rows[job_id], 1).text()
