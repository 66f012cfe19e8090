"""The main window: preview and inspector on top, the timeline below, jobs beside.

The window wires the pieces together and owns no logic of its own beyond that: edits go to
`Document` (undoable project commands), decoding and inference go to worker pools, playback
to `Playback`. What it does is split by subject into the mixins it is made of:

- window_actions: actions, shortcuts, menus, toolbar
- window_files: open, save, recent files, autosave, recovery of never-saved projects
- window_views: the open project shown (picture, lanes, segments, takes, title, thumbnails)
- window_transport: seek, play, shuttle, the audio clock, the mixer
- window_editing: segments, marks, markers, auto-spot, delete, A/B
- window_library: pinning and auditioning library sounds
- window_jobs: generate, separate, export

This module builds the window, connects the pieces, and keeps its dialogs and shutdown.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
)

from foley_desktop.app.engines import EngineCache
from foley_desktop.app.models import installed, provider_report
from foley_desktop.app.takes import Runs, TakeAudio
from foley_desktop.paths import resources_dir
from foley_desktop.project import autosave
from foley_desktop.ui import workers
from foley_desktop.ui.document import Document
from foley_desktop.ui.drag_out import FilePreparer
from foley_desktop.ui.inspector import Inspector
from foley_desktop.ui.jobs_panel import JobsPanel
from foley_desktop.ui.library_panel import LibraryPanel
from foley_desktop.ui.playback import Playback
from foley_desktop.ui.settings import PreferencesDialog, Settings
from foley_desktop.ui.shortcuts import ShortcutsDialog
from foley_desktop.ui.timeline import TimelineWidget
from foley_desktop.ui.transport import Transport
from foley_desktop.ui.video_preview import VideoPreview
from foley_desktop.ui.window_actions import ActionsMixin
from foley_desktop.ui.window_editing import EditingMixin
from foley_desktop.ui.window_files import VIDEO_FILTER, FilesMixin
from foley_desktop.ui.window_jobs import JobsMixin
from foley_desktop.ui.window_library import LibraryMixin
from foley_desktop.ui.window_transport import TransportMixin
from foley_desktop.ui.window_views import ProjectViewsMixin


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "icons" / "foley-desktop.svg"))


# Seconds between autosaves of a modified project (FOLEY_DESKTOP_AUTOSAVE_S overrides it, for
# tests and for users who want a shorter interval).
AUTOSAVE_S = 30


class MainWindow(ActionsMixin, FilesMixin, ProjectViewsMixin, TransportMixin, EditingMixin,
                 LibraryMixin, JobsMixin, QMainWindow):
    # A finished take, emitted from the generation worker: Qt queues it to the GUI thread,
    # where it goes through the undo stack.
    takeReady = Signal(str, object)
    # A partial waveform overview (lane key, media path, Overview) from the decode worker.
    overviewPartial = Signal(str, str, object)

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Foley Desktop")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.doc = Document(self)
        self.transport = Transport(self)
        self.playback = Playback()
        self.jobs = workers.JobQueue(1, self)
        self.bg = workers.Runner(workers.make_pool(2, "background"), self)
        self.thumb_runner = workers.Runner(workers.make_pool(1, "thumbnails"), self)
        self._thumb_pending: set[int] = set()
        self._thumb_wanted: set[int] = set()
        self.take_audio = TakeAudio()  # the active takes' decoded audio and waveforms
        self._prev_take: dict[str, str] = {}
        self.mark_in: int | None = None
        self._stem_paths: dict[str, str] = {}
        self.models: list[str] = []
        self._engines = EngineCache(capacity=2)  # loaded engines, kept across generation jobs
        # The run each finished take belongs to: its first take becomes active, and all its
        # takes undo as one step.
        self.runs = Runs()
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self.takeReady.connect(self._take_ready)
        self.overviewPartial.connect(self._overview_partial)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(
            int(float(os.environ.get("FOLEY_DESKTOP_AUTOSAVE_S", AUTOSAVE_S)) * 1000))
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

        self.preview = VideoPreview(self.transport)
        self.inspector = Inspector(self.doc)
        self.jobs_panel = JobsPanel(self.jobs)
        self.timeline = TimelineWidget()
        self.canvas = self.timeline.canvas
        # Drags out of the timeline write their files into the project's cache (drag/).
        self.timeline.set_drag_files(
            FilePreparer(self.doc, lambda: self._out_dir().parent / "drag", self))
        self.timeline.drag_files.error.connect(lambda t: self.statusBar().showMessage(t, 8000))

        side = QTabWidget()
        side.addTab(self.inspector, "Inspector")
        side.addTab(self.jobs_panel, "Jobs")
        self.library_runner = workers.Runner(workers.make_pool(1, "library"), self)
        self.library_panel = LibraryPanel(self.jobs, self.library_runner, self)
        side.addTab(self.library_panel, "Library")
        self._audition = None  # a Playback of its own, made on the first audition
        self._audition_end = QTimer(self)
        self._audition_end.setSingleShot(True)
        self._audition_end.timeout.connect(lambda: self._audition and self._audition.stop())
        self.side_tabs = side
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.preview)
        top.addWidget(side)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 1)
        top.setSizes([900, 360])
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(self.timeline)
        main.setStretchFactor(0, 1)
        main.setStretchFactor(1, 0)
        self.setCentralWidget(main)
        self.playback_label = QLabel(self.playback.reason)
        if not self.playback.available:
            self.playback_label.setObjectName("warning")
        self.statusBar().addPermanentWidget(self.playback_label)

        self._build_actions()
        self._connect()
        self._load_models()
        geometry, _state = self.settings.window_state()
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 900)

    # ------------------------------------------------------------------ setup
    def _connect(self) -> None:
        self.inspector.attach_preview(self.preview)   # the auto-spot region is drawn there
        c = self.canvas
        c.seekRequested.connect(self.seek)
        c.createRequested.connect(self._create_segment)
        c.moveRequested.connect(lambda i, s: self._edit(self.doc.move_segment, i, s))
        c.trimRequested.connect(lambda i, s, e: self._edit(self.doc.trim_segment, i, s, e))
        c.selectionChanged.connect(self.inspector.set_selection)
        c.thumbnailsWanted.connect(self._want_thumbs)
        self.timeline.mixChanged.connect(self._mix_changed)
        self.transport.positionChanged.connect(self._position_changed)
        self.transport.playingChanged.connect(self._playing_changed)
        self.doc.changed.connect(self._project_changed)
        self.doc.opened.connect(self._project_opened)
        self.inspector.generateRequested.connect(self.generate)
        self.inspector.generateAllRequested.connect(self.generate_all)
        self.inspector.abRequested.connect(self.ab_toggle)
        self.inspector.autoSpotRequested.connect(self.auto_spot)
        c.markerMoveRequested.connect(self._move_marker)
        c.soundDropped.connect(self.pin_sound)
        self.library_panel.pinRequested.connect(self._pin_to_selected)
        self.library_panel.auditionRequested.connect(self.audition)
        self.library_panel.error.connect(self.show_error)
        self.inspector.error.connect(self.show_error)
        self.doc.undo_stack.cleanChanged.connect(self._update_title)
        self.doc.saveFailed.connect(self.show_error)
        self.jobs.jobChanged.connect(self._job_changed)

    def _load_models(self) -> None:
        prefs = self.settings.preferences()
        found = installed(prefs)
        self.models = found.names
        self.inspector.set_models(found.names, found.default, found.sampler_defaults,
                                  found.prompt_examples)
        if not self.models:
            self.inspector.set_provider("No model package installed: generation is unavailable")
            return
        self.bg.submit(provider_report, prefs, on_done=self.inspector.set_provider,
                       on_error=lambda e: self.inspector.set_provider(f"provider: {e}"))

    # ------------------------------------------------------------------ questions
    def ask_recover(self, auto: Path) -> bool:
        """Offer the autosave left by a crash (tests replace this with a plain function)."""
        answer = QMessageBox.question(
            self, "Recover unsaved changes?",
            f"Foley Desktop found changes to this project that were not saved "
            f"(autosaved {auto.name}). Recover them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_relink(self, missing: Path) -> str | None:
        """Ask where the project's clip went (tests replace this with a plain function)."""
        QMessageBox.information(self, "Clip not found",
                                f"The clip {missing.name} is not at {missing.parent} any more. "
                                "Show where it is now.")
        path, _ = QFileDialog.getOpenFileName(self, f"Locate {missing.name}", "", VIDEO_FILTER)
        return path or None

    def ask_recover_untitled(self, auto: Path) -> str:
        """Offer a never-saved project left by a crash: "recover", "discard" or "later"
        (tests replace this with a plain function)."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(auto.stat().st_mtime))
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved project?",
                          "Foley Desktop closed unexpectedly while a project that was never "
                          f"saved was open (autosaved {when}). Recover it?", parent=self)
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return {recover: "recover", discard: "discard"}.get(box.clickedButton(), "later")

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        for url in ev.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                ev.acceptProposedAction()
                return

    # ------------------------------------------------------------------ dialogs
    def show_error(self, text: str) -> None:
        """Report a user-facing error: status bar plus a non-modal message box (the app keeps
        running; tests read `last_error`)."""
        self.statusBar().showMessage(text, 8000)
        self.last_error = text
        if self._error_box is None:
            self._error_box = QMessageBox(QMessageBox.Icon.Warning, "Foley Desktop", text,
                                          QMessageBox.StandardButton.Ok, self)
            self._error_box.setModal(False)
        self._error_box.setText(text)
        self._error_box.show()

    def preferences(self) -> None:
        PreferencesDialog(self.settings, self.models, self).exec()

    def show_about(self) -> None:
        from foley_desktop.ui.about import AboutDialog

        AboutDialog(self).exec()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop every timer, worker and stream (also what tests check after each test)."""
        self.stop()
        self.autosave_timer.stop()
        if self._error_box is not None:
            self._error_box.close()
        self.statusBar().clearMessage()  # its timeout timer too
        self.preview.shutdown()
        self.jobs.shutdown()
        # Takes that finished while the jobs stopped are still queued to this window: add
        # them, then wait for their save.
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
        self.doc.shutdown()
        self._engines.clear()  # ONNX Runtime sessions and their threads go with them
        self.bg.shutdown()
        self.thumb_runner.shutdown()
        self.library_runner.shutdown()
        self._audition_end.stop()
        if self._audition is not None:
            self._audition.stop()
            self._audition.wait_idle()
        self.timeline.shutdown()

    def closeEvent(self, ev: QCloseEvent) -> None:
        self.doc.flush_saves()  # a pending take save decides whether anything is unsaved
        if self.doc.project is not None and not self.doc.undo_stack.isClean() \
                and not getattr(self, "_skip_save_prompt", False):
            answer = QMessageBox.question(
                self, "Unsaved changes", "Save the project before closing?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard |
                QMessageBox.StandardButton.Cancel)
            if answer == QMessageBox.StandardButton.Cancel or (
                    answer == QMessageBox.StandardButton.Save and not self.save()):
                ev.ignore()
                return
            if answer == QMessageBox.StandardButton.Discard:
                autosave.discard_autosave(self.doc.project, self._untitled_folder())
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.shutdown()
        ev.accept()
