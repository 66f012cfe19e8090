"""Library panel: search the editor's sound library, see each result's waveform, audition it
through the playback device, and pin it to a segment (button, or drag it onto the segment).

Searching and scanning run on worker threads (the first search loads the index's embedding
matrix and the text encoder); the GUI thread only fills the list. Adding a folder is a job in
the Jobs panel (progress, ETA, cancel), like generation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from foley_desktop.ui import workers
from foley_desktop.ui.drag_out import PATH_ROLE, FileList

WAVE_SIZE = QSize(96, 24)
PEAK_SECONDS = 12   # the waveform icon shows the first 12 s of a sound


def peaks(path: str, n: int = WAVE_SIZE.width()) -> np.ndarray:
    """Max |sample| in `n` columns over the first PEAK_SECONDS (worker thread)."""
    from foley_desktop.library.render import SR, load_mono

    audio = load_mono(Path(path))[: PEAK_SECONDS * SR]
    if not len(audio):
        return np.zeros(n, np.float32)
    cols = np.array_split(np.abs(audio), n)
    out = np.array([c.max() if len(c) else 0.0 for c in cols], np.float32)
    return out / max(float(out.max()), 1e-9)


def wave_icon(p: np.ndarray) -> QIcon:
    pix = QPixmap(WAVE_SIZE)
    pix.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pix)
    painter.setPen(QColor("#f0a030"))
    h = WAVE_SIZE.height()
    for x, v in enumerate(p):
        half = max(0.5, float(v) * (h / 2 - 1))
        painter.drawLine(x, int(h / 2 - half), x, int(h / 2 + half))
    painter.end()
    return QIcon(pix)


class LibraryPanel(QWidget):
    pinRequested = Signal(str)          # path of the sound to pin to the selected segment
    auditionRequested = Signal(str)     # path: the window plays it through the device
    error = Signal(str)

    def __init__(self, jobs, runner: workers.Runner, parent: QWidget | None = None,
                 db_path=None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.runner = runner
        self.db_path = db_path
        self._index = None
        self._query_id = 0
        self.hits: list = []
        # Waveform peaks by file: each sound is decoded once per session, not once per search.
        self._peaks: dict[str, np.ndarray] = {}

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search your sounds: footsteps on gravel, door slam …")
        self.search.setClearButtonEnabled(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.results = FileList()
        self.results.setIconSize(WAVE_SIZE)
        self.results.setToolTip("Double-click to audition; drag a sound onto a segment (or press "
                                "Pin) to lay it on that segment's markers")
        self.add_btn = QPushButton("Add folder…")
        self.add_btn.setToolTip("Index a folder of sound effects (WAV/BWF, FLAC, AIFF, OGG, "
                                "MP3); runs in the Jobs panel, and only new or changed files are "
                                "read again next time")
        self.play_btn = QPushButton("Audition")
        self.pin_btn = QPushButton("Pin to segment")
        self.pin_btn.setToolTip("Use this recording for the selected segment (library mode)")
        row = QHBoxLayout()
        for b in (self.add_btn, self.play_btn, self.pin_btn):
            row.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.status)
        lay.addWidget(self.results, 1)
        lay.addLayout(row)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.run_search)
        self.results.itemDoubleClicked.connect(lambda it: self.auditionRequested.emit(
            it.data(PATH_ROLE)))
        self.play_btn.clicked.connect(self._audition_selected)
        self.pin_btn.clicked.connect(self._pin_selected)
        self.add_btn.clicked.connect(self._ask_folder)
        self.results.currentItemChanged.connect(lambda *_: self._enable())
        self._enable()
        self.refresh_status()

    # ---- the index (opened lazily, shared with worker threads: it has its own lock)
    def index(self):
        if self._index is None:
            from foley_desktop.library.index import LibraryIndex

            self._index = LibraryIndex(self.db_path)
        return self._index

    def refresh_status(self) -> None:
        try:
            lib = self.index()
            n, folders = lib.count(), len(lib.folders())
        except Exception as exc:  # noqa: BLE001 - an unreadable index is shown, not raised
            self.status.setText(f"Library unavailable: {exc}")
            return
        self.status.setText(
            f"{n} sounds in {folders} folder{'s' if folders != 1 else ''}" if n else
            "No sounds yet: Add folder… (or run `foley-desktop library add --starter` for the "
            "starter library of recordings from Debian packages)")

    def _enable(self) -> None:
        has = self.results.currentItem() is not None
        self.play_btn.setEnabled(has)
        self.pin_btn.setEnabled(has)

    # ---- search
    def run_search(self) -> None:
        text = self.search.text().strip()
        self._debounce.stop()
        self._query_id += 1
        qid = self._query_id
        if not text:
            self.results.clear()
            self.hits = []
            self._enable()
            return
        lib = self.index()
        self.runner.submit(lib.search, text, 30,
                           on_done=lambda hits, q=qid: self._show(q, hits),
                           on_error=lambda exc: self.error.emit(f"Library search: {exc}"))

    def _show(self, qid: int, hits: list) -> None:
        if qid != self._query_id:
            return          # an older query finished after a newer one started
        self.hits = hits
        self.results.clear()
        for h in hits:
            # No UCS category: the folder it lies in says most ("doors", "Human", "crowd").
            cat = " / ".join(x for x in (h.category, h.subcategory) if x) or \
                Path(h.path).parent.name
            name = h.fx_name or h.name
            kind = "bed" if h.continuous else f"{len(h.onsets_s)} hit{'s' if len(h.onsets_s) != 1 else ''}"
            item = QListWidgetItem(f"{name}\n{cat} · {h.duration_s:.1f} s · {kind}")
            item.setData(PATH_ROLE, str(h.path))
            tip = [str(h.path)]
            if h.description:
                tip.append(h.description)
            if h.credit:
                tip.append(f"Credit: {h.credit}")
            tip.append(f"match {h.score:.2f}")
            item.setToolTip("\n".join(tip))
            self.results.addItem(item)
        if hits:
            self.results.setCurrentRow(0)
        self._enable()
        paths = [str(h.path) for h in hits]
        self._icons(qid, {p: self._peaks[p] for p in paths if p in self._peaks})
        todo = [p for p in paths if p not in self._peaks]
        if todo:
            self.runner.submit(lambda ps=todo: {p: peaks(p) for p in ps},
                               on_done=lambda got, q=qid: self._icons(q, got),
                               on_error=lambda _exc: None)  # a sound without a waveform plays

    def _icons(self, qid: int, got: dict) -> None:
        self._peaks.update(got)
        if qid != self._query_id:
            return
        for i in range(self.results.count()):
            p = self._peaks.get(self.results.item(i).data(PATH_ROLE))
            if p is not None:
                self.results.item(i).setIcon(wave_icon(p))

    def selected_path(self) -> str | None:
        it = self.results.currentItem()
        return None if it is None else it.data(PATH_ROLE)

    def _audition_selected(self) -> None:
        p = self.selected_path()
        if p:
            self.auditionRequested.emit(p)

    def _pin_selected(self) -> None:
        p = self.selected_path()
        if p:
            self.pinRequested.emit(p)

    # ---- scanning
    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a sound folder")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str):
        """Add and scan `folder` as a job (progress, ETA, cancel in the Jobs panel)."""
        lib = self.index()
        try:
            lib.add_folder(folder)
        except Exception as exc:  # noqa: BLE001 - a FoleyError's one line, shown to the user
            self.error.emit(str(exc))
            return None

        def done(job) -> None:
            self.refresh_status()
            if self.search.text().strip():
                self.run_search()

        return self.jobs.submit(f"Scan sound library {Path(folder).name}", lib.scan, on_done=done)
