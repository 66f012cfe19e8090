"""Jobs panel: one row per job with state, progress, ETA, and cancel / retry."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from foley_desktop.ui import workers as w

STATE_COLORS = {w.QUEUED: "#8b8f97", w.RUNNING: "#4aa3ff", w.DONE: "#6cc3a0",
                w.FAILED: "#ff6b6b", w.CANCELLED: "#c9a227"}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d} left" if s >= 60 else f"{s} s left"


class JobsPanel(QWidget):
    COLS = ("Job", "State", "Progress", "ETA", "")

    def __init__(self, queue: w.JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.table = QTableWidget(0, len(self.COLS))
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(self.COLS)):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.rows: dict[int, int] = {}  # job id -> row
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.table)
        queue.jobAdded.connect(self._add)
        queue.jobChanged.connect(self._update)

    def _add(self, job: w.Job) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.rows[job.id] = row
        self.table.setCellWidget(row, 0, QLabel(job.title))
        self.table.setCellWidget(row, 1, QLabel())
        bar = QProgressBar()
        bar.setRange(0, 1000)
        self.table.setCellWidget(row, 2, bar)
        self.table.setCellWidget(row, 3, QLabel())
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
        self._update(job)
        self.table.scrollToBottom()

    def _update(self, job: w.Job) -> None:
        row = self.rows.get(job.id)
        if row is None:
            return
        state = self.table.cellWidget(row, 1)
        text = job.state
        if job.state == w.RUNNING and job.progress is not None:
            text = f"running: {job.progress.stage}"
        state.setText(text)
        state.setStyleSheet(f"color: {STATE_COLORS[job.state]};")
        state.setToolTip(job.error or "")
        bar = self.table.cellWidget(row, 2)
        bar.setValue(int(job.fraction * 1000))
        bar.setFormat(f"{job.fraction * 100:.0f}%")
        eta = self.table.cellWidget(row, 3)
        eta.setText(job.error if job.state == w.FAILED else format_eta(job.eta_s))
        buttons = self.table.cellWidget(row, 4)
        cancel = buttons.findChild(QPushButton, f"cancel-{job.id}")
        retry = buttons.findChild(QPushButton, f"retry-{job.id}")
        cancel.setVisible(job.state in (w.QUEUED, w.RUNNING))
        retry.setVisible(job.state in (w.FAILED, w.CANCELLED))

    def state_of(self, job_id: int) -> str:
        return self.table.cellWidget(self.rows[job_id], 1).text()
