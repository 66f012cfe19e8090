"""Calibration inputs captured from the real pipeline.

The FP32 engine generates audio for real clips and prompts; every graph run is recorded with the
exact inputs it got. The denoiser therefore sees the actual noisy states x_t of every sampler
step (with the text and visual features of that clip, conditional and unconditional rows), not
random tensors; the decoder sees the final latents; the encoders see real frames and tokens.

Recording works through the engine's public objects: `Engine.sessions[role]` and each
`VisualStream.encoder` are replaced by a recorder that forwards to the real GraphSession.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.engine.package import ModelPackage
from foley_desktop.errors import FoleyError, MediaError
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter
from foley_desktop.media.timebase import SAMPLE_RATE as SR

log = logging.getLogger(__name__)

DEFAULT_PROMPTS = ("footsteps on gravel", "door slam", "glass breaks", "engine idle",
                   "typing on a keyboard", "water splash")


class Recorder:
    """Stands in for a GraphSession and keeps a copy of every feed it forwards."""

    def __init__(self, session, store: list[dict[str, np.ndarray]]) -> None:
        self._session = session
        self.store = store

    def run(self, feeds, cancel=None):
        self.store.append({k: np.ascontiguousarray(v, dtype=self._session.input_types[k]).copy()
                           for k, v in feeds.items()})
        return self._session.run(feeds, cancel)

    def __getattr__(self, name):          # fixed_batch, path, role, input_types …
        return getattr(self._session, name)


@dataclass
class ClipSpec:
    video: Path | None       # None: text-only
    prompt: str
    start: int = 0           # samples at 48 kHz
    end: int | None = None   # None: one model window from start (or the clip's end)


@dataclass
class Calibration:
    samples: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)  # role -> feeds
    clips: list[ClipSpec] = field(default_factory=list)
    steps: int = 0
    seeds: list[int] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)   # FP32 output per clip (first seed)

    def count(self, role: str) -> int:
        return len(self.samples.get(role, []))

    def describe(self) -> dict:
        return {"clips": [{"video": str(c.video) if c.video else None, "prompt": c.prompt,
                           "start": c.start, "end": c.end} for c in self.clips],
                "steps": self.steps, "seeds": self.seeds,
                "samples": {r: len(v) for r, v in self.samples.items()}}


def default_prompt(video: Path) -> str:
    """The caption of a sidecar JSON (`clip.json` with "caption"), else the file's name."""
    side = video.with_suffix(".json")
    if side.is_file():
        try:
            cap = json.loads(side.read_text(encoding="utf-8")).get("caption")
            if isinstance(cap, str) and cap.strip():
                return cap
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("caption of %s not read from %s (%s); using the file name", video.name,
                        side, exc)
    return video.stem.replace("_", " ").replace("-", " ")


def clip_specs(videos: list[Path], prompts: list[str] | None) -> list[ClipSpec]:
    """Pair clips with prompts (by position, cycling); no clips: text-only runs of the prompts."""
    prompts = list(prompts or [])
    if not videos:
        return [ClipSpec(None, p) for p in (prompts or DEFAULT_PROMPTS[:2])]
    out = []
    for i, v in enumerate(videos):
        v = Path(v)
        if not v.is_file():
            raise MediaError(f"calibration clip not found: {v}")
        out.append(ClipSpec(v, prompts[i % len(prompts)] if prompts else default_prompt(v)))
    return out


def _segment(pkg: ModelPackage, clip: ClipSpec) -> tuple[int, int]:
    window = round(Fraction(pkg.window_frames) / pkg.latent_rate * SR)
    start = clip.start
    end = clip.end if clip.end is not None else start + window
    if clip.video is not None and clip.end is None:
        from foley_desktop.media.probe import probe

        end = min(end, probe(clip.video).duration_samples)
    return start, end


def capture(package: ModelPackage, clips: list[ClipSpec], *, steps: int | None = None,
            seeds: tuple[int, ...] = (0,), engine: Engine | None = None,
            progress: ProgressFn | None = None, cancel: CancelToken | None = None
            ) -> Calibration:
    """Generate every clip with the FP32 graphs on the CPU and record every graph's inputs
    (a graph without fp32 runs the variant it ships)."""
    if engine is None:
        from foley_desktop.quantize.views import variant_view

        engine = Engine(variant_view(package, "fp32")[0], precision="auto", provider="cpu")
    cal = Calibration(clips=list(clips), seeds=list(seeds))
    originals = dict(engine.sessions)
    for role, sess in originals.items():
        engine.sessions[role] = Recorder(sess, cal.samples.setdefault(role, []))
    stream_orig = {}
    for name, stream in engine.streams.items():
        stream_orig[name] = stream.encoder
        if stream.encoder is not None:
            stream.encoder = engine.sessions[stream.stream.graph]
    meter = ProgressMeter(progress, "calibrating", len(clips))
    try:
        for i, clip in enumerate(clips):
            start, end = _segment(package, clip)
            if end <= start:
                raise FoleyError(f"calibration clip {clip.video} is empty")
            req = GenerateRequest(video=clip.video, start=start, end=end, prompt=clip.prompt,
                                  seeds=list(seeds), steps=steps)
            res = generate(req, engine=engine, cancel=cancel)
            cal.steps = res.steps
            cal.audio.append(res.takes[0].audio)
            meter.update(i + 1)
    finally:
        engine.sessions.update(originals)
        for name, enc in stream_orig.items():
            engine.streams[name].encoder = enc
    return cal


def expected_denoiser_runs(cal: Calibration, package: ModelPackage) -> int:
    """Denoiser runs the calibration must have recorded: evaluations x windows per clip
    (one run per evaluation holds all seeds' conditional and unconditional rows)."""
    total = 0
    method = package.sampler.get("default_method", "euler")
    evals = cal.steps if method == "euler" else 2 * cal.steps - 1
    step_frames = package.window_frames - package.overlap_frames
    for clip in cal.clips:
        start, end = _segment(package, clip)
        need = math.ceil(Fraction((end - start) * package.sample_rate, SR))
        frames = math.ceil(need / package.hop_samples)
        windows = 1 if frames <= package.window_frames else \
            1 + math.ceil((frames - package.window_frames) / step_frames)
        total += windows * evals
    return total
