"""Glue from a project segment to the engine's generation job (runs in a worker).

The UI's only addition to `engine.generate_to_files` is bookkeeping: which seeds a segment's
variations use, where its take files go, and the project `Take` records for them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from foley_desktop.jobs import CancelToken, ProgressFn
from foley_desktop.project.model import Take, new_id

_engines: dict[tuple, object] = {}
_engines_lock = threading.Lock()


@dataclass(frozen=True)
class SegmentJob:
    """Everything a generation needs, copied on the GUI thread (the project may change)."""

    segment_id: str
    video: Path
    start: int
    end: int
    prompt: str
    negative: str | None
    seeds: tuple[int, ...]
    steps: int | None
    guidance: float | None
    model: str | None
    precision: str
    provider: str
    out_dir: Path


@dataclass
class SegmentResult:
    segment_id: str
    takes: list[Take]
    provider: str
    variant: str
    fallback_reason: str | None


def _engine(model: str | None, precision: str, provider: str):
    """Loaded engines are kept: loading ONNX graphs costs more than a short generation."""
    from foley_desktop.engine.generate import DEFAULT_MODEL, Engine

    key = (model or DEFAULT_MODEL, precision, provider)
    with _engines_lock:
        eng = _engines.get(key)
        if eng is None:
            eng = _engines[key] = Engine(key[0], precision, provider)
        return eng


def run_segment_job(job: SegmentJob, *, progress: ProgressFn | None = None,
                    cancel: CancelToken | None = None) -> SegmentResult:
    from foley_desktop.engine.generate import GenerateRequest, generate_to_files

    engine = _engine(job.model, job.precision, job.provider)
    req = GenerateRequest(video=job.video, start=job.start, end=job.end, prompt=job.prompt,
                          negative=job.negative, seeds=list(job.seeds), steps=job.steps,
                          guidance=job.guidance)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    stem = new_id(job.segment_id)
    result, paths = generate_to_files(req, job.out_dir / f"{stem}.wav", engine=engine,
                                      progress=progress, cancel=cancel)
    takes = [Take(new_id("take"), p, t.seed, t.model, t.version, t.variant, t.provider)
             for p, t in zip(paths, result.takes)]
    return SegmentResult(job.segment_id, takes, result.provider, engine.variant,
                         result.fallback_reason)
