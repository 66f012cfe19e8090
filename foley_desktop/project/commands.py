"""Undoable edits of a project, shared by the CLI and the GUI's undo stack.

Every change a user makes goes through a `Command`: `apply(project)` makes it (checking it is
valid first, so a refused edit changes nothing) and `revert(project)` puts the project back
exactly as it was. `UndoStack` keeps the applied commands; the GUI listens to it through
`on_change` callbacks (plain callables, no Qt here).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foley_desktop.errors import ProjectError
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.project.model import MODES, Project, Segment, Take
from foley_desktop.spotting.markers import Marker, sorted_unique


def when(project: Project, t: int) -> str:
    """A time for the editor: seconds, and the timecode at the clip's frame rate when it has
    one ("1.500 s (00:00:01:12)"); errors never speak in samples."""
    from fractions import Fraction

    from foley_desktop.media.timebase import samples_to_timecode

    text = f"{t / SAMPLE_RATE:.3f} s"
    fps = project.media_info.get("fps")
    if fps and t >= 0:
        try:
            tc = samples_to_timecode(int(t), Fraction(str(fps)),
                                     bool(project.media_info.get("drop_frame")))
        except (ValueError, ZeroDivisionError):
            return text
        text += f" ({tc})"
    return text


def _check_range(project: Project, start: int, end: int) -> None:
    if not isinstance(start, int) or not isinstance(end, int):
        raise ProjectError("segment times must be whole samples")
    if start < 0:
        raise ProjectError(f"a segment cannot start before the clip ({start / SAMPLE_RATE:.3f} s)")
    if end <= start:
        raise ProjectError(f"a segment must end after it starts ({when(project, start)} to "
                           f"{when(project, end)})")
    if end > project.duration_samples:
        raise ProjectError(f"a segment cannot end past the clip's end ({when(project, end)} > "
                           f"{when(project, project.duration_samples)})")


class Command:
    """One undoable edit. Subclasses set `text` (shown as "Undo <text>")."""

    text = "edit"

    def apply(self, project: Project) -> None:
        raise NotImplementedError

    def revert(self, project: Project) -> None:
        raise NotImplementedError


@dataclass
class AddSegment(Command):
    segment: Segment
    index: int | None = None  # position in the list; None = at the end
    text = "add segment"

    def apply(self, project: Project) -> None:
        _check_range(project, self.segment.start, self.segment.end)
        if any(s.id == self.segment.id for s in project.segments):
            raise ProjectError(f"the project already has a segment {self.segment.id}")
        index = len(project.segments) if self.index is None else self.index
        project.segments.insert(index, self.segment)
        self.index = index

    def revert(self, project: Project) -> None:
        project.segments.pop(project.segment_index(self.segment.id))


@dataclass
class RemoveSegment(Command):
    segment_id: str
    _removed: Segment | None = field(default=None, repr=False)
    _index: int = field(default=-1, repr=False)
    text = "remove segment"

    def apply(self, project: Project) -> None:
        self._index = project.segment_index(self.segment_id)
        self._removed = project.segments.pop(self._index)

    def revert(self, project: Project) -> None:
        if self._removed is None:
            raise ProjectError("undo of a segment removal that was never applied")
        project.segments.insert(self._index, self._removed)


@dataclass
class MoveSegment(Command):
    """Move a segment to start at `start`, keeping its length. Its takes move with it."""

    segment_id: str
    start: int
    _old: int = field(default=0, repr=False)
    text = "move segment"

    def apply(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        _check_range(project, self.start, self.start + seg.length)
        self._old = seg.start
        seg.end, seg.start = self.start + seg.length, self.start

    def revert(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        seg.end, seg.start = self._old + seg.length, self._old


@dataclass
class TrimSegment(Command):
    """Set a segment's start and/or end (None keeps it).

    Existing takes keep their length; a take longer than the trimmed segment is cut at the
    segment's end when exported, a shorter one leaves silence after it.
    """

    segment_id: str
    start: int | None = None
    end: int | None = None
    _old: tuple[int, int] = field(default=(0, 0), repr=False)
    text = "trim segment"

    def apply(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        start = seg.start if self.start is None else self.start
        end = seg.end if self.end is None else self.end
        _check_range(project, start, end)
        self._old = (seg.start, seg.end)
        seg.start, seg.end = start, end

    def revert(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        seg.start, seg.end = self._old


# Fields a user may set directly, with the check each value must pass.
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "prompt": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty text"),
    "negative": (lambda v: v is None or isinstance(v, str), "a text or nothing"),
    "seed": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
             "a non-negative whole number"),
    "variations": (lambda v: isinstance(v, int) and 1 <= v <= 64, "a whole number from 1 to 64"),
    "steps": (lambda v: v is None or (isinstance(v, int) and 1 <= v <= 1000), "1 to 1000"),
    "guidance": (lambda v: v is None or (isinstance(v, (int, float)) and 0 <= v <= 100), "0 to 100"),
    "visual_guidance": (lambda v: v is None or (isinstance(v, (int, float)) and 0 <= v <= 100),
                        "0 to 100"),
    "model": (lambda v: v is None or isinstance(v, str), "a package name"),
    "precision": (lambda v: isinstance(v, str) and v != "", "a precision name"),
    "gain_db": (lambda v: isinstance(v, (int, float)) and -96 <= v <= 24, "-96 to 24 dB"),
    "literal_prompt": (lambda v: isinstance(v, bool), "yes or no"),
    "markers": (lambda v: isinstance(v, list) and all(isinstance(m, Marker) for m in v),
                "a list of markers"),
    "mode": (lambda v: v in MODES, " or ".join(MODES)),
    "between_markers": (lambda v: v in ("auto", "quiet", "keep"), "auto, quiet or keep"),
    "spot_roi": (lambda v: v is None or (isinstance(v, tuple) and len(v) == 4
                                         and all(isinstance(x, int) and not isinstance(x, bool)
                                                 for x in v)
                                         and v[0] >= 0 and v[1] >= 0 and v[2] > 0 and v[3] > 0),
                 "x, y, width, height in whole pixels (size > 0) or nothing"),
    "pinned": (lambda v: isinstance(v, list) and len(v) <= 64 and all(isinstance(x, str) for x in v),
               "a list of sound file paths"),
}
SETTABLE_FIELDS = tuple(_FIELDS)
# How the editor knows a field (the inspector's label, the CLI's flag), for messages.
_SAID = {"gain_db": "gain", "visual_guidance": "picture guidance",
         "between_markers": "between markers", "spot_roi": "the auto-spot region",
         "literal_prompt": "use the prompt as typed", "pinned": "pinned sounds"}


@dataclass
class SetSegmentField(Command):
    segment_id: str
    name: str
    value: Any
    _old: Any = field(default=None, repr=False)
    label: str = ""   # what Undo / Redo say ("nudge marker"); default "set NAME"

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.label or f"set {self.name}"

    def apply(self, project: Project) -> None:
        if self.name not in _FIELDS:
            raise ProjectError(f"cannot set {self.name!r} (settable: {', '.join(_FIELDS)})")
        ok, expected = _FIELDS[self.name]
        if not ok(self.value):
            raise ProjectError(f"{_SAID.get(self.name, self.name)} must be {expected}, "
                               f"not {self.value!r}")
        seg = project.segment(self.segment_id)
        value = self.value
        if self.name == "markers":
            late = [m for m in value if m.time > project.duration_samples]
            if late:
                raise ProjectError(f"a marker at {when(project, late[0].time)} is past the clip's "
                                   f"end ({when(project, project.duration_samples)})")
            value = sorted_unique(value)
        if self.name == "spot_roi" and value is not None:
            _check_roi(project, value)
        self._old = getattr(seg, self.name)
        setattr(seg, self.name, value)

    def revert(self, project: Project) -> None:
        setattr(project.segment(self.segment_id), self.name, self._old)


def _check_roi(project: Project, roi: tuple[int, int, int, int]) -> None:
    """A region must lie inside the clip's frame when its size is known."""
    width, height = project.media_info.get("width"), project.media_info.get("height")
    x, y, w, h = roi
    if width and height and (x + w > width or y + h > height):
        raise ProjectError(f"the auto-spot region {w}x{h} at {x},{y} is outside the "
                           f"{width}x{height} picture")


