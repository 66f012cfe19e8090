"""The main window: preview and inspector on top, the timeline below, jobs beside.

The window wires the pieces together and owns no logic of its own beyond that: edits go to
`Document` (undoable project commands), decoding and inference go to worker pools, playback
to `Playback`.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
)

from foley_desktop.app.audio_cache import load_lane_audio
from foley_desktop.app.editing import ab_partner, marker_kind, marker_segment, work_folder
from foley_desktop.app.engines import EngineCache
from foley_desktop.app.generate import job_copy, plan, run_plan
from foley_desktop.app.models import installed, provider_report
from foley_desktop.app.takes import Runs, TakeAudio
from foley_desktop.errors import FoleyError
from foley_desktop.media.timebase import frame_to_samples, samples_to_timecode
from foley_desktop.outpaths import default_folder
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
from foley_desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog
from foley_desktop.ui.timeline import SegmentItem, TimelineWidget
from foley_desktop.ui.transport import Transport
from foley_desktop.ui.video_preview import VideoPreview, to_qimage

VIDEO_FILTER = "Video (*.mp4 *.mov *.mkv *.m4v *.avi *.webm *.mxf);;All files (*)"
THUMB_H = 42


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "icons" / "foley-desktop.svg"))


def _thumb_job(path: str, t: int, size: tuple[int, int], frame: int, wanted: set) -> tuple:
    from foley_desktop.media.decode import read_frame_at

    if frame not in wanted:  # scrolled away before its turn came: skip the decode
        return frame, None
    return frame, to_qimage(read_frame_at(path, t, size))


def _read_take(path: Path) -> np.ndarray:
    from foley_desktop.media.decode import read_audio

    return read_audio(path, mono=True)[0]


# Seconds between autosaves of a modified project (FOLEY_DESKTOP_AUTOSAVE_S overrides it, for
# tests and for users who want a shorter interval).
AUTOSAVE_S = 30
NOT_SEPARATED = "Not separated yet (File ▸ Separate)"
OPEN_A_CLIP = "Open a clip first: Ctrl+O, or drop a video on the window"
NO_AUDIO_TO_SEPARATE = "No audio to separate: the clip has no sound"


class MainWindow(QMainWindow):
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
    def _build_actions(self) -> None:
        handlers = {
            "open": self.open_dialog, "open_project": self.open_project_dialog,
            "save": self.save, "save_as": self.save_as,
            "undo": self.doc.undo_stack.undo, "redo": self.doc.undo_stack.redo,
            "delete": self.delete_selected, "play": self.toggle_play,
            "shuttle_back": lambda: self._shuttle(-1), "shuttle_stop": self.stop,
            "shuttle_fwd": lambda: self._shuttle(1),
            "prev_frame": lambda: self.transport.step(-1),
            "next_frame": lambda: self.transport.step(1),
            "back_second": lambda: self.transport.step(-round(float(self.doc.fps))),
            "fwd_second": lambda: self.transport.step(round(float(self.doc.fps))),
            "home": lambda: self.seek(0), "end": lambda: self.seek(self.doc.duration),
            "mark_in": self.set_mark_in, "mark_out": self.set_mark_out,
            "generate": self.generate_selected, "generate_all": self.generate_all,
            "marker": self.add_marker, "marker_back": lambda: self.nudge_marker(-1),
            "marker_fwd": lambda: self.nudge_marker(1),
            "auto_spot": lambda: self.auto_spot(list(self.canvas.selected)),
            "ab": self.ab_toggle, "zoom_in": self.timeline.zoom_in,
            "zoom_out": self.timeline.zoom_out, "zoom_fit": self.timeline.zoom_fit,
            "preferences": self.preferences, "help": self.show_shortcuts, "quit": self.close,
        }
        self.actions_: dict[str, QAction] = {}
        for name, (keys, text) in SHORTCUTS.items():
            act = QAction(text.split(":")[0].split(";")[0], self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(handlers[name])
            self.addAction(act)
            self.actions_[name] = act
        undo, redo = self.actions_["undo"], self.actions_["redo"]
        self.doc.undo_stack.canUndoChanged.connect(undo.setEnabled)
        self.doc.undo_stack.canRedoChanged.connect(redo.setEnabled)
        self.doc.undo_stack.undoTextChanged.connect(
            lambda t: undo.setText(f"Undo {t.lower()}".strip()))
        self.doc.undo_stack.redoTextChanged.connect(
            lambda t: redo.setText(f"Redo {t.lower()}".strip()))
        undo.setEnabled(False)
        redo.setEnabled(False)

        mb = self.menuBar()
        a = self.actions_
        m = mb.addMenu("&File")
        for n in ("open", "open_project"):
            m.addAction(a[n])
        self.recent_menu = m.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        for n in ("save", "save_as"):
            m.addAction(a[n])
        m.addSeparator()
        self.separate_action = m.addAction("Separate dialogue / background")
        self.separate_action.triggered.connect(self.separate)
        self.export_action = m.addAction("Export…")
        self.export_action.triggered.connect(lambda: self.export())
        self.separate_action.setToolTip("Split the clip's audio into dialogue and background "
                                         "stems (the Dialogue and Background lanes)")
        m.addSeparator()
        m.addAction(a["preferences"])
        m.addAction(a["quit"])
        m = mb.addMenu("&Edit")
        for n in ("undo", "redo", "delete"):
            m.addAction(a[n])
        m = mb.addMenu("&Play")
        for n in ("play", "shuttle_back", "shuttle_stop", "shuttle_fwd", "prev_frame",
                  "next_frame", "home", "end", "mark_in", "mark_out"):
            m.addAction(a[n])
        m = mb.addMenu("&Generate")
        for n in ("generate", "generate_all", "ab"):
            m.addAction(a[n])
        m.addSeparator()
        for n in ("marker", "marker_back", "marker_fwd", "auto_spot"):
            m.addAction(a[n])
        m = mb.addMenu("&View")
        for n in ("zoom_in", "zoom_out", "zoom_fit"):
            m.addAction(a[n])
        m = mb.addMenu("&Help")
        m.addAction(a["help"])
        about = m.addAction("About Foley Desktop and credits")
        about.triggered.connect(self.show_about)

        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        for n, short in (("open", "Open"), ("save", "Save"), ("undo", "Undo"),
                         ("redo", "Redo"), ("generate", "Generate"),
                         ("generate_all", "Generate all")):
            a[n].setIconText(short)
            tb.addAction(a[n])
        self.separate_action.setIconText("Separate")
        tb.addAction(self.separate_action)

    def _connect(self) -> None:
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

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", "Foley project (*.foley)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        path = str(path)
        try:
            if path.endswith(".foley"):
                self.doc.open_project(path, recover=self.ask_recover, relink=self.ask_relink)
            else:
                self.doc.open_media(path)
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        self.settings.add_recent(path)
        return True

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

    def offer_untitled_recovery(self) -> bool:
        """At launch: offer never-saved projects whose window was killed; True if one opened."""
        try:
            found = autosave.find_untitled_recoveries([self.settings.cache_dir / "unsaved"])
        except OSError:
            return False
        for auto in found:
            answer = self.ask_recover_untitled(auto)
            if answer == "discard":
                autosave.discard_untitled(auto)
            elif answer == "recover":
                try:
                    self.doc.open_recovered(autosave.load_untitled_recovery(auto))
                except FoleyError as exc:
                    self.show_error(str(exc))
                    return False
                self.statusBar().showMessage("Recovered the unsaved project: save it to keep it",
                                             8000)
                return True
        return False

    def _untitled_folder(self) -> Path | None:
        """Where a never-saved project's takes and autosave live (None once it has a file)."""
        proj = self.doc.project
        return None if proj is None or proj.path is not None else self._out_dir().parent

    def autosave(self) -> Path | None:
        """Write the autosave of a modified project (the timer calls this)."""
        if self.doc.project is None or self.doc.undo_stack.isClean():
            return None
        try:
            return autosave.write_autosave(self.doc.project, self._untitled_folder())
        except FoleyError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return None

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for f in files:
            act = self.recent_menu.addAction(f)
            act.triggered.connect(lambda _=False, p=f: self.open_path(p))

    def save(self) -> bool:
        if self.doc.project is None:
            return False
        if self.doc.project.path is None:
            return self.save_as()
        try:
            self.doc.save()
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        self.statusBar().showMessage(f"Saved {self.doc.project.path}", 4000)
        return True

    def save_as(self) -> bool:
        if self.doc.project is None:
            return False
        media = self.doc.project.media
        default = str(default_folder(media) / f"{media.stem}.foley")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", default,
                                              "Foley project (*.foley)")
        if not path:
            return False
        untitled = self._untitled_folder()
        try:
            self.doc.save(path)
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        if untitled is not None:
            autosave.discard_autosave(self.doc.project, untitled)  # it has a file now
        self.settings.add_recent(path)
        self._update_title()
        return True

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        for url in ev.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                ev.acceptProposedAction()
                return

    # ------------------------------------------------------------------ project → views
    def _project_opened(self) -> None:
        info, proj = self.doc.info, self.doc.project
        fps = self.doc.fps
        v = info.video
        self.transport.set_media(proj.duration_samples, fps)
        self.preview.set_media(str(proj.media), fps, v.display_width, v.display_height,
                               proj.duration_samples)
        self.canvas.set_media(proj.duration_samples, fps, v.display_width / v.display_height)
        self._thumb_pending.clear()
        self.take_audio.clear()  # the previous project's takes (decoded audio, waveforms)
        self.playback.mixer.clear()
        self.mark_in = None
        self.canvas.set_mark_in(None)
        self._stem_paths.clear()
        self.canvas.set_speech(proj.speech)
        for key in ("dialogue", "background"):
            self.canvas.set_lane(key, None,
                                 NOT_SEPARATED if info.audio is not None else NO_AUDIO_TO_SEPARATE)
        if info.audio is None:
            self.canvas.set_lane("original", None, "This clip has no audio")
        else:
            self.canvas.set_lane("original", None, "Reading waveform…")
            self._load_lane("original", str(proj.media))
        self._load_stems()
        self._update_title()

    def _load_lane(self, key: str, path: str) -> None:
        media = str(self.doc.project.media)

        def got(result, k=key, m=media) -> None:
            ov, bed = result
            if self.doc.project is not None and str(self.doc.project.media) == m:
                self.canvas.set_lane(k, ov)
                self._bed_ready(k, m, bed)

        def failed(exc, k=key) -> None:
            self.canvas.set_lane(k, None, f"Cannot read audio: {exc}")

        # One streaming decode into the disk cache: the overview, and a memory-mapped float32
        # copy for playback (an hour of stereo would be 1.4 GB in memory). Partial overviews
        # arrive through a queued signal while it runs, so long clips draw as they decode.
        self.bg.submit(load_lane_audio, path, self.settings.cache_dir, on_done=got,
                       on_error=failed, pass_job=True,
                       partial=lambda ov, k=key, m=media: self.overviewPartial.emit(k, m, ov))

    def _overview_partial(self, key: str, media: str, ov) -> None:
        current = self.canvas.overviews.get(key)
        if (self.doc.project is None or str(self.doc.project.media) != media
                or (current is not None and current.complete)):
            return  # another clip by now, or the finished overview already arrived
        self.canvas.set_lane(key, ov)

    def _bed_ready(self, key: str, media: str, audio: np.ndarray) -> None:
        if self.doc.project is not None and str(self.doc.project.media) == media:
            self.playback.mixer.set_bed(key, audio)

    def _load_stems(self) -> None:
        """Bring the stem lanes in line with project.stems (after separation, undo, redo)."""
        stems = self.doc.project.stems or {}
        for key in ("dialogue", "background"):
            path = stems.get(key)
            if path is not None and Path(path).exists():
                if self._stem_paths.get(key) != str(path):
                    self._stem_paths[key] = str(path)
                    self.canvas.set_lane(key, None, "Reading waveform…")
                    self._load_lane(key, str(path))
            elif key in self._stem_paths:
                del self._stem_paths[key]
                self.canvas.set_lane(key, None, NOT_SEPARATED)
                self.playback.mixer.drop_bed(key)
        self.canvas.refresh()

    def _project_changed(self) -> None:
        proj = self.doc.project
        if proj is None:
            return
        items = []
        clips = []
        self.take_audio.retain(seg.active().path for seg in proj.segments
                               if seg.active() is not None)
        for seg in proj.segments:
            take = seg.active()
            ov = None
            if take is not None:
                audio = self.take_audio.audio(take.path)
                if audio is None:
                    self._load_take(Path(take.path))
                else:
                    ov = self.take_audio.overview(take.path, seg.start)
                    clips.append((seg.start, audio[: seg.length]))
            marks = tuple((m.time, m.kind, m.source) for m in seg.markers_inside())
            items.append(SegmentItem(seg.id, seg.start, seg.end, seg.prompt, len(seg.takes), ov,
                                     marks))
        self.canvas.set_segments(items)
        self.canvas.set_speech(proj.speech)
        self.playback.mixer.set_clips(clips)
        self._load_stems()
        self.inspector.set_selection(self.canvas.selected)
        self._update_title()

    def _load_take(self, path: Path) -> None:
        if not self.take_audio.start_loading(path):
            return

        def done(audio, p=path):
            self.take_audio.loaded(p, audio)
            self._project_changed()

        self.bg.submit(_read_take, path, on_done=done,
                       on_error=lambda e, p=path: self.take_audio.loaded(p, None))

    def _update_title(self, *_args) -> None:
        proj = self.doc.project
        if proj is None:
            self.setWindowTitle("Foley Desktop")
            return
        name = proj.path.name if proj.path else proj.clip_name
        dirty = "" if self.doc.undo_stack.isClean() else " *"
        self.setWindowTitle(f"{name}{dirty} — Foley Desktop")

    # ------------------------------------------------------------------ thumbnails
    def _want_thumbs(self, frames: list[int]) -> None:
        proj = self.doc.project
        if proj is None:
            return
        self._thumb_wanted.clear()
        self._thumb_wanted.update(frames)
        h = THUMB_H
        size = (max(2, int(h * self.canvas.thumb_aspect) // 2 * 2), h)
        for f in frames:
            if f in self._thumb_pending:
                continue
            self._thumb_pending.add(f)
            self.thumb_runner.submit(_thumb_job, str(proj.media),
                                     frame_to_samples(f, self.doc.fps), size, f,
                                     self._thumb_wanted, on_done=self._thumb_ready,
                                     on_error=lambda e: None)

    def _thumb_ready(self, result) -> None:
        frame, image = result
        self._thumb_pending.discard(frame)
        if image is not None:
            self.canvas.add_thumb(frame, image)

    # ------------------------------------------------------------------ transport
    def seek(self, t: int) -> None:
        was = self.transport.playing
        if was:
            self.stop()
        self.transport.seek(t)
        if was:
            self.toggle_play()

    def toggle_play(self) -> None:
        if self.transport.playing:
            self.stop()
        else:
            self._shuttle(1, restart=True)

    def _shuttle(self, direction: int, restart: bool = False) -> None:
        if self.doc.project is None:
            return
        if restart or not self.transport.playing:
            self.transport.play(direction)
        else:
            self.transport.shuttle(direction)
        self.playback.stop()
        self.transport.follow(None)
        if self.playback.start(self.transport.position, self.transport.rate):
            self.transport.follow(self.playback.position)
        elif not self.playback.available:
            self.statusBar().showMessage(self.playback.reason + " — playing picture only", 4000)

    def stop(self) -> None:
        self.transport.stop()
        self.playback.stop()
        self.transport.follow(None)

    def _playing_changed(self, playing: bool) -> None:
        self.preview.play_btn.setText("⏸" if playing else "▶")
        if not playing:
            self.playback.stop()
            self.transport.follow(None)

    def _position_changed(self, t: int) -> None:
        self.canvas.set_playhead(t, follow=self.transport.playing)

    def _mix_changed(self, key: str, gain_db: float, mute: bool, solo: bool) -> None:
        self.playback.mixer.set_lane(key, gain_db, mute, solo)

    # ------------------------------------------------------------------ edits
    def _edit(self, fn, *args) -> bool:
        try:
            fn(*args)
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        return True

    def _need_clip(self) -> bool:
        """False (and the status bar says to open a clip) while no clip is open: a key pressed
        then says why nothing happened."""
        if self.doc.project is None:
            self.statusBar().showMessage(OPEN_A_CLIP, 4000)
            return False
        return True

    def _create_segment(self, start: int, end: int) -> None:
        prompt_default = ""
        try:
            seg = self.doc.add_segment(start, end, prompt_default,
                                       model=self.settings.get("default_model") or None,
                                       precision=self.settings.get("precision"))
        except FoleyError as exc:
            self.show_error(str(exc))
            return
        self.canvas.set_selected([seg.id])
        self.side_tabs.setCurrentWidget(self.inspector)
        self.inspector.prompt.setFocus()

    def set_mark_in(self) -> None:
        if not self._need_clip():
            return
        self.mark_in = self.transport.position
        self.canvas.set_mark_in(self.mark_in)
        self.statusBar().showMessage("In point set; press O at the out point", 3000)

    def set_mark_out(self) -> None:
        if not self._need_clip():
            return
        out = self.transport.position
        if self.mark_in is None or out <= self.mark_in:
            self.statusBar().showMessage("Set an in point (I) before the out point", 3000)
            return
        start = self.mark_in
        self.mark_in = None
        self.canvas.set_mark_in(None)
        self.statusBar().clearMessage()   # "press O at the out point" is done
        self._create_segment(start, out)

    # ------------------------------------------------------------------ spotting
    def add_marker(self) -> None:
        """M: a marker at the sample being heard now. While playing, the transport's clock is
        the audio device's (output latency taken off), so a tap lands on the sound the editor
        reacted to, not on the one still in the buffer."""
        if not self._need_clip():
            return
        t = self.transport.position
        seg = marker_segment(self.doc.project, t, self.canvas.selected)
        if seg is None:
            self.statusBar().showMessage("Markers go inside a segment: mark one first (I / O)",
                                         3000)
            return
        from foley_desktop.spotting.markers import Marker

        marks = seg.markers + [Marker(t, marker_kind(seg.prompt))]
        if self._edit(self.doc.set_field, seg.id, "markers", marks):
            self.statusBar().showMessage(
                f"Marker at {samples_to_timecode(t, self.doc.fps)} "
                f"({len(seg.markers_inside())} in the segment)", 1500)

    def _move_marker(self, seg_id: str, old: int, new: int) -> None:
        seg = self.doc.segment(seg_id)
        if seg is None:
            return
        marks = [m.moved(new) if m.time == old else m for m in seg.markers]
        self._edit(self.doc.set_field, seg_id, "markers", marks)
        self.canvas.select_marker(seg_id, new)

    def nudge_marker(self, frames: int) -> None:
        sel = self.canvas.selected_marker
        seg = self.doc.segment(sel[0]) if sel else None
        if seg is None:
            return
        step = frame_to_samples(1, self.doc.fps)
        new = max(seg.start, min(seg.end - 1, sel[1] + frames * step))
        if new != sel[1]:
            self._move_marker(seg.id, sel[1], new)

    def delete_marker(self) -> bool:
        sel = self.canvas.selected_marker
        seg = self.doc.segment(sel[0]) if sel else None
        if seg is None or not any(m.time == sel[1] for m in seg.markers):
            return False
        self._edit(self.doc.set_field, seg.id, "markers",
                   [m for m in seg.markers if m.time != sel[1]])
        self.canvas.select_marker(None, None)
        return True

    def auto_spot(self, ids: list[str]) -> None:
        """Auto-spot in the job queue; the proposals replace earlier auto-spot markers of the
        segment and keep the editor's own."""
        proj = self.doc.project
        if not self._need_clip():
            return
        segs = [s for s in (self.doc.segment(i) for i in ids) if s is not None]
        if proj is None or not segs:
            self.statusBar().showMessage("Select a segment to auto-spot", 3000)
            return
        from foley_desktop.spotting.detect import spot

        for seg in segs:
            def done(job, seg_id=seg.id):
                s = self.doc.segment(seg_id)
                if s is None:
                    return
                keep = [m for m in s.markers if m.source != "auto"]
                self._edit(self.doc.set_field, seg_id, "markers", keep + list(job.result))
                self.statusBar().showMessage(f"Auto-spot: {len(job.result)} marker(s)", 3000)

            self.jobs.submit(f"Auto-spot {samples_to_timecode(seg.start, self.doc.fps)}", spot,
                             proj.media, seg.start, seg.end, on_done=done)

    # ------------------------------------------------------------------ library
    def pin_sound(self, seg_id: str, path: str) -> None:
        """Lay this recording on the segment's markers: pinned, and the segment in library
        mode (one undo step)."""
        seg = self.doc.segment(seg_id)
        if seg is None:
            return
        stack = self.doc.undo_stack
        stack.beginMacro("Pin sound")
        try:
            self._edit(self.doc.set_field, seg_id, "pinned", [path])
            if seg.mode != "library":
                self._edit(self.doc.set_field, seg_id, "mode", "library")
        finally:
            stack.endMacro()
        self.canvas.set_selected([seg_id])
        self.statusBar().showMessage(f"Pinned {Path(path).name}: Generate lays it on the "
                                     f"segment's markers", 4000)

    def _pin_to_selected(self, path: str) -> None:
        ids = list(self.canvas.selected)
        if len(ids) != 1:
            self.statusBar().showMessage("Select one segment to pin the sound to", 3000)
            return
        self.pin_sound(ids[0], path)

    def audition(self, path: str) -> None:
        """Play a library sound through the output device (the clip's playback stops)."""
        from foley_desktop.library.render import load_mono
        from foley_desktop.ui.playback import Mixer, Playback

        self.stop()
        try:
            audio = load_mono(Path(path))
        except FoleyError as exc:
            self.show_error(str(exc))
            return
        if self._audition is None:
            self._audition = Playback(Mixer())
        self._audition.stop()
        self._audition.mixer.clear()
        self._audition.mixer.set_bed("original", audio)
        self._audition_end.start(int(len(audio) / 48) + 300)
        if not self._audition.start(0):
            self._audition_end.stop()
            self.statusBar().showMessage(f"{self._audition.reason}: cannot audition "
                                         f"{Path(path).name}", 4000)
        else:
            self.statusBar().showMessage(f"Auditioning {Path(path).name}", 2000)

    def delete_selected(self) -> None:
        if self.delete_marker():
            return
        ids = list(self.canvas.selected)
        if ids:
            self._edit(self.doc.remove_segments, ids)
            self.canvas.set_selected([])

    def ab_toggle(self) -> None:
        if not self._need_clip():
            return
        ids = self.canvas.selected
        seg = self.doc.segment(ids[0]) if len(ids) == 1 else None
        prev = ab_partner(seg, self._prev_take.get(seg.id)) if seg is not None else None
        if seg is None or prev is None:   # B did nothing: say why
            self.statusBar().showMessage(
                "A/B: select one segment" if seg is None else
                "A/B needs two takes: set Variations to 2 or more and Generate", 4000)
            return
        self._prev_take[seg.id] = seg.active_take
        self.doc.set_active_take(seg.id, prev)
        self.statusBar().showMessage(f"Active take: {[t.id for t in seg.takes].index(prev) + 1}",
                                     2000)

    # ------------------------------------------------------------------ jobs
    def _out_dir(self) -> Path:
        """Where the project's takes go (app.editing.work_folder / takes)."""
        return work_folder(self.doc.project, self.settings.cache_dir) / "takes"

    def generate_selected(self) -> None:
        """Ctrl+G: the selected segments; with none selected it says what to do."""
        if not self._need_clip():
            return
        ids = list(self.canvas.selected)
        if not ids:
            self.statusBar().showMessage(
                "Select a segment to generate (click it on the Foley lane), or Generate all"
                if self.doc.project.segments else
                "Mark a segment first: drag on the Foley lane, or press I and O", 5000)
            return
        self.generate(ids)

    def generate_all(self) -> None:
        if not self._need_clip():
            return
        if not self.doc.project.segments:
            self.statusBar().showMessage(
                "Mark a segment first: drag on the Foley lane, or press I and O", 5000)
            return
        self.generate([s.id for s in self.doc.project.sorted_segments()])

    def generate(self, ids: list[str]) -> list[workers.Job]:
        """One job per segment: its parameters resolved and its missing seeds planned here
        (`app.generate.plan`), the takes made on a worker (`run_plan`, as the CLI's
        `generate --project`); every finished take comes back through `takeReady` to the undo
        stack."""
        if self.doc.project is None or not ids:
            return []
        # Ctrl+G with the cursor still in the prompt (or negative) field: what is typed there
        # is what the editor means to generate, so commit it first.
        self.inspector.commit_pending()
        jobs = []
        for seg_id in ids:
            seg = self.doc.segment(seg_id)
            if seg is None:
                continue
            if not seg.prompt.strip():
                self.show_error("Type a prompt for the segment before generating")
                self.canvas.set_selected([seg_id])
                self.inspector.prompt.setFocus()
                return jobs
            # The parameters are resolved here, once (preferences -> segment -> model): the
            # job makes exactly the takes this plan names, each recording these parameters.
            try:
                todo = plan(self.doc.project, [seg_id], prefs=self.settings.preferences())
            except FoleyError as exc:
                self.show_error(str(exc))
                return jobs
            if not todo[0].seeds:
                self.statusBar().showMessage(
                    f"Nothing to generate: the segment has its {seg.variations} take(s) for these "
                    "settings (change the prompt, a setting or the seed for new ones)", 6000)
                continue
            title = f"Generate “{seg.prompt[:40]}” ({len(todo[0].seeds)}×)"
            self.runs.start(seg_id)  # identifies this run's undo entry
            jobs.append(self.jobs.submit(
                title, run_plan, job_copy(self.doc.project, [seg_id]), todo,
                on_take=self.takeReady.emit, take_dir=self._out_dir(), engines=self._engines))
        if jobs:
            self.side_tabs.setCurrentWidget(self.jobs_panel)
        return jobs

    def _take_ready(self, seg_id: str, take) -> None:
        if self.doc.segment(seg_id) is None:
            return  # deleted while generating: the file stays in the cache
        # The first take of a run becomes active (what the user asked to hear); later variations
        # wait as alternates.
        run, first = self.runs.take(seg_id)
        self.doc.add_run_take(seg_id, take, run, make_active=first)
        if take.mode == "model":   # a library take runs no model: the line stays as it was
            self.inspector.set_provider(f"provider: {take.provider}, {take.variant}")
        if self.doc.project.path is not None:
            # Every finished take is saved at once (the CLI does the same): a crash never
            # loses a take. The write runs off the GUI thread.
            self.doc.save_soon()

    def separate(self) -> workers.Job | None:
        from foley_desktop.app.separate import check_separable, separate_project

        proj = self.doc.project
        if not self._need_clip():
            return None
        try:
            check_separable(proj)   # a clip without sound: said now, not as a failed job
        except FoleyError as exc:
            self.show_error(str(exc))
            return None
        out = self._out_dir().parent / "stems"

        def done(job):
            self.doc.set_stems(job.result.stems, job.result.speech)
            self.canvas.refresh()

        return self.jobs.submit("Separate dialogue / background", separate_project,
                                copy.copy(proj), out, on_done=done)

    def export(self, choice=None) -> workers.Job | None:
        """Export stems, takes and timelines (`choice`: an ExportChoice; None asks)."""
        from foley_desktop.export import export_project
        from foley_desktop.ui.export_dialog import ExportDialog

        proj = self.doc.project
        if not self._need_clip():
            return None
        if choice is None:
            base = default_folder(proj.path if proj.path is not None else proj.media)
            dlg = ExportDialog(str(base / f"{proj.clip_name}_export"),
                               self.settings.get("export_format"), self)
            if dlg.exec() != ExportDialog.DialogCode.Accepted:
                return None
            choice = dlg.choice()
        if not choice.folder:
            self.show_error("Choose a folder to export to")
            return None
        self.settings.set("export_format", choice.format)
        snap = copy.deepcopy(proj)

        def done(job) -> None:
            self.statusBar().showMessage(f"Exported to {choice.folder}", 8000)
            from foley_desktop.ui.export_dialog import ExportResultDialog

            self.export_result = ExportResultDialog(job.result.files, job.result.notes,
                                                    choice.folder, self)
            self.export_result.show()

        return self.jobs.submit("Export", export_project, snap, choice.folder,
                                format=choice.format, stems=choice.stems,
                                timelines=choice.timelines, on_done=done)

    def _job_changed(self, job) -> None:
        """A job that failed says why where the editor is looking, not only in the Jobs
        panel's narrow column (where a Generate that failed was easy to miss)."""
        if job.state == workers.FAILED and job.error:
            self.show_error(f"{job.title} failed: {job.error}")

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
