"""`foley-desktop project …`: create, edit and inspect .foley projects without the window.

    project new VIDEO -o P.foley
    project add-segment P.foley --start S --end E --prompt TEXT [--negative …] [--seed N] …
    project edit-segment P.foley ID [--start S] [--end E] [--prompt …] …
    project remove-segment P.foley ID
    project choose-take P.foley ID TAKE
    project separate P.foley [--backend NAME]
    project show P.foley [--json]

Times are seconds ("1.5"), clock time ("00:00:01.500") or timecode at the clip's frame rate
("00:00:01:12"). Every edit goes through the same undoable commands the window uses and is
saved atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from foley_desktop.app.preferences import PRECISION_CHOICES
from foley_desktop.errors import ProjectError
from foley_desktop.project import io, lock
from foley_desktop.project.commands import (
    AddSegment,
    Macro,
    RemoveSegment,
    SetActiveTake,
    SetSegmentField,
    TrimSegment,
    UndoStack,
)
from foley_desktop.project.model import Project, Segment, new_id

HELP = "create, edit and inspect .foley projects headlessly"

def _yes_no(text: str) -> bool:
    t = text.strip().lower()
    if t in ("yes", "true", "1", "on"):
        return True
    if t in ("no", "false", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


# Segment options shared by add-segment and edit-segment: (flag, field, type, help).
_FIELD_OPTS = [
    ("--prompt", "prompt", str, "the sound to generate"),
    ("--negative", "negative", str, "what to steer away from"),
    ("--seed", "seed", int, "base seed; variation i uses seed + i"),
    ("--variations", "variations", int, "how many takes to generate (1-64)"),
    ("--steps", "steps", int, "sampler steps (default: the model's)"),
    ("--guidance", "guidance", float, "classifier-free guidance scale"),
    ("--model", "model", str, "model package name or path (default: the shipped one)"),
    ("--precision", "precision", str,
     ", ".join(PRECISION_CHOICES) + " or a variant name the model package has"),
    ("--gain", "gain_db", float, "gain in dB applied to the take in stems and mix"),
    ("--literal-prompt", "literal_prompt", _yes_no,
     "yes: condition on the prompt as typed, not on the model's nearest training prompt"),
    ("--mode", "mode", str, ("model (generate with the model) or library (lay recordings from "
                             "your sound library on the markers)")),
    ("--between-markers", "between_markers", str,
     "model takes with markers: quiet (faded down away from the markers), keep (as generated) "
     "or auto (quiet unless the prompt asks for a continuous sound; the default)"),
]
_ROI_HELP = ("the region of the picture auto-spot looks at, in video pixels (saved with the "
             "segment; --markers auto uses it); none clears it")
_MARKERS_HELP = ("spotting markers: auto (auto-spot the picture in the segment), none, or times "
                 "(seconds, HH:MM:SS.mmm or timecode), each optionally TIME@KIND@STRENGTH")


def _field_arg(p, flag, typ, help_text, required=False) -> None:
    if typ is _yes_no:
        # `--literal-prompt` alone means yes, as in `generate --literal-prompt`.
        p.add_argument(flag, type=typ, nargs="?", const=True, help=help_text + " (alone: yes)")
    else:
        p.add_argument(flag, type=typ, required=required, help=help_text)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("new", help="start a project for a clip")
    p.add_argument("video", type=Path, help="the clip")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="P.foley")
    p.add_argument("--name", default="", help="project name (default: the clip's name)")
    p.add_argument("--force", action="store_true", help="overwrite an existing project file")

    p = sub.add_parser("add-segment", help="mark a time range and what should sound there")
    p.add_argument("project", type=Path)
    p.add_argument("--start", required=True, help="seconds, HH:MM:SS.mmm or timecode")
    p.add_argument("--end", required=True, help="seconds, HH:MM:SS.mmm or timecode")
    for flag, _, typ, help_text in _FIELD_OPTS:
        _field_arg(p, flag, typ, help_text, required=flag == "--prompt")
    p.add_argument("--markers", metavar="auto|none|T1,T2,…", help=_MARKERS_HELP)
    p.add_argument("--spot-roi", metavar="X,Y,W,H|none", help=_ROI_HELP)

    p = sub.add_parser("edit-segment", help="change a segment's times or settings")
    p.add_argument("project", type=Path)
    p.add_argument("segment", help="segment id (see `project show`)")
    p.add_argument("--start", help="new start")
    p.add_argument("--end", help="new end")
    for flag, _, typ, help_text in _FIELD_OPTS:
        _field_arg(p, flag, typ, help_text)
    p.add_argument("--markers", metavar="auto|none|T1,T2,…", help=_MARKERS_HELP)
    p.add_argument("--spot-roi", metavar="X,Y,W,H|none", help=_ROI_HELP)

    p = sub.add_parser("remove-segment", help="delete a segment (its take files stay in the cache)")
    p.add_argument("project", type=Path)
    p.add_argument("segment")

    p = sub.add_parser("choose-take", help="make one of a segment's takes the active one")
    p.add_argument("project", type=Path)
    p.add_argument("segment")
    p.add_argument("take")

    from foley_desktop.separation import backends

    names = backends()
    p = sub.add_parser("separate", help="split the clip's dialogue from its background: the "
                       "project's Dialogue and Background stems (into its cache folder)")
    p.add_argument("project", type=Path)
    p.add_argument("--backend", default="default", choices=sorted(names),
                   help="; ".join(f"{k}: {v}" for k, v in names.items()))

    p = sub.add_parser("show", help="print the project's clip, segments and takes")
    p.add_argument("project", type=Path)
    p.add_argument("--json", action="store_true", help="print the project as JSON")


def run(args) -> int:
    return {"new": _new, "add-segment": _add, "edit-segment": _edit,
            "remove-segment": _remove, "choose-take": _choose, "separate": _separate,
            "show": _show}[args.action](args)


def _time(project: Project, text: str, what: str) -> int:
    from fractions import Fraction

    from foley_desktop.media.timebase import parse_time

    fps = project.media_info.get("fps")
    try:
        return parse_time(text, Fraction(fps) if fps else None)
    except (ValueError, TypeError) as exc:
        raise ProjectError(f"bad {what} time {text!r}: {exc}") from None


def _new(args) -> int:
    out = Path(args.output)
    if out.suffix != io.PROJECT_SUFFIX:
        out = out.with_name(out.name + io.PROJECT_SUFFIX)
    try:
        exists = out.exists()
    except OSError as exc:  # e.g. ENAMETOOLONG: a user's mistake, not a crash
        raise ProjectError(f"cannot write {out}: {exc.strerror or exc}") from None
    if exists and not args.force:
        raise ProjectError(f"{out} exists (use --force to replace it)")
    project = io.new_project(args.video, name=args.name)
    io.save(project, out)
    print(f"created {out}: {project.media.name}, {_secs(project.duration_samples)} "
          f"({project.duration_samples} samples)")
    return 0


def _apply_and_save(project: Project, command) -> None:
    UndoStack(project).push(command)
    io.save(project)


def _field_commands(args, seg_id: str, current_model: str | None = None) -> list:
    """The segment fields the flags set. A model that is not installed, or a precision the
    segment's model does not have, is refused now, not when generating later."""
    from foley_desktop.app.params import check_precision
    from foley_desktop.engine.generate import load_model
    from foley_desktop.errors import FoleyError

    model = getattr(args, "model", None)
    if model is not None:
        try:
            load_model(model)
        except FoleyError as exc:
            raise ProjectError(f"--model {model}: {exc}") from None
    precision = getattr(args, "precision", None)
    if precision is not None:
        try:
            check_precision(model or current_model or None, precision)
        except FoleyError as exc:
            raise ProjectError(f"--precision {precision}: {exc}") from None
    cmds = []
    for flag, name, _, _ in _FIELD_OPTS:
        value = getattr(args, name if flag != "--gain" else "gain", None)
        if value is not None:
            cmds.append(SetSegmentField(seg_id, name, value))
    return cmds


