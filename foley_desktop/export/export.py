"""The export job: stems, per-take files, timeline files and a muxed video, all or nothing.

Everything is first written to hidden temp files in the output folder; only when every file is
complete are they renamed into place. A failure (full disk, read-only folder, a source that
vanished, a cancel) removes the temp files and raises one `ExportError` (or `Cancelled`) naming
what failed, so the files of an earlier export in that folder are left exactly as they were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from foley_desktop.errors import Cancelled, ExportError, FoleyError
from foley_desktop.export import stems as st
from foley_desktop.export.bwf import RIFF_LIMIT
from foley_desktop.export.placement import align_span, clip_rate
from foley_desktop.export.timeline import FORMATS as TIMELINE_FORMATS
from foley_desktop.export.timeline import timeline_files
from foley_desktop.fsutil import sweep_stale_temps
from foley_desktop.jobs import CancelToken, Progress, ProgressFn, check
from foley_desktop.outpaths import check_outputs
from foley_desktop.project.model import Project

DEFAULT_STEMS = ("foley", "background", "dialogue", "mix")
DEFAULT_TIMELINES = ("otio",)


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was omitted or adjusted, for the user


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


class _Staging:
    """Temp files next to their final names; `commit` renames them all, `abort` removes them."""

    def __init__(self, out_dir: Path, inputs: list[Path]) -> None:
        self.out_dir = out_dir
        self.inputs = inputs        # the clip, takes and stems: never replaced by an output
        self.pending: list[tuple[Path, Path]] = []  # (temp, final)

    def path(self, name: str) -> Path:
        final = self.out_dir / name
        if any(f == final for _, f in self.pending):
            raise ExportError(f"two exported files would be named {name}")
        try:
            check_outputs([final], self.inputs, ExportError)
        except ExportError as exc:
            raise ExportError(f"{exc} (export into another folder)") from None
        stem, suffix = os.path.splitext(name)
        try:
            # The pid in the name lets a later export sweep what a killed one left.
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}.{os.getpid()}.", suffix=f".partial{suffix}",
                                       dir=self.out_dir)
        except OSError as exc:
            raise ExportError(f"cannot write into {self.out_dir}: {_reason(exc)}") from exc
        os.close(fd)
        self.pending.append((Path(tmp), final))
        return Path(tmp)

    def final(self, tmp: Path) -> Path:
        return next(f for t, f in self.pending if t == tmp)

    def commit(self) -> list[Path]:
        mode = 0o666 & ~_umask()
        for tmp, _final in self.pending:
            # Data reaches the disk before the name does: a crash never leaves a short file.
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            # mkstemp made it 0600: give it what a plain open() would (colleagues, render nodes).
            os.chmod(tmp, mode)
        done = []
        for tmp, final in self.pending:
            os.replace(tmp, final)
            done.append(final)
        self.pending.clear()
        return done

    def abort(self) -> None:
        for tmp, _ in self.pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self.pending.clear()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_for_write(path: Path) -> IO[bytes]:
    return open(path, "r+b")


def _as_made(t: st.PlacedTake) -> st.PlacedTake:
    """A placed take described by what made it: file names, the FX stem's notes and the take's
    BWF name the prompt (and negative) recorded in the take, not what the segment says now."""
    rec = t.take.params or {}
    if "prompt" in rec or "negative" in rec:
        t.segment = dataclasses.replace(t.segment, prompt=rec.get("prompt", t.segment.prompt),
                                        negative=rec.get("negative", t.segment.negative))
    return t


def export_project(project: Project, out_dir: str | os.PathLike, format: str = "wav24",
                   stems: Sequence[str] = DEFAULT_STEMS, timelines: Sequence[str] = DEFAULT_TIMELINES,
                   takes: str = "active", mux: bool = False, rf64_threshold: int = RIFF_LIMIT,
                   progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                   ) -> ExportResult:
    """Export `project` into `out_dir` (created if needed). See the module doc for guarantees.

    format: "wav24" (24-bit PCM) or "wav32f" (32-bit float). stems: lanes among foley,
    background, dialogue, mix. timelines: among otio, fcp7xml, fcpxml, edl, aaf, kdenlive. takes: "active" (one file
    per segment's active take), "all" (alternates too) or "none". mux: also write a copy of the
    clip with the mix as an extra audio track (`<clip>_FoleyMix.mov`).
    """
    if format not in st.FORMATS:
        raise ExportError(f"unknown format {format!r} (choose from {', '.join(st.FORMATS)})")
    bad = [t for t in timelines if t not in TIMELINE_FORMATS]
    if bad:
        raise ExportError(f"unknown timeline format(s): {', '.join(bad)} "
                          f"(choose from {', '.join(TIMELINE_FORMATS)})")
    if takes not in ("active", "all", "none"):
        raise ExportError("takes must be active, all or none")
    subtype, tag = st.FORMATS[format]
    # Absolute: timeline files hold file URLs, and a relative folder has none.
    out_dir = Path(out_dir).absolute()
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out_dir}: {_reason(exc)}") from exc
    sweep_stale_temps(out_dir)     # the debris of an export that was killed
    try:
        return _export(project, out_dir, format, stems, timelines, takes, mux, rf64_threshold,
                       progress, cancel, subtype, tag)
    except BaseException:
        if created:                # a failed export leaves no empty folder behind
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise


def _export(project, out_dir, format, stems, timelines, takes, mux, rf64_threshold, progress,
            cancel, subtype, tag) -> ExportResult:
    kinds = list(dict.fromkeys(stems))
    if mux and "mix" not in kinds:
        kinds.append("mix")
    src = st.plan_sources(project, kinds)
    result = ExportResult(notes=list(src.notes))
    placed = [_as_made(t) for t in st.load_takes(project, "all" if takes == "all" else "active")]
    if takes == "none":
        placed_files = []
    else:
        placed_files = placed
    clip = st.safe_name(project.clip_name)
    rate = clip_rate(project.media_info)
    if rate is not None:
        # Take files start and end on frames, so every NLE lands the take on its sample.
        for t in placed_files:
            t.head, t.tail = align_span(t.start, t.length, rate)
    elif timelines:
        result.notes.append("timeline files omitted: the clip has no frame rate")
        timelines = ()
    inputs = [project.media, *project.stems.values(),
              *(t.path for seg in project.segments for t in seg.takes)]
    staging = _Staging(out_dir, inputs)
    current = "the export"

    def report(stage: str, done: float, total: float) -> None:
        if progress is not None:
            progress(Progress(stage, done, total))

    try:
        # Stems.
        targets = {k: staging.path(f"{clip}_{st.LANES[k]}_{tag}.wav") for k in src.kinds}
        if src.kinds:
            current = "the stems (" + ", ".join(p.name for p in map(staging.final, targets.values())) + ")"
            gains = st.write_stems(project, src, placed, subtype, targets, rf64_threshold,
                                   progress, cancel, open_file=_open_for_write)
            for k, g in gains.items():
                if g != 1.0:
                    result.notes.append(f"{st.LANES[k]} stem turned down {st.db(g)} dB to keep "
                                        f"{st.TRUE_PEAK_CEILING_DB:g} dBTP of headroom")
            # One truth: take files (and so every timeline built on them) play at the FX
            # stem's level.
            fx_gain = gains.get("foley", 1.0)
            if fx_gain != 1.0 and placed_files:
                for t in placed_files:
                    t.gain = fx_gain
                result.notes.append(f"take files written at the FX stem's gain ({st.db(fx_gain)} dB) "
                                    "so timelines play what the stem holds")
        # Per-take files.
        alt_count: dict[str, int] = {}
        for i, t in enumerate(placed_files):
            check(cancel)
            alt = 0
            if not t.active:
                alt = alt_count[t.segment.id] = alt_count.get(t.segment.id, 0) + 1
            tmp = staging.path(st.take_file_name(project.clip_name, t, tag, alt))
            final = t.path = staging.final(tmp)
            current = final.name
            with open(tmp, "r+b") as fh:
                g = st.write_take(project, t, subtype, fh, rf64_threshold)
            if g != 1.0:
                t.gain *= g
                result.notes.append(f"{final.name} turned down {st.db(g)} dB (it would clip in 24-bit)")
            report("writing takes", i + 1, len(placed_files))
        # Timelines (they point at the per-take files' final names).
        for fmt in timelines:
            check(cancel)
            if not placed_files and fmt == "edl":
                result.notes.append("EDL omitted: no take files were exported")
                continue
            current = f"the {fmt} timeline"
            for name, data in timeline_files(project, placed_files, fmt,
                                                      bits=32 if subtype == "FLOAT" else 24).items():
                tmp = staging.path(name)
                current = name
                with open(tmp, "wb") as out:
                    out.write(data.encode("utf-8") if isinstance(data, str) else data)
        # The clip with the mix as an extra audio track.
        if mux:
            check(cancel)
            from foley_desktop.media.mux import mux_audio

            name = f"{clip}_FoleyMix.mov"
            current = name
            tmp = staging.path(name)
            report("muxing", 0, 1)
            mux_audio(project.media, targets["mix"], tmp, title="Foley mix", cancel=cancel)
            report("muxing", 1, 1)
        check(cancel)
        current = "renaming the finished files into place"
        result.files = staging.commit()
        return result
    except Cancelled:
        staging.abort()
        raise
    except FoleyError as exc:
        staging.abort()
        if isinstance(exc, ExportError) and str(exc).startswith(("cannot write into", "the clip is missing")):
            raise
        raise ExportError(f"export failed while writing {current}: {exc}; nothing in {out_dir} "
                          "was changed") from exc
    except OSError as exc:
        staging.abort()
        hint = " (disk full)" if exc.errno == errno.ENOSPC else ""
        raise ExportError(f"export failed while writing {current}: {_reason(exc)}{hint}; "
                          f"nothing in {out_dir} was changed") from exc
    except BaseException:
        staging.abort()
        raise
