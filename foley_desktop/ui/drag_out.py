"""Dragging files out of the app into other apps (an NLE, a DAW, a file manager).

One way for every drag source (the inspector's take list, the timeline's lane headers and take
grips, the export results): a `QMimeData` carrying `text/uri-list` file URLs of existing local
files (`mime_for_files`), and `start_drag`, a thin call around `QDrag.exec`. Qt turns the URL
list into what each platform's file drops expect (CF_HDROP on Windows, file URLs on macOS and
X11/Wayland).

Files that must be written first (a full-length stem, a take cut and stamped for the timeline)
come from `FilePreparer`, which writes them with `app.drag_files` on a worker thread when the
user presses on a drag handle (or hovers its grip), so the GUI never waits on a write: the drag
starts at the first mouse move after the file is ready.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDrag, QFontMetrics, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QListWidget, QWidget

from foley_desktop.app import drag_files
from foley_desktop.app.drag_files import What
from foley_desktop.errors import FoleyError
from foley_desktop.ui import theme, workers

PATH_ROLE = Qt.ItemDataRole.UserRole + 1  # list items: the file a drag of the item hands out


def mime_for_files(paths: Iterable[str | Path], base: QMimeData | None = None) -> QMimeData:
    """`text/uri-list` with an absolute file URL for each existing file among `paths`.

    `base` (e.g. a list view's own item data) is extended rather than replaced.
    """
    data = base if base is not None else QMimeData()
    urls = []
    for p in paths:
        path = Path(p)
        if path.is_file():
            urls.append(QUrl.fromLocalFile(str(path.resolve())))
    data.setUrls(urls)
    return data


def _pixmap(paths: list[Path]) -> QPixmap:
    """A small label under the cursor naming what is dragged."""
    text = paths[0].name if len(paths) == 1 else f"{len(paths)} files"
    font = theme.mono_font(9)
    fm = QFontMetrics(font)
    pm = QPixmap(fm.horizontalAdvance(text) + 16, fm.height() + 8)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(30, 32, 36, 230))
    p.setPen(theme.ACCENT)
    p.drawRoundedRect(pm.rect().adjusted(0, 0, -1, -1), 4, 4)
    p.setFont(font)
    p.setPen(theme.TEXT)
    p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pm


def start_drag(source: QWidget, paths: Iterable[str | Path]) -> Qt.DropAction:
    """Drag the existing files among `paths` out of `source` (blocks until dropped)."""
    mime = mime_for_files(paths)
    if not mime.urls():
        return Qt.DropAction.IgnoreAction
    drag = QDrag(source)
    drag.setMimeData(mime)
    drag.setPixmap(_pixmap([Path(u.toLocalFile()) for u in mime.urls()]))
    drag.setHotSpot(drag.pixmap().rect().topLeft())
    return drag.exec(Qt.DropAction.CopyAction)


class FileList(QListWidget):
    """A list whose items name files (`PATH_ROLE`); dragging items out hands over the files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragEnabled(True)
        self.setDragDropMode(QListWidget.DragDropMode.DragOnly)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)

    def mimeData(self, items):
        paths = [i.data(PATH_ROLE) for i in items if i.data(PATH_ROLE)]
        return mime_for_files(paths, super().mimeData(items))