def roi_text(roi: tuple[int, int, int, int] | None) -> str:
    """How the editor reads a region: "268x132 at 500,268" ("" for none)."""
    if roi is None:
        return ""
    x, y, w, h = roi
    return f"{w}x{h} at {x},{y}"


def SetPrompt(segment_id: str, prompt: str) -> SetSegmentField:
    return SetSegmentField(segment_id, "prompt", prompt)


@dataclass
class AddTake(Command):
    """Attach a generated take (its file already written) and, by default, make it active."""

    segment_id: str
    take: Take
    make_active: bool = True
    _old_active: str | None = field(default=None, repr=False)
    text = "add take"

    def apply(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        if any(t.id == self.take.id for t in seg.takes):
            raise ProjectError(f"segment {seg.id} already has a take {self.take.id}")
        self._old_active = seg.active_take
        seg.takes.append(self.take)
        if self.make_active or seg.active_take is None:
            seg.active_take = self.take.id

    def revert(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        seg.takes = [t for t in seg.takes if t.id != self.take.id]
        seg.active_take = self._old_active


@dataclass
class RemoveTake(Command):
    """Drop a take from the segment (its file stays in the cache so undo can bring it back)."""

    segment_id: str
    take_id: str
    _removed: Take | None = field(default=None, repr=False)
    _index: int = field(default=-1, repr=False)
    _old_active: str | None = field(default=None, repr=False)
    text = "remove take"

    def apply(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        take = seg.take(self.take_id)
        self._index = seg.takes.index(take)
        self._old_active = seg.active_take
        seg.takes.pop(self._index)
        self._removed = take
        if seg.active_take == take.id:
            seg.active_take = seg.takes[-1].id if seg.takes else None

    def revert(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        if self._removed is None:
            raise ProjectError("undo of a take removal that was never applied")
        seg.takes.insert(self._index, self._removed)
        seg.active_take = self._old_active


@dataclass
class SetActiveTake(Command):
    segment_id: str
    take_id: str | None
    _old: str | None = field(default=None, repr=False)
    text = "choose take"

    def apply(self, project: Project) -> None:
        seg = project.segment(self.segment_id)
        if self.take_id is not None:
            seg.take(self.take_id)  # raises if absent
        self._old = seg.active_take
        seg.active_take = self.take_id

    def revert(self, project: Project) -> None:
        project.segment(self.segment_id).active_take = self._old


@dataclass
class SetStems(Command):
    """Record the separated dialogue/background WAVs (or clear them with an empty dict) and,
    when given, the speech regions separation found (None leaves them as they are)."""

    stems: dict
    speech: list | None = None
    _old: dict = field(default_factory=dict, repr=False)
    _old_speech: list = field(default_factory=list, repr=False)
    text = "set separated stems"

    def apply(self, project: Project) -> None:
        bad = set(self.stems) - {"dialogue", "background"}
        if bad:
            raise ProjectError(f"unknown stem kind(s): {', '.join(sorted(bad))}")
        if self.speech is not None:
            end = project.duration_samples
            for a, b in self.speech:
                if not (0 <= int(a) < int(b) <= end):
                    raise ProjectError(f"speech region {when(project, int(a))} to "
                                       f"{when(project, int(b))} is outside the clip")
        self._old = dict(project.stems)
        self._old_speech = list(project.speech)
        project.stems = dict(self.stems)
        if self.speech is not None:
            project.speech = [(int(a), int(b)) for a, b in self.speech]

    def revert(self, project: Project) -> None:
        project.stems = dict(self._old)
        project.speech = list(self._old_speech)


@dataclass
class Macro(Command):
    """Several commands undone and redone as one (e.g. "delete 3 segments")."""

    commands: list
    label: str = "edit"

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.label

    def apply(self, project: Project) -> None:
        done = []
        try:
            for c in self.commands:
                c.apply(project)
                done.append(c)
        except Exception:
            for c in reversed(done):
                c.revert(project)
            raise

    def revert(self, project: Project) -> None:
        for c in reversed(self.commands):
            c.revert(project)


class UndoStack:
    """Applied commands with undo/redo, a clean mark (saved state) and change listeners."""

    def __init__(self, project: Project, limit: int = 500) -> None:
        self.project = project
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean: int | None = 0  # len(_done) at the last save; None = unreachable
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, cb: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def _changed(self) -> None:
        for cb in list(self._listeners):
            cb()

    def push(self, command: Command) -> Command:
        """Apply `command` and record it; a refused command raises and records nothing."""
        command.apply(self.project)
        self._done.append(command)
        self._undone.clear()
        if self._clean is not None and self._clean >= len(self._done):
            self._clean = None  # the saved state was in the discarded redo branch
        if len(self._done) > self.limit:
            self._done.pop(0)
            self._clean = None if self._clean in (None, 0) else self._clean - 1
        self._changed()
        return command

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def undo(self) -> None:
        if not self._done:
            return
        c = self._done.pop()
        c.revert(self.project)
        self._undone.append(c)
        self._changed()

    def redo(self) -> None:
        if not self._undone:
            return
        c = self._undone.pop()
        c.apply(self.project)
        self._done.append(c)
        self._changed()

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        self._clean = len(self._done)
        self._changed()

    @property
    def is_clean(self) -> bool:
        return self._clean == len(self._done)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._clean = 0
        self._changed()


def snapshot(project: Project) -> Project:
    """A deep copy, for tests and for comparing states."""
    return copy.deepcopy(project)


@dataclass
class RelinkMedia(Command):
    """Point the project at its clip's new location (the relink dialog after a move)."""

    media: Path
    _old: Path | None = field(default=None, repr=False)
    text = "relink clip"

    def apply(self, project: Project) -> None:
        self._old = project.media
        project.media = Path(self.media)

    def revert(self, project: Project) -> None:
        if self._old is None:
            raise ProjectError("undo of a relink that was never applied")
        project.media = self._old
