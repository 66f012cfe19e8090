"""Generate takes for a project's segments, saving after each one.

`generate_segments` runs the engine once per seed (one take at a time, reusing one loaded
`Engine` per model and precision), writes each take as a 48 kHz 32-bit float WAV into the
project's cache folder, adds it to its segment (`AddTake`, made active) and saves the project
atomically before starting the next. A cancel or a failure therefore loses at most the take in
progress, and running it again resumes: a segment with a fixed seed skips the seeds it already
has takes for.

The GUI passes `on_take` to receive each finished take instead (it applies `AddTake` on its own
thread, through its undo stack, and hands the save to a background writer that serializes a
snapshot of the project; see `ui/document.py`), a `take_dir` for a project not saved yet
(the app cache; saving copies the takes beside the project) and an `engines` dict that keeps
loaded engines from one job to the next.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from foley_desktop.errors import FoleyError, GenerationError, ProjectError
from foley_desktop.jobs import CancelToken, Progress, ProgressFn, check
from foley_desktop.project import io
from foley_desktop.project.commands import AddTake
from foley_desktop.project.model import Project, Segment, Take, new_id


def seeds_to_run(seg: Segment) -> list[int]:
    """The seeds still to generate: seed .. seed+K-1 less those with takes (fresh if no seed)."""
    if seg.seed is None:
        base = secrets.randbelow(2**31 - 64)
        return [base + i for i in range(seg.variations)]
    have = {t.seed for t in seg.takes}
    return [s for s in range(seg.seed, seg.seed + seg.variations) if s not in have]


def generate_segments(project: Project, segment_ids: Iterable[str] | None = None, *,
                      package=None, precision: str = "auto", provider: str = "auto",
                      on_take: Callable[[str, Take], None] | None = None,
                      take_dir=None, engines: dict | None = None,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                      ) -> list[tuple[str, Take]]:
    """Generate the missing takes of `segment_ids` (default: every segment).

    `package` overrides every segment's own `model` (None: the segment's, else the default
    package). Returns the (segment id, Take) pairs made, in order. Raises `ProjectError` for an
    unsaved project or an unknown segment id, `GenerationError`/`ModelPackageError` from the
    engine, `Cancelled` on cancel (finished takes are already saved).
    """
    from foley_desktop.engine.generate import DEFAULT_MODEL, Engine, GenerateRequest, generate
    from foley_desktop.media.wav import write_wav

    if project.path is None and (on_take is None or take_dir is None):
        raise ProjectError("save the project first: takes are stored next to the project file")
    ids = [s.id for s in project.segments] if segment_ids is None else list(segment_ids)
    segments = [project.segment(i) for i in ids]  # raises for an unknown id
    if not project.media.exists():
        raise ProjectError(f"the clip is missing: {project.media}")
    plan = [(seg, seeds_to_run(seg)) for seg in segments]
    total = sum(len(seeds) for _, seeds in plan)
    engines = {} if engines is None else engines
    made: list[tuple[str, Take]] = []
    done = 0
    for seg, seeds in plan:
        if not seg.prompt.strip():
            raise GenerationError(f"segment {seg.id} has no prompt")
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
                                              literal_prompt=seg.literal_prompt),
                              engine=engine, progress=sub, cancel=cancel)
            t = result.takes[0]
            take_id = new_id("take")
            if take_dir is not None:
                path = Path(take_dir) / seg.id / f"{take_id}.wav"
            else:
                path = project.cache_dir / "takes" / seg.id / f"{take_id}.wav"
                io.ensure_writable_inside(path, project.path.parent)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_wav(path, t.audio, sr=t.sample_rate, subtype="FLOAT")
            except (OSError, FoleyError) as exc:
                raise ProjectError(f"cannot store the take in {path.parent}: {exc}") from exc
            take = Take(id=take_id, path=path, seed=t.seed, model=t.model, version=t.version,
                        variant=t.variant, provider=t.provider,
                        prompt_used=result.prompt_used or "")
            if on_take is not None:
                on_take(seg.id, take)
            else:
                AddTake(seg.id, take).apply(project)
                io.save(project)
            made.append((seg.id, take))
            done += 1
            if progress is not None:
                progress(Progress(label, done, total, None))
    return made