_KEEP = object()  # --spot-roi not given: the segment keeps its region


def _roi_arg(args):
    """`--spot-roi`: a region, None for "none", or _KEEP when the flag is absent."""
    from foley_desktop.commands.spot import parse_roi
    from foley_desktop.errors import FoleyError

    text = getattr(args, "spot_roi", None)
    if text is None:
        return _KEEP
    if text.strip().lower() == "none":
        return None
    try:
        return parse_roi(text, "--spot-roi")
    except FoleyError as exc:
        raise ProjectError(str(exc)) from None


def _roi_command(seg_id: str, roi) -> list:
    return [] if roi is _KEEP else [SetSegmentField(seg_id, "spot_roi", roi)]


def _markers_command(args, project: Project, seg_id: str, start: int, end: int,
                     roi: tuple[int, int, int, int] | None = None) -> list:
    """`--markers` as a SetSegmentField command (none: [] clears; auto: auto-spot, in `roi`
    when the segment has a region)."""
    if getattr(args, "markers", None) is None:
        return []
    from fractions import Fraction

    from foley_desktop.commands.generate import markers_from_arg
    from foley_desktop.errors import GenerationError

    fps = project.media_info.get("fps")
    try:
        marks = markers_from_arg(args.markers, project.media, start, end,
                                 Fraction(fps) if fps else None, roi=roi)
    except GenerationError as exc:
        raise ProjectError(str(exc)) from None
    return [SetSegmentField(seg_id, "markers", marks or [])]