class FilePreparer(QObject):
    """Writes the files timeline drags hand out, on one worker thread, ahead of the drag.

    `doc` is the window's Document; `folder()` gives the drag folder of the open project (its
    cache). `ready(what)` is a cheap check on the GUI thread (a few stat calls); `prepare(what)`
    starts the write when the file is missing or out of date.
    """

    stateChanged = Signal(object)  # what: preparing / ready / failed changed
    error = Signal(str)  # a drag that cannot happen, in one line (no stem, no take …)

    def __init__(self, doc, folder: Callable[[], Path], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.folder = folder
        self.runner = workers.Runner(workers.make_pool(1, "drag-out"), self)
        self._pending: dict[What, str] = {}  # what -> fingerprint being written
        self._tasks: dict[What, workers.Task] = {}
        self.errors: dict[What, str] = {}
        if doc is not None:  # handles show what can be dragged (e.g. dialogue once separated)
            doc.changed.connect(lambda: self.stateChanged.emit(None))

    def _project(self):
        return self.doc.project if self.doc is not None else None

    def ready(self, what: What) -> Path | None:
        proj = self._project()
        if proj is None:
            return None
        return drag_files.ready_path(proj, what, self.folder())

    def unavailable(self, what: What) -> str | None:
        """Why nothing can be dragged for `what` now (one line), or None. Cheap: no writing."""
        proj = self._project()
        if proj is None:
            return "open a clip first"
        try:
            drag_files.target_path(proj, what, self.folder())
        except FoleyError as exc:
            return str(exc)
        return self.errors.get(what)

    def preparing(self, what: What) -> bool:
        return what in self._pending

    def prepare(self, what: What, quiet: bool = False) -> Path | None:
        """The file if it is ready now; otherwise start writing it and return None.

        `quiet` (a hover, not a press): a drag that cannot happen is not reported.
        """
        proj = self._project()
        if proj is None:
            return None
        path = self.ready(what)
        if path is not None:
            self.errors.pop(what, None)
            return path
        key = drag_files.fingerprint(proj, what)
        if self._pending.get(what) == key:
            return None  # already being written from this very state
        try:
            drag_files.target_path(proj, what, self.folder())
        except FoleyError as exc:
            self._fail(what, str(exc), report=not quiet)
            return None
        self.errors.pop(what, None)
        old = self._tasks.pop(what, None)
        if old is not None:  # written from a state that is gone: stop it
            old.cancel.cancel()
        self._pending[what] = key
        # The worker writes from a snapshot: the user keeps editing the project meanwhile.
        snap = copy.deepcopy(proj)
        self._tasks[what] = self.runner.submit(drag_files.write_file, snap, what, self.folder(), pass_job=True,
                           on_done=lambda _p, w=what, k=key: self._done(w, k),
                           on_error=lambda exc, w=what, k=key: self._failed(w, k, exc))
        self.stateChanged.emit(what)
        return None

    def write_now(self, what: What) -> Path:
        """Write (or reuse) the file on the calling thread (scripts and tests)."""
        proj = self._project()
        if proj is None:
            raise FoleyError("open a clip first")
        return drag_files.write_file(proj, what, self.folder())

    def _done(self, what: What, key: str) -> None:
        if self._pending.get(what) == key:
            del self._pending[what]
            self._tasks.pop(what, None)
        self.stateChanged.emit(what)

    def _failed(self, what: What, key: str, exc: BaseException) -> None:
        if self._pending.get(what) != key:
            return  # superseded by a newer state (and cancelled), or shut down
        del self._pending[what]
        self._tasks.pop(what, None)
        self._fail(what, str(exc) if isinstance(exc, FoleyError) else
                   f"cannot prepare the file to drag: {exc}")

    def _fail(self, what: What, text: str, report: bool = True) -> None:
        self.errors[what] = text
        self.stateChanged.emit(what)
        if report:
            self.error.emit(text)

    def shutdown(self) -> None:
        self._pending.clear()  # what the cancelled writes report afterwards is ignored
        self._tasks.clear()
        self.runner.shutdown()


class DragStarter:
    """Press on a drag handle → prepare the file; move past the drag distance → drag it.

    One state machine for every handle that hands out a prepared file (lane headers, the mix
    grip, a take's grip in the timeline). The widget forwards its mouse events; `what()` names
    the file at press time.
    """

    def __init__(self, widget: QWidget, preparer: Callable[[], FilePreparer | None]) -> None:
        self.widget = widget
        self.preparer = preparer
        self._press: QPointF | None = None
        self._what: What | None = None
        self.dragged: list[Path] = []  # the files of the last drag started (for the status)

    @property
    def active(self) -> bool:
        return self._press is not None

    def press(self, ev: QMouseEvent, what: What) -> bool:
        prep = self.preparer()
        if prep is None or ev.button() != Qt.MouseButton.LeftButton:
            return False
        self._press, self._what = ev.position(), what
        prep.prepare(what)
        return True

    def move(self, ev: QMouseEvent) -> bool:
        """True while this handle owns the gesture (the caller does nothing else)."""
        if self._press is None:
            return False
        if (ev.position() - self._press).manhattanLength() < QApplication.startDragDistance():
            return True
        prep, what = self.preparer(), self._what
        path = prep.ready(what) if prep is not None else None
        if path is None:
            if prep is None or what in prep.errors or not prep.preparing(what):
                self.cancel()  # nothing will come: the error was reported by the preparer
            else:
                self.widget.setCursor(Qt.CursorShape.BusyCursor)
            return True
        self.cancel()
        self.dragged = [path]
        start_drag(self.widget, [path])
        return True

    def release(self) -> bool:
        was = self.active
        self.cancel()
        return was

    def cancel(self) -> None:
        if self._press is not None:
            self.widget.unsetCursor()
        self._press = self._what = None
