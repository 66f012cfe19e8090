"""The open project as the window sees it: a `Project`, a QUndoStack and change signals.

Every edit is one of the project layer's command objects (`foley_desktop.project.commands`),
wrapped in a QUndoCommand so Qt's undo stack, its actions and its clean state drive the menus.
A command is applied once before it is pushed, so an edit the project refuses raises
`ProjectError` and never reaches the stack.

Saving after each generated take (`save_soon`) happens off the GUI thread: the GUI thread only
copies the project's small objects (`snapshot`), one background writer serializes and writes
it atomically, and saves that pile up while one is being written collapse into one of the
newest state. `flush_saves` (Save, open, close) waits for them, so no take is ever lost.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from foley_desktop.errors import ProjectError
from foley_desktop.project import commands as pc
from foley_desktop.project import io, lock
from foley_desktop.project.io import new_project
from foley_desktop.project.model import Project, Segment, new_id
from foley_desktop.ui.workers import SerialWriter


def snapshot(project: Project) -> Project:
    """A copy of `project` that later edits on the GUI thread cannot reach.

    Everything an undoable command mutates (the segment list, segment fields, take lists, stems,
    speech, settings, the clip path) is copied; takes are copied too, since a save into another
    folder rewrites their paths. Strings, numbers and Paths are immutable and shared. About a
    microsecond per segment and take.
    """
    snap = copy.copy(project)
    snap.media_info = dict(project.media_info)
    snap.segments = []
    for seg in project.segments:
        s = copy.copy(seg)
        s.takes = [copy.copy(t) for t in seg.takes]
        snap.segments.append(s)
    snap.stems = dict(project.stems)
    snap.settings = copy.deepcopy(project.settings)
    snap.speech = list(project.speech)
    return snap


def _write(snap: Project, path: Path) -> Path:
    """Runs on the saver's thread: serialize the snapshot and write it atomically."""
    return io.save(snap, path)


class ProjectCommand(QUndoCommand):
    """A project command object on Qt's undo stack."""

    def __init__(self, doc: Document, command: pc.Command) -> None:
        super().__init__(command.text.capitalize())
        self.doc = doc
        self.command = command
        self._applied = True  # Document.push applied it already

    def redo(self) -> None:
        if self._applied:
            self._applied = False
        else:
            self.command.apply(self.doc.project)
        self.doc.changed.emit()

    def undo(self) -> None:
        self.command.revert(self.doc.project)
        self.doc.changed.emit()


class RunTakes(ProjectCommand):
    """The takes of one generation run as one undo step: each take is pushed as its own
    command and Qt merges it into the run's entry on top of the stack (`mergeWith`). Qt does
    not merge into the state the project was saved in, so a run whose takes straddle a save
    undoes in two steps, the first back to what is on disk."""

    ID = 0x46545231  # any constant: commands with the same id are offered for merging

    def __init__(self, doc: Document, command: pc.Macro, run: object) -> None:
        super().__init__(doc, command)
        self.run = run

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, RunTakes) or self.run is None or other.run is not self.run:
            return False
        # `other` was applied when pushed (Document.push_run_take); keep its commands here.
        self.command.commands.extend(other.command.commands)
        self.command.label = f"add {len(self.command.commands)} takes"
        self.setText(self.command.text.capitalize())
        return True