def _check_roi_first(project: Project, roi) -> None:
    """Refuse a region outside the frame before auto-spot runs (not after its wait)."""
    from foley_desktop.project.commands import _check_roi

    if roi is not _KEEP and roi is not None:
        _check_roi(project, roi)


def _add(args) -> int:
    with lock.locked(args.project):  # read, change, write: no other writer in between
        return _add_locked(args)


def _add_locked(args) -> int:
    project = io.load(args.project)
    start, end = _time(project, args.start, "start"), _time(project, args.end, "end")
    seg = Segment(id=new_id("seg"), start=start, end=end, prompt="-")
    roi = _roi_arg(args)
    _check_roi_first(project, roi)
    cmds = [AddSegment(seg)] + _field_commands(args, seg.id) + _roi_command(seg.id, roi)
    cmds += _markers_command(args, project, seg.id, start, end,
                             None if roi is _KEEP else roi)
    _apply_and_save(project, Macro(cmds, "add segment"))
    print(seg.id)
    return 0


def _edit(args) -> int:
    with lock.locked(args.project):
        return _edit_locked(args)


def _edit_locked(args) -> int:
    project = io.load(args.project)
    seg = project.segment(args.segment)
    cmds = []
    if args.start is not None or args.end is not None:
        cmds.append(TrimSegment(seg.id,
                                None if args.start is None else _time(project, args.start, "start"),
                                None if args.end is None else _time(project, args.end, "end")))
    roi = _roi_arg(args)
    _check_roi_first(project, roi)
    cmds += _field_commands(args, seg.id, seg.model) + _roi_command(seg.id, roi)
    new_start = seg.start if args.start is None else _time(project, args.start, "start")
    new_end = seg.end if args.end is None else _time(project, args.end, "end")
    cmds += _markers_command(args, project, seg.id, new_start, new_end,
                             seg.spot_roi if roi is _KEEP else roi)
    if not cmds:
        raise ProjectError("nothing to change: give --start, --end, --prompt …")
    _apply_and_save(project, Macro(cmds, "edit segment"))
    return 0


def _remove(args) -> int:
    with lock.locked(args.project):
        project = io.load(args.project)
        _apply_and_save(project, RemoveSegment(args.segment))
    return 0


def _choose(args) -> int:
    with lock.locked(args.project):
        project = io.load(args.project)
        _apply_and_save(project, SetActiveTake(args.segment, args.take))
    return 0


def _separate(args) -> int:
    from foley_desktop.app.separate import check_separable, separate_project

    with lock.locked(args.project):  # for the whole run, as generate --project
        project = io.load(args.project)
        check_separable(project)
        cmd = separate_project(project, backend=args.backend, progress=_progress_printer())
        _apply_and_save(project, cmd)
    speech = sum(b - a for a, b in project.speech) / 48000
    for kind, path in sorted(project.stems.items()):
        print(f"{kind + ':':<11} {path}")
    print(f"{len(project.speech)} speech region(s), {speech:.1f} s; the export's Dialogue and "
          "Background stems now come from these")
    return 0


def _secs(samples: int) -> str:
    return f"{samples / 48000:.3f} s"


def _marker_text(m) -> str:
    """One marker for `show`: its time, kind unless other, strength unless 1, and (auto)."""
    text = f"{m.time / 48000:.3f}" + ("" if m.kind == "other" else f"@{m.kind}")
    if m.strength != 1:
        text += f" strength {m.strength:.2f}"
    if m.source == "auto":
        text += " (auto)"
    return text


