"""Generate takes for a project's segments, saving after each one.

`generate_segments` runs the engine once per seed (one take at a time, reusing one loaded
`Engine` per model and precision), writes each take as a 48 kHz 32-bit float WAV into the
project's cache folder, adds it to its segment (`AddTake`, made active) and saves the project
atomically before starting the next. A cancel or a failure therefore loses at most the take in
progress, and running it again resumes: a segment skips the seeds it already has takes for
that were made with the same parameters (`take_params`: prompt, settings, model, markers …);
change any of them and Generate makes new takes. Each take records those parameters, and,
when the segment has markers, how well its onsets land on them (`Take.sync`).

Segments in library mode get takes made of recordings from the sound library laid on their
markers (library/render.py) instead of the model's; they are stored and saved the same way.

The GUI passes `on_take` to receive each finished take instead (it applies `AddTake` on its own
thread, through its undo stack, and hands the save to a background writer that serializes a
snapshot of the project; see `ui/document.py`), a `take_dir` for a project not saved yet
(the app cache; saving copies the takes beside the project) and an `engines` dict that keeps
loaded engines from one job to the next.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from foley_desktop.errors import FoleyError, GenerationError, ProjectError
from foley_desktop.jobs import CancelToken, Progress, ProgressFn, check
from foley_desktop.project import io
from foley_desktop.project.commands import AddTake
from foley_desktop.project.model import SAMPLE_RATE, Project, Segment, Take, new_id
from foley_desktop.spotting.onsets import sync_score

# Recorded in a take's params but derived from them (how the prompt was read): not compared.
DERIVED = ("prompt_read_as", "prompt_understood")


def take_params(seg: Segment, model: str) -> dict:
    """What a take of `seg` is made from, as recorded in the take (`Take.params`): a take made
    with other values is not the take this segment asks for, so Generate makes a new one."""
    inside = seg.markers_inside()
    return {"mode": seg.mode, "prompt": seg.prompt, "negative": seg.negative,
            "steps": seg.steps, "guidance": seg.guidance, "visual_guidance": seg.visual_guidance,
            "literal_prompt": seg.literal_prompt, "model": model, "precision": seg.precision,
            "start": seg.start, "end": seg.end, "pinned": list(seg.pinned),
            "markers": hashlib.sha1(",".join(f"{m.time}:{m.kind}:{m.strength:.4f}"
                                              for m in inside).encode()).hexdigest()[:16]
            if inside else None}


def seeds_to_run(seg: Segment, params: dict | None = None) -> list[int]:
    """The seeds still to generate: seed .. seed+K-1 less those with a take made from the same
    `params` (fresh seeds if the segment has none). Takes saved before takes recorded their
    parameters count for their seed whatever made them."""
    same = [t for t in seg.takes if params is None or not t.params
            or {k: v for k, v in t.params.items() if k not in DERIVED} == params]
    if seg.seed is None:
        missing = seg.variations if params is None else max(0, seg.variations - len(same))
        base = secrets.randbelow(2**31 - 64)
        return [base + i for i in range(missing)]
    have = {t.seed for t in same}
    return [s for s in range(seg.seed, seg.seed + seg.variations) if s not in have]


def generate_segments(project: Project, segment_ids: Iterable[str] | None = None, *,
                      package=None, precision: str = "auto", provider: str = "auto",
                      on_take: Callable[[str, Take], None] | None = None,
                      take_dir=None, engines: dict | None = None, library=None,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                      ) -> list[tuple[str, Take]]:
    """Generate the missing takes of `segment_ids` (default: every segment).

    `package` overrides every segment's own `model` (None: the segment's, else the default
    package). Returns the (segment id, Take) pairs made, in order. Raises `ProjectError` for an
    unsaved project or an unknown segment id, `GenerationError`/`ModelPackageError` from the
    engine, `Cancelled` on cancel (finished takes are already saved).
    """
    from foley_desktop.engine.generate import DEFAULT_MODEL, Engine, GenerateRequest, generate

    if project.path is None and (on_take is None or take_dir is None):
        raise ProjectError("save the project first: takes are stored next to the project file")
    ids = [s.id for s in project.segments] if segment_ids is None else list(segment_ids)
    segments = [project.segment(i) for i in ids]  # raises for an unknown id
    if not project.media.exists():
        raise ProjectError(f"the clip is missing: {project.media}")
    def model_name(seg: Segment) -> str:
        return "library" if seg.mode == "library" else str(package or seg.model or DEFAULT_MODEL)

    plan = [(seg, seeds_to_run(seg, take_params(seg, model_name(seg)))) for seg in segments]
    total = sum(len(seeds) for _, seeds in plan)
    engines = {} if engines is None else engines
    made: list[tuple[str, Take]] = []
    done = 0
    for seg, seeds in plan:
        if not seg.prompt.strip():
            raise GenerationError(f"segment {seg.id} has no prompt")
        params = take_params(seg, model_name(seg))
        inside = seg.markers_inside()
        marker_s = [(m.time - seg.start) / SAMPLE_RATE for m in inside]
        if seg.mode == "library" and seeds:
            made_now = _library_takes(project, seg, seeds, params, library, take_dir, on_take,
                                      progress, cancel, done, total)
            made += made_now
            done += len(made_now)
            continue
        key = (str(package or seg.model or ""), seg.precision if precision == "auto" else precision,
               provider)
        for seed in seeds:
            check(cancel)
            if key not in engines:
                engines[key] = Engine(package or seg.model or DEFAULT_MODEL, key[1], provider)
            engine = engines[key]
            label = f"segment {ids.index(seg.id) + 1}/{len(ids)} seed {seed}"

            def sub(p: Progress, label=label, base=done) -> None:
                if progress is not None:
                    # `done` counts saved takes: the one in progress never reaches a whole number.
                    progress(Progress(f"{label}: {p.stage}", base + 0.99 * p.fraction, total, None))

            result = generate(GenerateRequest(video=project.media, start=seg.start, end=seg.end,
                                              prompt=seg.prompt, negative=seg.negative,
                                              seeds=[seed], steps=seg.steps, guidance=seg.guidance,
                                              visual_guidance=seg.visual_guidance,
                                              literal_prompt=seg.literal_prompt,
                                              markers=[(m.time, m.strength) for m in inside]
                                              if inside else None),
                              engine=engine, progress=sub, cancel=cancel)
            t = result.takes[0]
            take_id = new_id("take")
            path = _store(project, seg, take_id, t.audio, take_dir)
            recorded = dict(params)
            if result.prompt_read_as:
                recorded["prompt_read_as"] = result.prompt_read_as
            if not result.prompt_understood:
                recorded["prompt_understood"] = False
            take = Take(id=take_id, path=path, seed=t.seed, model=t.model, version=t.version,
                        variant=t.variant, provider=t.provider,
                        prompt_used=result.prompt_used or "", params=recorded,
                        sync=sync_score(t.audio, marker_s) if inside else None)
            _add(project, seg, take, on_take, first=seed == seeds[0])
            made.append((seg.id, take))
            done += 1
            if progress is not None:
                progress(Progress(label, done, total, None))
    return made



def _store(project: Project, seg: Segment, take_id: str, audio, take_dir) -> Path:
    from foley_desktop.media.wav import write_wav

    if take_dir is not None:
        path = Path(take_dir) / seg.id / f"{take_id}.wav"
    else:
        path = project.cache_dir / "takes" / seg.id / f"{take_id}.wav"
        io.ensure_writable_inside(path, project.path.parent)
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


def _library_takes(project: Project, seg: Segment, seeds: list[int], params: dict, library,
                   take_dir, on_take, progress, cancel, done: int, total: int
                   ) -> list[tuple[str, Take]]:
    """Library mode: the segment's prompt searched in the sound library, recordings laid on
    its markers (library/render.py); one take per seed, each saved like a model take."""
    from foley_desktop.library.index import LibraryIndex
    from foley_desktop.library.render import render_takes

    if seg.pinned:
        from foley_desktop.library.render import pinned_hits

        hits = pinned_hits(seg.pinned, library)
    else:
        lib = library if library is not None else LibraryIndex()
        hits = lib.search(seg.prompt, limit=12)

    def sub(p: Progress) -> None:
        if progress is not None:
            progress(Progress(f"segment {seg.id}: {p.stage}", done + 0.99 * p.fraction * len(seeds),
                              total, None))

    inside = seg.markers_inside()
    takes = render_takes(hits, inside, seg.start, seg.end, seeds, query=seg.prompt,
                         progress=sub, cancel=cancel)
    marker_s = [(m.time - seg.start) / SAMPLE_RATE for m in inside]
    out = []
    for lt in takes:
        check(cancel)
        take_id = new_id("take")
        path = _store(project, seg, take_id, lt.audio, take_dir)
        take = Take(id=take_id, path=path, seed=lt.seed, model="library", version=lt.kind,
                    variant="", provider="", mode="library", params=params,
                    sources=lt.sources,
                    sync=sync_score(lt.audio, marker_s) if inside and lt.kind == "hits" else None)
        _add(project, seg, take, on_take, first=lt is takes[0])
        out.append((seg.id, take))
    return out