class Document(QObject):
    changed = Signal()  # anything in the project changed (segments, takes, stems …)
    opened = Signal()  # a different project / clip is now open
    saveFailed = Signal(str)  # a background save failed (one line for the user)
    SAVE_INTERVAL_S = 0.2

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._locked: Path | None = None  # the open project's lock (project/lock.py)
        self.project: Project | None = None
        self.info = None  # media.MediaInfo of the clip
        self.undo_stack = QUndoStack(self)
        # Bumped on every change: a background save marks the stack clean only when nothing
        # changed after its snapshot was taken.
        self.revision = 0
        self.changed.connect(self._bump)
        # At most ~5 saves a second: takes finishing faster share one (closing skips the wait).
        self.saver = SerialWriter("project-saver", self, min_interval=self.SAVE_INTERVAL_S)
        self.saver.ready.connect(self._saves_done)
        self.save_times: list[float] = []  # seconds per background save (benchmarks)

    def _bump(self) -> None:
        self.revision += 1

    # ---- opening
    def open_media(self, path: str | Path) -> None:
        """Start a new project on a clip (raises MediaError / ProjectError for a bad file)."""
        from foley_desktop.media.probe import probe

        project = new_project(path)
        self.info = probe(project.media)
        self._hold(None)
        self._set(project)

    def open_project(self, path: str | Path, *, recover=None, relink=None) -> None:
        """Open a project file (raises ProjectError / MediaError with one line).

        recover(autosave_path) -> bool is asked when a newer autosave exists (a crash or a
        close without saving); relink(missing_clip) -> new path or None is asked when the clip
        is not where the project says. Both are dialogs in the window, plain callables in tests.
        A recovered or relinked project opens modified (not clean), so the user saves it.
        """

        self.flush_saves()  # the file on disk must hold every take before it is read
        # The window is the project's writer while it is open: a CLI edit meanwhile is told
        # who holds it, and this fails at once (saying who) when another program edits it.
        new = Path(os.path.realpath(path))
        took = new != self._locked
        if took:
            lock.acquire(new, wait_s=0, app="Foley Desktop window")
        try:
            self._open_locked(path, recover, relink)
        except BaseException:
            if took:
                lock.release(new)
            raise
        if took:
            old, self._locked = self._locked, new
            if old is not None:
                lock.release(old)

    def _hold(self, path) -> None:
        """Keep the lock of `path` (the open project) and let go of the one held before."""
        new = Path(os.path.realpath(path)) if path is not None else None
        if new == self._locked:
            return
        if new is not None:
            lock.acquire(new, wait_s=0, app="Foley Desktop window")
        if self._locked is not None:
            lock.release(self._locked)
        self._locked = new

    def _open_locked(self, path, recover, relink) -> None:
        from foley_desktop.media.probe import probe
        from foley_desktop.project import autosave

        auto = autosave.find_recovery(path)
        recovered = False
        if auto is not None and recover is not None and recover(auto):
            project = autosave.load_recovery(path)
            recovered = True
        else:
            project = Project.load(path)
        relinked = None
        if not project.media.exists():
            new = relink(project.media) if relink is not None else None
            if not new:
                raise ProjectError(f"the clip is missing: {project.media}")
            relinked = pc.RelinkMedia(Path(new))
            relinked.apply(project)
        self.info = probe(project.media)
        self._set(project)
        if relinked is not None:
            self.undo_stack.push(ProjectCommand(self, relinked))
        if recovered:
            # Not clean: the recovered edits are not in the project file yet.
            self.undo_stack.resetClean()

    def open_recovered(self, project: Project) -> None:
        """Open a never-saved project brought back from its autosave: untitled and modified,
        so Save asks where it goes."""
        from foley_desktop.media.probe import probe

        self.flush_saves()
        if not project.media.exists():
            raise ProjectError(f"the clip is missing: {project.media}")
        self.info = probe(project.media)
        self._set(project)
        self.undo_stack.resetClean()

    def save(self, path: str | Path | None = None) -> Path:
        if self.project is None:
            raise ProjectError("nothing to save: open a clip first")
        from foley_desktop.project import autosave

        self.flush_saves()  # an older background save must not land after this one
        old = self.project.path
        out = self.project.save(path)
        self._hold(out)
        self.undo_stack.setClean()
        for p in {old, out} - {None}:
            autosave.discard_autosave(p)  # the file now holds everything the autosave had
        return out

    def save_soon(self) -> None:
        """Save the project to its file in the background (after each generated take).

        The GUI thread takes a snapshot; the writer serializes it and writes it atomically.
        A project never saved, or one holding a take outside its folder (generated while it
        was untitled: saving copies the file inside and must update the live take), is saved
        here and now instead, as before.
        """
        proj = self.project
        if proj is None or proj.path is None:
            return
        folder = str(proj.path.parent) + os.sep
        if any(not str(t.path).startswith(folder) for seg in proj.segments for t in seg.takes):
            try:
                self.save()
            except ProjectError as exc:
                self.saveFailed.emit(str(exc))
            return
        self.saver.submit(("project", proj.path), _write, snapshot(proj), proj.path,
                          tag=(self.revision, proj))

    def flush_saves(self) -> None:
        """Wait for background saves to finish and apply their outcome (clean state, errors)."""
        self.saver.wait()
        self._saves_done()

    def _saves_done(self) -> None:
        from foley_desktop.project import autosave

        for _key, (revision, proj), result, seconds in self.saver.collect():
            if isinstance(result, BaseException):
                text = str(result) if isinstance(result, ProjectError) else (
                    f"saving failed: {type(result).__name__}: {result}")
                self.saveFailed.emit(text)
                continue
            self.save_times.append(seconds)
            if proj is not self.project:
                continue
            if revision == self.revision:
                # The file holds exactly what the window shows.
                self.undo_stack.setClean()
                autosave.discard_autosave(result)
            else:
                # Edited (or undone) after the snapshot: the file matches no step of the undo
                # stack any more, not even the one that was clean before.
                self.undo_stack.resetClean()

    def shutdown(self) -> None:
        """Finish pending saves and stop the writer (the window calls this when it closes)."""
        self.flush_saves()
        self.saver.shutdown()
        self._hold(None)

    def _set(self, project: Project) -> None:
        self.undo_stack.clear()
        self.project = project
        self.opened.emit()
        self.changed.emit()

    # ---- edits
    def push(self, command: pc.Command) -> pc.Command:
        if self.project is None:
            raise ProjectError("open a clip first")
        command.apply(self.project)  # raises ProjectError if refused, before the stack sees it
        self.undo_stack.push(ProjectCommand(self, command))
        return command

    def add_segment(self, start: int, end: int, prompt: str = "", **fields) -> Segment:
        seg = Segment(new_id("seg"), int(start), int(end), prompt, **fields)
        self.push(pc.AddSegment(seg))
        return seg

    def move_segment(self, seg_id: str, start: int) -> None:
        self.push(pc.MoveSegment(seg_id, int(start)))

    def trim_segment(self, seg_id: str, start: int, end: int) -> None:
        self.push(pc.TrimSegment(seg_id, int(start), int(end)))

    def set_field(self, seg_id: str, name: str, value, label: str = "") -> None:
        """`label`: what Undo / Redo call the edit (default "set NAME")."""
        seg = self.segment(seg_id)
        if seg is not None and getattr(seg, name) != value:
            self.push(pc.SetSegmentField(seg_id, name, value, label=label))

    def remove_segments(self, ids: list[str]) -> None:
        if not ids:
            return
        cmds = [pc.RemoveSegment(i) for i in ids]
        self.push(cmds[0] if len(cmds) == 1 else
                  pc.Macro(cmds, f"delete {len(cmds)} segments"))

    def add_takes(self, seg_id: str, takes: list) -> None:
        if not takes:
            return
        cmds = [pc.AddTake(seg_id, t, make_active=(i == 0)) for i, t in enumerate(takes)]
        self.push(cmds[0] if len(cmds) == 1 else pc.Macro(cmds, f"add {len(cmds)} takes"))

    def add_run_take(self, seg_id: str, take, run: object, make_active: bool) -> None:
        """Add one take of a generation run; the takes of one run undo as one step
        (`RunTakes.mergeWith`)."""
        if self.project is None:
            raise ProjectError("open a clip first")
        cmd = pc.Macro([pc.AddTake(seg_id, take, make_active=make_active)], "add take")
        cmd.apply(self.project)
        self.undo_stack.push(RunTakes(self, cmd, run))

    def set_active_take(self, seg_id: str, take_id: str | None) -> None:
        seg = self.segment(seg_id)
        if seg is not None and seg.active_take != take_id:
            self.push(pc.SetActiveTake(seg_id, take_id))

    def set_stems(self, stems: dict, speech: list | None = None) -> None:
        self.push(pc.SetStems(stems, speech))

    # ---- queries
    def segment(self, seg_id: str) -> Segment | None:
        if self.project is None:
            return None
        return next((s for s in self.project.segments if s.id == seg_id), None)

    @property
    def duration(self) -> int:
        return 0 if self.project is None else self.project.duration_samples

    @property
    def fps(self):
        from fractions import Fraction

        if self.info is not None and self.info.video is not None:
            return self.info.video.fps
        return Fraction(25)