def _show(args) -> int:
    from foley_desktop.app.provenance import describe
    from foley_desktop.project.commands import roi_text

    project = io.load(args.project)
    folder = project.path.parent
    if args.json:
        doc = io.to_dict(project, folder)
        doc["path"] = str(project.path)
        doc["media_path"] = str(project.media)
        doc["media_exists"] = project.media.exists()
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    info = project.media_info
    fps = info.get("fps") or "-"
    print(f"project   {project.path}")
    print(f"name      {project.name}")
    missing = "" if project.media.exists() else "  [MISSING]"
    print(f"clip      {os.path.relpath(project.media, folder)}{missing}")
    print(f"duration  {_secs(project.duration_samples)} ({project.duration_samples} samples), "
          f"{fps} fps, timecode {info.get('timecode') or '-'}, "
          f"{info.get('audio_channels', 0)} audio channel(s)")
    if project.stems:
        for kind, p in sorted(project.stems.items()):
            print(f"stem      {kind}: {os.path.relpath(p, folder)}")
    else:
        print("stems     not separated")
    print(f"segments  {len(project.segments)}")
    for seg in project.sorted_segments():
        seed = "random" if seg.seed is None else str(seg.seed)
        print(f"  {seg.id}  {_secs(seg.start)} - {_secs(seg.end)} ({_secs(seg.length)})  "
              f"seed {seed} x{seg.variations}  {seg.prompt!r}"
              + (f"  negative {seg.negative!r}" if seg.negative else "")
              + ("  [library]" if seg.mode == "library" else "")
              + (f"  between markers: {seg.between_markers}"
                 if seg.between_markers != "auto" else ""))
        if seg.spot_roi is not None:
            print(f"    auto-spot region {roi_text(seg.spot_roi)} (pixels)")
        if seg.markers:
            shown = ", ".join(_marker_text(m) for m in seg.markers[:12])
            print(f"    markers ({len(seg.markers)}): {shown}" + (" …" if len(seg.markers) > 12 else ""))
            outside = [m for m in seg.markers if not seg.start <= m.time < seg.end]
            if outside:
                print(f"    {len(outside)} marker(s) outside the segment: not used "
                      f"({', '.join(f'{m.time / 48000:.3f}' for m in outside[:12])}"
                      + (" …" if len(outside) > 12 else "") + ")")
        for t in seg.takes:
            mark = "*" if t.id == seg.active_take else " "
            ok = "" if t.path.exists() else "  [MISSING]"
            what = (f"library ({len(t.sources)} placements)" if t.mode == "library"
                    else f"{t.model} {t.variant} {t.provider}")
            sync = f"  sync F1 {t.sync['f1_40ms']:.2f}@40ms" if t.sync else ""
            print(f"    {mark} {t.id}  seed {t.seed}  {what}{sync}{ok}")
            made = describe(t)
            if made:      # what made it: its prompt, settings, model and hash, app version
                print("        " + " · ".join(made))
    return 0


def run_generate(args) -> int:
    """`foley-desktop generate --project P.foley (--all | --segment ID …)`, for generate.py.

    Reads args.project, args.all, args.segment (list of ids), args.model, args.precision,
    args.provider and args.json; generates the missing takes, saving after each one.
    """
    with lock.locked(args.project):  # for the whole run: an edit meanwhile waits, then fails
        return _run_generate_locked(args)


def _run_generate_locked(args) -> int:
    from foley_desktop.app.generate import generate_segments

    project = io.load(args.project)
    ids = list(getattr(args, "segment", None) or [])
    if getattr(args, "all", False):
        if ids:
            raise ProjectError("give --all or --segment, not both")
        ids = None
    elif not ids:
        raise ProjectError("say which segments: --all or --segment ID (see `project show`)")
    library = None
    if getattr(args, "library_db", None) is not None:
        from foley_desktop.library.index import LibraryIndex

        library = LibraryIndex(args.library_db)
    made = generate_segments(project, ids, package=getattr(args, "model", None), library=library,
                             precision=getattr(args, "precision", "auto") or "auto",
                             provider=getattr(args, "provider", "auto") or "auto",
                             progress=_progress_printer())
    if getattr(args, "json", False):
        print(json.dumps([{"segment": sid, "take": t.id, "seed": t.seed, "path": str(t.path),
                           "model": t.model, "variant": t.variant, "provider": t.provider,
                           "mode": t.mode, "sync": t.sync, "sources": t.sources,
                           "params": t.params}
                          for sid, t in made], indent=2))
    else:
        for sid, t in made:
            print(f"{sid}  seed {t.seed}  {t.path}")
        if not made:
            print("nothing to generate: every segment has its takes", file=sys.stderr)
    return 0


def _progress_printer():
    if not sys.stderr.isatty():
        return None

    def show(p) -> None:
        sys.stderr.write(f"\r{p.stage[:60]:60s} {p.done:.1f}/{p.total:.0f}   ")
        if p.done >= p.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
