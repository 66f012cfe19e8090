"""The open project as the window sees it: a `Project`, a QUndoStack and change signals.

Every edit is one of the project layer's command objects (`foley_desktop.project.commands`),
wrapped in a QUndoCommand so Qt's undo stack, its actions and its clean state drive the menus.
A command is applied once before it is pushed, so an edit the project refuses raises
`ProjectError` and never reaches the stack.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from foley_desktop.errors import ProjectError
from foley_desktop.project import commands as pc
from foley_desktop.project.io import new_project
from foley_desktop.project.model import Project, Segment, new_id


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


class Document(QObject):
    changed = Signal()  # anything in the project changed (segments, takes, stems …)
    opened = Signal()  # a different project / clip is now open

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.info = None  # media.MediaInfo of the clip
        self.undo_stack = QUndoStack(self)

    # ---- opening
    def open_media(self, path: str | Path) -> None:
        """Start a new project on a clip (raises MediaError / ProjectError for a bad file)."""
        from foley_desktop.media.probe import probe

        project = new_project(path)
        self.info = probe(project.media)
        self._set(project)

    def open_project(self, path: str | Path) -> None:
        from foley_desktop.media.probe import probe

        project = Project.load(path)
        self.info = probe(project.media)
        self._set(project)

    def save(self, path: str | Path | None = None) -> Path:
        if self.project is None:
            raise ProjectError("nothing to save: open a clip first")
        out = self.project.save(path)
        self.undo_stack.setClean()
        return out

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

    def set_field(self, seg_id: str, name: str, value) -> None:
        seg = self.segment(seg_id)
        if seg is not None and getattr(seg, name) != value:
            self.push(pc.SetSegmentField(seg_id, name, value))

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

    def set_active_take(self, seg_id: str, take_id: str | None) -> None:
        seg = self.segment(seg_id)
        if seg is not None and seg.active_take != take_id:
            self.push(pc.SetActiveTake(seg_id, take_id))

    def set_stems(self, stems: dict) -> None:
        self.push(pc.SetStems(stems))

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
