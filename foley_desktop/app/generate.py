"""The generate jobs: takes for a project's segments, and for a bare clip.

`generate_segments` (the window's Generate and `generate --project`) resolves each segment's
parameters once (`params.resolve`), asks `seeds_to_run` which of its variations have no take
made from them, and runs the engine once per segment with all those seeds in one batch (the
engine batches seeds: the prompt is encoded once, the picture read once). Each take is written
as a 48 kHz 32-bit float WAV into the project's cache folder, records its parameters
(`GenParams.record`) and its sync score against the segment's markers, is added to its segment
(`AddTake`, the first of a run made active) and the project saved atomically before the next.
A cancel or a failure loses at most the segment in progress, and running it again resumes.

Segments in library mode get takes of recordings from the sound library laid on their markers
(library/render.py) instead; they are stored and saved the same way.

The GUI passes `on_take` to receive each finished take instead (it applies `AddTake` on its own
thread, through its undo stack, and hands the save to a background writer; see
`ui/document.py`), a `take_dir` for a project not saved yet (the app cache; saving copies the
takes beside the project) and an `EngineCache` that keeps loaded engines between jobs.

`generate_clip` is `generate CLIP`'s job: the same parameters and engine call for a segment of
a clip that belongs to no project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from foley_desktop.app.engines import EngineCache
from foley_desktop.app.params import LIBRARY, GenParams, check_precision, resolve, seeds_to_run
from foley_desktop.app.preferences import Preferences
from foley_desktop.errors import FoleyError, GenerationError, ProjectError
from foley_desktop.jobs import CancelToken, Progress, ProgressFn, check
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.project import io
from foley_desktop.project.commands import AddTake, when
from foley_desktop.project.model import Project, Segment, Take, new_id
from foley_desktop.spotting.onsets import sync_score


@dataclass(frozen=True)
class Planned:
    segment: Segment
    params: GenParams
    seeds: list[int]


def plan(project: Project, segment_ids: Iterable[str] | None = None, *,
         prefs: Preferences | None = None, package=None, precision: str | None = None,
         provider: str | None = None, library=None,
         spot_fix: Callable[[Project, Segment], str] | None = None) -> list[Planned]:
    """Each segment's resolved parameters and the seeds it still needs (raises ProjectError
    for an unknown id, ModelPackageError for a model that is not installed, GenerationError
    for a precision its model does not have, `NeedsMarkers` for a library segment that has
    no markers and single sounds to lay on them: all before any take is made).

    `library`: the sound library index library segments search (None: the default one);
    `spot_fix`: what the editor should do about a segment without markers, in the caller's
    words (default: the `project edit-segment` command that adds them)."""
    ids = [s.id for s in project.segments] if segment_ids is None else list(segment_ids)
    segments = [project.segment(i) for i in ids]  # raises for an unknown id
    out = []
    for seg in segments:
        params = resolve(seg, prefs, model=package, precision=precision, provider=provider)
        if params.mode != LIBRARY:
            try:
                check_precision(params.model.ref, params.precision)
            except FoleyError as exc:
                raise type(exc)(f"segment {when(project, seg.start)}: {exc}") from None
        elif not seg.markers_inside():
            check_library_markers(project, seg, params, library, spot_fix)
        out.append(Planned(seg, params, seeds_to_run(seg, params)))
    return out


def project_spot_fix(project: Project, seg: Segment) -> str:
    """`generate --project`'s words for a library segment without markers: the command that
    gives it some."""
    name = project.path.name if project.path is not None else "P.foley"
    return (f"give it markers with `foley-desktop project edit-segment {name} {seg.id} "
            "--markers auto` (or their times)")


def check_library_markers(project: Project, seg: Segment, params: GenParams, library=None,
                          spot_fix: Callable[[Project, Segment], str] | None = None) -> None:
    """A library segment without markers: refused (`NeedsMarkers`, library.render's rule
    `needs_markers`) when its sounds are single events, before any work, rather than by its
    job. The sounds are the ones its job would use: the pinned recordings (as the index knows
    them: a pinned file the index lacks would have to be decoded to tell, so its job decides),
    else the library searched with the prompt. An empty library, or nothing matching, is left
    to the job, which says so itself."""
    from foley_desktop.library.index import LibraryIndex
    from foley_desktop.library.render import needs_markers, no_markers_error

    lib = library if library is not None else LibraryIndex()
    hits: list = []
    try:
        if params.pinned:
            known = [lib.info(p) for p in params.pinned]
            if any(h is None for h in known):
                return
            hits = known
        elif lib.count() == 0:
            return
        else:
            hits = lib.search(params.prompt, limit=12)
    finally:
        if library is None:
            lib.close()
    if needs_markers(hits, seg.markers_inside(), params.start, params.end):
        fix = (spot_fix or project_spot_fix)(project, seg)
        raise no_markers_error(fix, seg.id, f"segment {when(project, seg.start)}, "
                                            f"{seg.prompt[:40]!r}: ")


def generate_segments(project: Project, segment_ids: Iterable[str] | None = None, *,
                      package=None, precision: str = "auto", provider: str = "auto",
                      prefs: Preferences | None = None,
                      on_take: Callable[[str, Take], None] | None = None,
                      take_dir=None, engines: EngineCache | None = None, library=None,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                      ) -> list[tuple[str, Take]]:
    """Generate the missing takes of `segment_ids` (default: every segment).

    `package`/`precision`/`provider` (the CLI's flags; None or "auto" = not given) override the
    segment's own and `prefs`. Returns the (segment id, Take) pairs made, in order. Raises
    `ProjectError` for an unsaved project or an unknown segment id,
    `GenerationError`/`ModelPackageError` from the engine, `Cancelled` on cancel (finished takes
    are already saved).
    """
    if project.path is None and (on_take is None or take_dir is None):
        raise ProjectError("save the project first: takes are stored next to the project file")
    if segment_ids is not None:
        for sid in segment_ids:
            project.segment(sid)   # an unknown id is refused before the model is looked up
    if not project.media.exists():
        raise ProjectError(f"the clip is missing: {project.media}")
    for seg in (project.segments if segment_ids is None
                else [project.segment(i) for i in segment_ids]):
        if not seg.prompt.strip():
            raise GenerationError(f"segment {seg.id} has no prompt")
    todo = plan(project, segment_ids, prefs=prefs, package=package,
                precision=None if precision == "auto" else precision,
                provider=None if provider == "auto" else provider, library=library)
    return run_plan(project, todo, on_take=on_take, take_dir=take_dir, engines=engines,
                    library=library, progress=progress, cancel=cancel)


def job_copy(project: Project, segment_ids: Iterable[str]) -> Project:
    """A copy of `project` holding only these segments, for a job on a worker thread: the
    editor keeps editing the real one meanwhile (and copying a big project would cost)."""
    import copy

    return Project(media=project.media, media_info=dict(project.media_info),
                   segments=[copy.deepcopy(project.segment(i)) for i in segment_ids],
                   name=project.name, created=project.created, path=project.path)


def run_plan(project: Project, todo: list[Planned], *,
             on_take: Callable[[str, Take], None] | None = None, take_dir=None,
             engines: EngineCache | None = None, library=None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None
             ) -> list[tuple[str, Take]]:
    """Make the planned takes (`plan`): one engine call per segment with all its seeds; each
    take stored, recorded and added (see the module's docstring). The window plans on its own
    thread (so "nothing to generate" and a missing model are said at once) and runs this on a
    worker with the plan's segments in a `job_copy`."""
    if project.path is None and (on_take is None or take_dir is None):
        raise ProjectError("save the project first: takes are stored next to the project file")
    if not project.media.exists():
        raise ProjectError(f"the clip is missing: {project.media}")
    todo = [Planned(project.segment(p.segment.id), p.params, p.seeds) for p in todo]
    total = sum(len(p.seeds) for p in todo)
    engines = EngineCache() if engines is None else engines
    made: list[tuple[str, Take]] = []
    done = 0
    for n, p in enumerate(todo):
        if not p.seeds:
            continue
        label = f"segment {n + 1}/{len(todo)}"
        k = len(p.seeds)

        def sub(pr: Progress, label=label, base=done, k=k) -> None:
            if progress is not None:
                # `done` counts saved takes: the batch in progress never reaches them.
                progress(Progress(f"{label}: {pr.stage}", base + 0.99 * k * pr.fraction,
                                  total, None))

        if p.params.mode == LIBRARY:
            audios = _library_audio(project, p.segment, p.params, p.seeds, library, sub, cancel)
        else:
            result = run_model(p.params, project.media, p.seeds, engines, sub, cancel)
            audios = [(t.seed, t.audio, _model_take_fields(t), p.params.record(t.seed, result))
                      for t in result.takes]
        for i, (seed, audio, fields, record) in enumerate(audios):
            check(cancel)
            take_id = new_id("take")
            path = _store(project, p.segment, take_id, audio, take_dir)
            kind_hits = fields.pop("_hits", True)
            take = Take(id=take_id, path=path, seed=seed, params=record,
                        sync=sync_score(audio, p.params.marker_seconds)
                        if p.params.markers and kind_hits else None, **fields)
            _add(project, p.segment, take, on_take, first=i == 0)
            made.append((p.segment.id, take))
            done += 1
            if progress is not None:
                progress(Progress(f"{label} seed {seed}", done, total, None))
    return made


def run_model(params: GenParams, video: Path | None, seeds: list[int],
              engines: EngineCache | None = None, progress: ProgressFn | None = None,
              cancel: CancelToken | None = None):
    """One engine call for all `seeds` of these parameters (the engine batches them)."""
    from foley_desktop.engine.generate import generate

    engines = EngineCache(1) if engines is None else engines
    check(cancel)
    engine = engines.get(params.model.ref, params.precision, params.provider)
    return generate(params.request(video, seeds), engine=engine, progress=progress,
                    cancel=cancel)


def generate_clip(params: GenParams, video: Path | None, seeds: list[int],
                  engines: EngineCache | None = None, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None):
    """`generate CLIP` in model mode: the takes of `seeds` and, per take, its record and its
    sync score against the markers (None without markers)."""
    result = run_model(params, video, seeds, engines, progress, cancel)
    records = [params.record(t.seed, result) for t in result.takes]
    syncs = [sync_score(t.audio, params.marker_seconds) if params.markers else None
             for t in result.takes]
    return result, records, syncs


def _model_take_fields(t) -> dict:
    return {"model": t.model, "version": t.version, "variant": t.variant,
            "provider": t.provider, "mode": "model"}


def _store(project: Project, seg: Segment, take_id: str, audio, take_dir) -> Path:
    from foley_desktop.media.wav import write_wav

    if take_dir is not None:
        path = Path(take_dir) / seg.id / f"{take_id}.wav"
    else:
        path = project.cache_dir / "takes" / seg.id / f"{take_id}.wav"
        io.ensure_writable_inside(path, project.cache_dir.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, audio, sr=SAMPLE_RATE, subtype="FLOAT")
    except (OSError, FoleyError) as exc:
        raise ProjectError(f"cannot store the take in {path.parent}: {exc}") from exc
    return path


def _add(project: Project, seg: Segment, take: Take, on_take, first: bool) -> None:
    if on_take is not None:
        on_take(seg.id, take)
    else:
        # The first take of a run becomes active, later variations wait as alternates (as in
        # the window).
        AddTake(seg.id, take, make_active=first).apply(project)
        io.save(project)


EMPTY_LIBRARY = ("your sound library is empty: add the starter library "
                 "(scripts/fetch_starter_library.sh, then `foley-desktop library add --starter`) "
                 "or your own sounds (`foley-desktop library add DIR`)")


def check_library(library) -> None:
    """Library mode with no sounds indexed at all: say how to add some (GenerationError),
    rather than that nothing matches the prompt."""
    if library.count() == 0:
        raise GenerationError(EMPTY_LIBRARY)


def _library_audio(project: Project, seg: Segment, params: GenParams, seeds: list[int],
                   library, progress, cancel) -> list[tuple]:
    """Library mode: the segment's prompt searched in the sound library (or its pinned
    recordings), laid on its markers (library/render.py); one take per seed."""
    from foley_desktop.library.index import LibraryIndex
    from foley_desktop.library.render import render_takes

    if params.pinned:
        from foley_desktop.library.render import pinned_hits

        hits = pinned_hits(list(params.pinned), library)
    else:
        lib = library if library is not None else LibraryIndex()
        check_library(lib)
        hits = lib.search(params.prompt, limit=12)
    inside = seg.markers_inside()
    takes = render_takes(hits, inside, params.start, params.end, seeds, query=params.prompt,
                         progress=progress, cancel=cancel)
    return [(lt.seed, lt.audio,
             {"model": LIBRARY, "version": lt.kind, "variant": "", "provider": "",
              "mode": LIBRARY, "sources": lt.sources, "_hits": lt.kind == "hits"},
             params.record(lt.seed)) for lt in takes]
