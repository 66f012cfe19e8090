"""The files a drag out of the app hands over: full-length stems and placed takes, as BWF.

Plain Python (no Qt), so it runs on a worker thread and in tests. Every file is written by the
export layer's own writers (`export.stems.write_stems` / `write_take`: 48 kHz 24-bit BWF, the
export's names, exactly the clip's length or the segment's length), into a drag folder in the
project's cache. Beside each file a small `.NAME.key` holds a fingerprint of everything the file
was made from (segments, active takes, gains, stems, the clip, each source file's size and
mtime); a file whose fingerprint still matches is handed out again without writing.

A file is replaced by an atomic rename, so an app still reading the previous version (a drop in
progress) keeps reading a complete file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from foley_desktop.errors import Cancelled, ExportError, FoleyError
from foley_desktop.export import stems as st
from foley_desktop.fsutil import atomic_temp_path, atomic_write
from foley_desktop.jobs import CancelToken, ProgressFn
from foley_desktop.project.model import Project

FORMAT = "wav24"  # what an NLE expects; the per-project export format is the export's choice
STEM_LANES = tuple(st.LANES)  # foley, background, dialogue, mix

# What can be dragged: ("stem", lane) or ("take", segment id).
What = tuple[str, str]


def _stat(path: Path | None) -> list | None:
    if path is None:
        return None
    try:
        s = os.stat(path)
    except OSError:
        return [str(path), None]
    return [str(path), s.st_mtime_ns, s.st_size]


def _segment_state(project: Project, seg) -> list:
    take = seg.active()
    t = None
    if take is not None:
        t = [take.id, _stat(Path(take.path)), take.seed, take.model, take.version, take.variant,
             take.provider]
    return [seg.id, seg.start, seg.end, seg.gain_db, seg.prompt, seg.negative, t]


def fingerprint(project: Project, what: What) -> str:
    """A short hash of everything the file for `what` is made from (cheap: a few stat calls)."""
    kind, name = what
    info = project.media_info
    state: dict = {
        "v": 1, "what": [kind, name], "format": FORMAT, "clip": project.clip_name,
        "project": project.name,
        "info": [info.get("duration_samples"), info.get("audio_channels"), info.get("fps"),
                 info.get("timecode"), info.get("drop_frame")],
    }
    if kind == "stem":
        if name in ("background", "mix"):  # may read the clip's own audio
            state["media"] = _stat(project.media)
        state["stems"] = {k: _stat(Path(p)) for k, p in sorted(project.stems.items())}
        if name in ("foley", "mix"):
            state["segments"] = [_segment_state(project, s) for s in project.sorted_segments()]
    else:
        order = project.sorted_segments()
        seg = project.segment(name)
        state["index"] = order.index(seg) + 1 if seg in order else None
        state["segment"] = _segment_state(project, seg) if seg is not None else None
    text = json.dumps(state, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _key_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.key")


def _up_to_date(target: Path, key: str) -> bool:
    try:
        return target.is_file() and _key_path(target).read_text() == key
    except OSError:
        return False


def _remember(target: Path, key: str) -> None:
    with atomic_write(_key_path(target), "w") as fh:
        fh.write(key)


def stem_name(project: Project, lane: str) -> str:
    tag = st.FORMATS[FORMAT][1]
    return f"{st.safe_name(project.clip_name)}_{st.LANES[lane]}_{tag}.wav"


def _placed_take(project: Project, seg_id: str) -> st.PlacedTake:
    """The segment's active take read and cut like the export does, numbered as in the export."""
    seg = project.segment(seg_id)
    if seg is None:
        raise ExportError("that segment no longer exists")
    if seg.active() is None:
        raise ExportError(f"segment {seg.prompt or '(no prompt)'!r} has no take yet: generate "
                          "it first")
    index = project.sorted_segments().index(seg) + 1
    # load_takes over a project holding only this segment: one file read, the export's gain
    # and cut; then the number it has in the whole project.
    (placed,) = st.load_takes(dataclasses.replace(project, segments=[seg]), "active")
    placed.index = index
    return placed


def target_path(project: Project, what: What, folder: Path) -> Path:
    kind, name = what
    if kind == "stem":
        if name not in STEM_LANES:
            raise ExportError(f"unknown stem {name!r}")
        _stem_sources(project, name)  # refuses a lane with nothing in it, before any work
        return folder / stem_name(project, name)
    if kind == "take":
        seg = project.segment(name)
        active = seg.active() if seg is not None else None
        if seg is None or active is None:
            raise ExportError("that segment has no take to drag: generate it first")
        index = project.sorted_segments().index(seg) + 1
        # The export's name for it (take_file_name reads index, segment and take; no audio).
        stub = st.PlacedTake(index, seg, active, True, np.zeros(0, np.float32))
        return folder / st.take_file_name(project.clip_name, stub, st.FORMATS[FORMAT][1])
    raise ValueError(f"cannot drag {kind!r}")


def ready_path(project: Project, what: What, folder: Path) -> Path | None:
    """The file for `what` if it is already written and up to date, else None (no writing)."""
    try:
        target = target_path(project, what, folder)
    except FoleyError:
        return None
    return target if _up_to_date(target, fingerprint(project, what)) else None


def write_file(project: Project, what: What, folder: str | os.PathLike,
               progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Path:
    """Write (or reuse) the file for `what` in `folder` and return its path.

    Raises ExportError with one line when there is nothing to hand out (a lane that is not
    separated, a segment without a take) or the folder cannot be written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    target = target_path(project, what, folder)
    key = fingerprint(project, what)
    if _up_to_date(target, key):
        return target
    subtype = st.FORMATS[FORMAT][0]
    kind, name = what
    try:
        if kind == "take":
            placed = _placed_take(project, name)
            with atomic_write(target, "w+b") as fh:
                st.write_take(project, placed, subtype, fh)
        else:
            _write_stem(project, name, target, subtype, progress, cancel)
        _remember(target, key)
    except (ExportError, Cancelled):
        raise
    except FoleyError as exc:  # atomic_write's "cannot write …" and the like
        raise ExportError(f"cannot write {target.name}: {exc}") from exc
    return target


def _stem_sources(project: Project, lane: str) -> st.StemSources:
    src = st.plan_sources(project, [lane])
    if lane not in src.kinds:  # e.g. dialogue before separation: the export's note says why
        raise ExportError(src.notes[0] if src.notes else f"no {lane} stem to hand out")
    return src


def _write_stem(project: Project, lane: str, target: Path, subtype: str,
                progress: ProgressFn | None, cancel: CancelToken | None) -> None:
    src = _stem_sources(project, lane)
    takes = st.load_takes(project, "active") if lane in ("foley", "mix") else []
    # write_stems opens (and closes) its target by name: give it a temp name beside the final
    # one, then make the data durable and rename, as the export's staging does.
    tmp = atomic_temp_path(target)
    try:
        st.write_stems(project, src, takes, subtype, {lane: tmp}, progress=progress,
                       cancel=cancel)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
