"""The generate job: segment + prompt (+ video) -> takes of 48 kHz mono audio.

Pipeline per window: visual features (or the unconditional ones), the sampler over the denoiser
with conditional and unconditional rows in one batch (all seeds at once), the decoder; then the
windows are joined, resampled to 48 kHz when the model runs at another rate, trimmed to the
segment's exact length, and finished (DC, loudness, true-peak limit).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from foley_desktop.engine import anchor, cpu, events, marker_gate, providers, sampler, windows
from foley_desktop.engine.bench import preferred_variants
from foley_desktop.engine.features import VisualStream, tokens_for, unconditional
from foley_desktop.engine.package import PRECISIONS, ModelPackage, load_package
from foley_desktop.engine.post import finish
from foley_desktop.engine.prompt_reading import read_prompt
from foley_desktop.engine.session import GraphSession, Runner
from foley_desktop.engine.text import TextTokenizer
from foley_desktop.errors import GenerationError, ModelPackageError
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.media.timebase import outside_clip

DEFAULT_MODEL = "foley-tiny"
# Which precision runs best where (docs/model-package.md); the first one present is taken.
PREFERENCE = {"cpu": ("int8", "fp32", "fp16"), "cuda": ("fp16", "fp32", "int8"),
              "tensorrt": ("int8", "fp16", "fp32")}


MAX_TAKE_SAMPLES = 2 * 3600 * SR   # all takes of one job together


@dataclass
class GenerateRequest:
    video: Path | None
    start: int                      # samples at 48 kHz, in the clip
    end: int
    prompt: str
    negative: str | None = None     # None: the package's default negative prompt
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int | None = None        # None: the package's default
    guidance: float | None = None
    sampler: str | None = None      # "euler" | "heun"; None: the package's default
    # Separate guidance on the visual condition (sampler.py); None: the package's
    # `sampler.visual_guidance` if it has one, else one guidance for both conditions.
    visual_guidance: float | None = None
    loudness_lufs: float | None = None
    continue_windows: bool = True   # inpaint each window's overlap from the previous one
    # True: condition on the prompt as typed, not on the package's nearest training prompt
    # (engine/anchor.py); packages without anchors always use the prompt as typed.
    literal_prompt: bool = False
    # Spotting markers as (time in samples in the clip, strength 0..1); None: none given. A
    # package whose denoiser takes an event track places its events on them; other packages
    # cannot (GenerateResult.markers_followed is False and a note says so).
    markers: list[tuple[int, float]] | None = None
    # What the takes do between the markers (engine/marker_gate.py): "keep" as generated;
    # "quiet" faded down outside windows around the markers; "auto" quiet unless the prompt
    # asks for a continuous sound (a bed: fire, rain, crowd ...) or the package cannot follow
    # markers. Nothing changes without markers.
    between_markers: str = marker_gate.DEFAULT_MODE


@dataclass
class Take:
    seed: int
    audio: np.ndarray               # float32 [samples] at 48 kHz, len == end - start
    sample_rate: int
    model: str
    version: str
    variant: str
    provider: str
    timings: dict
    post: dict = field(default_factory=dict)


@dataclass
class GenerateResult:
    takes: list[Take]
    provider: str
    fallback_reason: str | None
    variants: dict[str, str]
    windows: int
    steps: int
    guidance: float
    sampler: str
    timings: dict
    join_correlation: list[float] = field(default_factory=list)   # first take, per join
    visual_guidance: float | None = None
    # The noise level below which the visual guidance was 1 (the package's; 0: every step).
    visual_guidance_until: float = 0.0
    notes: list[str] = field(default_factory=list)   # precision choices worth telling the user
    # The training prompt the model was conditioned on instead of the typed one (anchor.py),
    # and its similarity to it; None when the prompt was used as typed.
    prompt_used: str | None = None
    prompt_similarity: float | None = None
    # How an English text encoder read the prompt (prompt_reading.py): the English it read when
    # that differs from the typed prompt (e.g. translated from Chinese), False when the prompt
    # could not be read (e.g. Arabic for an English encoder), and the one line to tell the user.
    prompt_read_as: str | None = None
    prompt_understood: bool = True
    prompt_note: str | None = None
    # None: no markers were given; True: the model was conditioned on them; False: it cannot be.
    markers_followed: bool | None = None
    # With markers: "quiet" when the takes were faded down between them (marker_gate.py),
    # "keep" when not; None without markers.
    between_markers: str | None = None

    def to_dict(self) -> dict:
        return {"model": self.takes[0].model, "version": self.takes[0].version,
                "variant": self.takes[0].variant, "variants": self.variants,
                "provider": self.provider, "fallback_reason": self.fallback_reason,
                "seeds": [t.seed for t in self.takes], "steps": self.steps,
                "guidance": self.guidance, "sampler": self.sampler, "windows": self.windows,
                "samples": len(self.takes[0].audio), "sample_rate": SR,
                "timings": self.timings, "post": [t.post for t in self.takes],
                "join_correlation": [round(r, 4) for r in self.join_correlation],
                **({"visual_guidance": self.visual_guidance}
                   if self.visual_guidance is not None else {}),
                **({"visual_guidance_until": self.visual_guidance_until}
                   if self.visual_guidance is not None and self.visual_guidance_until else {}),
                **({"notes": self.notes} if self.notes else {}),
                **({"prompt_used": self.prompt_used,
                    "prompt_similarity": round(self.prompt_similarity, 3)}
                   if self.prompt_used is not None and self.prompt_similarity is not None else {}),
                **({"prompt_read_as": self.prompt_read_as} if self.prompt_read_as else {}),
                **({"prompt_understood": False} if not self.prompt_understood else {}),
                **({"prompt_note": self.prompt_note} if self.prompt_note else {}),
                **({"markers_followed": self.markers_followed}
                   if self.markers_followed is not None else {}),
                **({"between_markers": self.between_markers}
                   if self.between_markers is not None else {})}


def pick_variants(package: ModelPackage, precision: str, provider: str,
                  notes: list[str] | None = None) -> dict[str, str]:
    """Precision per graph: `auto` takes the provider's best present; an explicit one applies
    to every graph that has it (the others keep fp32, or else their best) and must exist
    somewhere. On a CPU whose INT8 kernels saturate (engine/cpu.py) `auto` passes over
    full-range INT8 variants; what was passed over, or an explicit choice that will saturate,
    is said in `notes`."""
    named = {p for g in package.graphs.values() for p in g.variants}
    if precision != "auto" and precision not in PRECISIONS and precision not in named:
        raise GenerationError(f"unknown precision {precision!r}; choose auto, "
                              + ", ".join(PRECISIONS + tuple(sorted(named - set(PRECISIONS)))))
    # What `foley-desktop bench` measured fastest at acceptable quality on this provider
    # (only while the package's files are the ones it measured).
    measured = preferred_variants(package, provider) if precision == "auto" else None
    out = {}
    for role, g in package.graphs.items():
        if precision == "auto":
            order = PREFERENCE[provider] + tuple(p for p in g.variants if p not in PRECISIONS)
            if measured and measured.get(role) in g.variants:
                order = (measured[role],) + order
            if provider == "cpu":
                bad = [p for p in order if p in g.variants and cpu.saturates(p, g.variants[p])]
                rest = tuple(p for p in order if p not in bad)
                if bad and any(p in g.variants for p in rest):
                    order = rest
                    if notes is not None:
                        notes.append(f"{role}: {', '.join(bad)} passed over (8-bit INT8 weights "
                                     "saturate on this CPU without VNNI; re-quantize with "
                                     "`foley-desktop quantize` for 7-bit weights)")
                elif bad and notes is not None:   # nothing else to run: run it, and say so
                    notes.append(f"{role}: only {bad[0]}, whose 8-bit INT8 weights saturate on "
                                 "this CPU without VNNI: expect degraded audio")
        else:
            # The others keep fp32, or else what they have (the shipped text encoder is INT8
            # only: `--precision fp32` must still run, as "fp32 (text_encoder int8)").
            order = tuple(dict.fromkeys((precision, "fp32", *PREFERENCE[provider], *g.variants)))
        pick = next((p for p in order if p in g.variants), None)
        if (precision != "auto" and provider == "cpu" and pick is not None and notes is not None
                and cpu.saturates(pick, g.variants[pick])):
            notes.append(f"{role}: {pick} has 8-bit INT8 weights, which saturate on this CPU "
                         "without VNNI: expect degraded audio (use fp32, or re-quantize)")
        if pick is None:
            raise ModelPackageError(f"model package {package.name}: graph {role} has neither "
                                    f"{' nor '.join(order)} (has {', '.join(g.variants)})")
        out[role] = pick
    if precision != "auto" and precision not in out.values():
        have = sorted({p for g in package.graphs.values() for p in g.variants})
        raise ModelPackageError(f"model package {package.name} has no {precision} variant "
                                f"(has {', '.join(have)})")
    return out


def variant_label(variants: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for p in variants.values():
        counts[p] = counts.get(p, 0) + 1
    main = max(counts, key=lambda p: counts[p])
    others = [f"{r} {p}" for r, p in variants.items() if p != main]
    return main + (f" ({', '.join(others)})" if others else "")


def load_model(name_or_path: str | Path | None = None) -> ModelPackage:
    """A package by name or folder; None is the shipped default, with a clear message while
    it is not installed."""
    if name_or_path is None or str(name_or_path) == DEFAULT_MODEL:
        try:
            return load_package(DEFAULT_MODEL)
        except ModelPackageError:
            from foley_desktop.paths import resources_dir
            raise ModelPackageError(
                f"no model installed: the default model \"{DEFAULT_MODEL}\" is not in "
                f"{resources_dir() / 'models'} (it ships with the app once trained); "
                "pass --model NAME|PATH (see `foley-desktop models`)") from None
    return load_package(name_or_path)


class Engine:
    """A package's graphs loaded on one provider at chosen precisions."""

    def __init__(self, package: ModelPackage | str | Path, precision: str = "auto",
                 provider: str = "auto", threads: int | None = None) -> None:
        self.package = package if isinstance(package, ModelPackage) else load_model(package)
        choice = providers.choose(provider)
        for _ in range(2):
            self.notes: list[str] = []
            self.variants = pick_variants(self.package, precision, choice.name, self.notes)
            self.sessions: dict[str, Runner] = {}
            started = choice
            for role in ("denoiser", "text_encoder", "decoder",
                         *sorted({s.graph for s in self.package.streams.values()})):
                sess = GraphSession(self.package, role, self.variants[role], choice, threads)
                self.sessions[role] = sess
                choice = sess.choice  # a provider that could not start stays off for the rest
            if choice.name == started.name or precision != "auto":
                break
            # Fell back after starting (e.g. libraries load but no GPU): reload every graph at
            # the precision that suits the provider that actually runs.
        self.provider = choice.name
        self.fallback_reason = choice.fallback_reason
        self.tokenizer = TextTokenizer(self.package)
        self.anchors = anchor.load(self.package)
        self.streams = {name: VisualStream(self.package, s, self.sessions[s.graph])
                        for name, s in self.package.streams.items()}

    @property
    def variant(self) -> str:
        return variant_label(self.variants)


def _run_rows(session: Runner, feeds: dict[str, np.ndarray],
              cancel: CancelToken | None) -> np.ndarray:
    """Run with all rows at once, or in chunks of a graph's fixed batch size (padded)."""
    fixed = session.fixed_batch
    rows = len(next(iter(feeds.values())))
    if fixed is None or fixed == rows:
        return session.run(feeds, cancel)[0]
    outs = []
    for i in range(0, rows, fixed):
        chunk = {k: v[i: i + fixed] for k, v in feeds.items()}
        n = len(next(iter(chunk.values())))
        if n < fixed:
            chunk = {k: np.concatenate([v, np.repeat(v[-1:], fixed - n, axis=0)])
                     for k, v in chunk.items()}
        outs.append(session.run(chunk, cancel)[0][:n])
    return np.concatenate(outs)


def encode_texts(engine: Engine, texts: list[str], cancel: CancelToken | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Text features [N, max_tokens, D] and attention mask of `texts`, each encoded alone. A
    dynamically quantized (INT8) encoder scales its activations over the whole batch, so
    encoding prompt and negative together would make the prompt's features depend on the
    negative prompt (14 % relative change with the shipped encoder); alone, a prompt always
    gives the features the model was trained on (train/text.caption_features does the same)."""
    ids, mask = engine.tokenizer.encode(texts)
    feats = np.concatenate([
        _run_rows(engine.sessions["text_encoder"],
                  {"input_ids": ids[i:i + 1], "attention_mask": mask[i:i + 1]}, cancel)
        for i in range(len(texts))])
    return feats, mask


def _visual_guidance(req: GenerateRequest, engine: Engine, guidance: float) -> float | None:
    """The separate visual guidance to use, or None for one guidance (two batch rows). With
    markers, a package that follows them may ask for another default
    (`sampler.visual_guidance_with_markers`): guidance towards the picture also pulls its
    events towards the picture's motion, away from the markers."""
    s = engine.package.sampler
    vg = req.visual_guidance if req.visual_guidance is not None else s.get("visual_guidance")
    if (req.visual_guidance is None and req.markers is not None and engine.package.takes_markers
            and s.get("visual_guidance_with_markers") is not None):
        vg = s["visual_guidance_with_markers"]
    if vg is None:
        return None
    vg = float(vg)
    glo, ghi = s.get("guidance_range", [0.0, 100.0])
    if not (math.isfinite(vg) and glo <= vg <= ghi):
        raise GenerationError(f"visual guidance must be within {glo}..{ghi} for this model, not {vg}")
    if not engine.streams or (guidance == 1.0 and vg == 1.0):
        return None            # no visual stream (or no guidance at all): nothing to weigh apart
    return vg


def _validate(req: GenerateRequest, engine: Engine) -> tuple[int, float, str, int | None]:
    s = engine.package.sampler
    if not req.prompt or not req.prompt.strip():
        raise GenerationError("the prompt is empty: describe the sound to generate")
    if req.start < 0:
        raise GenerationError("the segment starts before the clip (negative start)")
    if req.end <= req.start:
        raise GenerationError(f"the segment's end ({req.end / SR:.3f} s) must be after its start "
                              f"({req.start / SR:.3f} s)")
    if not req.seeds:
        raise GenerationError("no seeds given")
    # Bounded before anything is allocated: the takes are held in memory until written
    # (float32: 2 h of takes is 1.4 GB); the noise and windows are bounded by the window.
    seg = req.end - req.start
    if seg > MAX_TAKE_SAMPLES:
        raise GenerationError(f"a take is at most {MAX_TAKE_SAMPLES // SR // 3600} hours "
                              f"({seg / SR / 3600:.1f} h asked): split the segment")
    if seg * len(req.seeds) > MAX_TAKE_SAMPLES:
        raise GenerationError(f"{len(req.seeds)} variations of {seg / SR:.0f} s exceed "
                              f"{MAX_TAKE_SAMPLES // SR // 3600} hours of audio in one job: "
                              "ask for fewer variations or a shorter segment")
    for seed in req.seeds:
        if not 0 <= int(seed) < 2 ** 63:
            raise GenerationError(f"seed {seed} is out of range (0 .. 2^63-1)")
    if req.between_markers not in marker_gate.MODES:
        raise GenerationError(f"between markers must be one of {', '.join(marker_gate.MODES)}, "
                              f"not {req.between_markers!r}")
    steps = int(req.steps if req.steps is not None else s.get("steps", 10))
    lo, hi = s.get("steps_range", [1, 1000])
    if not lo <= steps <= hi:
        raise GenerationError(f"steps must be within {lo}..{hi} for this model, not {steps}")
    guidance = float(req.guidance if req.guidance is not None else s.get("guidance", 1.0))
    glo, ghi = s.get("guidance_range", [0.0, 100.0])
    if not (math.isfinite(guidance) and glo <= guidance <= ghi):
        raise GenerationError(f"guidance must be within {glo}..{ghi} for this model, not {guidance}")
    method = req.sampler or s.get("default_method", "euler")
    if method not in s.get("methods", ["euler", "heun"]) or method not in ("euler", "heun"):
        raise GenerationError(f"sampler {method!r} is not offered by this model "
                              f"({', '.join(s.get('methods', []))})")
    clip_end = None
    if req.video is not None:
        # lazy: PyAV is only needed with video; cached, since the app probed the clip already
        from foley_desktop.media.probe import probe_cached

        info = probe_cached(req.video)
        clip_end = info.duration_samples
        why = outside_clip(req.start, req.end, clip_end)
        if why is not None:
            raise GenerationError(why)
        if info.video is None:
            clip_end = None          # audio-only input: text-only generation
    return steps, guidance, method, clip_end


def generate(request: GenerateRequest, *, package: ModelPackage | str | Path | None = None,
             precision: str = "auto", provider: str = "auto", engine: Engine | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None
             ) -> GenerateResult:
    """Generate one take per seed; every take is exactly `end - start` samples at 48 kHz."""
    t_start = time.monotonic()
    if engine is None:
        engine = Engine(package if package is not None else DEFAULT_MODEL, precision, provider)
    pkg = engine.package
    steps, guidance, method, clip_end = _validate(request, engine)
    visual_guidance = _visual_guidance(request, engine, guidance)
    video = Path(request.video) if (request.video is not None and clip_end is not None) else None
    if video is None:       # text only: the visual rows would equal the prompt-only rows
        visual_guidance = None
    check(cancel)
    timings = {"text_s": 0.0, "visual_s": 0.0, "denoise_s": 0.0, "decode_s": 0.0, "post_s": 0.0}

    cfg = sampler.SamplerConfig(method=method, steps=steps, guidance=guidance,
                                time=pkg.sampler.get("time", "noise_to_data"),
                                timestep_scale=float(pkg.sampler.get("timestep_scale", 1.0)),
                                shift=float(pkg.sampler.get("shift", 1.0)),
                                visual_guidance=visual_guidance,
                                latent_median=int(pkg.sampler.get("latent_median", 0)),
                                visual_guidance_until=float(
                                    pkg.sampler.get("visual_guidance_until", 0.0)))
    guided = guidance != 1.0 or visual_guidance is not None
    notes = list(engine.notes)
    markers_followed = None
    markers = None
    if request.markers is not None:
        markers = events.validate_markers(request.markers, request.start, request.end)
        markers_followed = pkg.takes_markers
        if not pkg.takes_markers:
            notes.append(f"{pkg.name} {pkg.version} cannot take spotting markers: its events "
                         "follow the picture; each take's sync score says how well they match "
                         "the markers")
    seeds = [int(s) for s in request.seeds]
    S = len(seeds)

    # Lengths: the model's own rate, then 48 kHz.
    seg48 = request.end - request.start
    sr = pkg.sample_rate
    need_model = math.ceil(Fraction(seg48 * sr, SR))
    hop = pkg.hop_samples
    plan = windows.plan(math.ceil(need_model / hop), pkg.window_frames, pkg.overlap_frames)
    step_frames = pkg.window_frames - pkg.overlap_frames
    meter = ProgressMeter(progress, "generating", len(plan.starts) * (cfg.evaluations() + 1))

    t0 = time.monotonic()
    negative = request.negative if request.negative is not None else \
        pkg.text.get("default_negative", "")
    # An English encoder reads a prompt in another language as English (prompt_reading.py).
    reading = None if pkg.text.get("multilingual") else read_prompt(request.prompt)
    prompt = reading.text_en if reading is not None else request.prompt
    if negative and not pkg.text.get("multilingual"):
        negative = read_prompt(negative).text_en
    text_feats, mask = encode_texts(engine, [prompt, negative], cancel)
    prompt_used, similarity = None, None
    if engine.anchors is not None and not request.literal_prompt:
        near = engine.anchors.read_as(prompt, text_feats[0], mask[0])
        if near is not None:
            prompt_used, similarity = near
            f, m = encode_texts(engine, [prompt_used], cancel)
            text_feats, mask = text_feats.copy(), mask.copy()
            text_feats[0], mask[0] = f[0], m[0]
    note = reading.note if reading is not None else None
    if (engine.anchors is not None and reading is not None and note and not reading.understood
            and prompt_used is None):
        e = anchor.pooled(text_feats[:1], mask[:1])[0]     # what the encoder made of it
        j = int(np.argmax(engine.anchors.embeddings @ e))
        note += (f" (nearest training prompt \"{engine.anchors.texts[j]}\", similarity "
                 f"{float(engine.anchors.embeddings[j] @ e):.2f}: too far to use)")
    timings["text_s"] += time.monotonic() - t0
    gate, between = _gate_choice(request, markers, pkg.takes_markers, prompt, prompt_used, notes)
    rows_c = np.zeros(S, dtype=int)
    # Row groups of the denoiser batch: conditional, [prompt-only,] unconditional (sampler.py).
    groups = cfg.rows_per_seed(guided)
    rows = np.concatenate([rows_c] * (groups - 1) + [rows_c + 1]) if guided else rows_c
    text_rows, mask_rows = text_feats[rows], mask[rows]

    # All randomness: per seed, frame-major noise so a longer segment starts the same way.
    noise = [sampler.NoiseStream(seed, pkg.latent_channels) for seed in seeds]
    chunks: list[list[np.ndarray]] = [[] for _ in seeds]
    prev_latent = None
    meter.update(0)
    for w, f0 in enumerate(plan.starts):
        base = w * (cfg.evaluations() + 1)
        win_start = request.start + round(Fraction(f0) / pkg.latent_rate * SR)
        t0 = time.monotonic()
        feeds_static = {"text_features": text_rows, "text_mask": mask_rows}
        for name, stream in engine.streams.items():
            cond = stream.window(video, win_start, plan.frames, clip_end or 0, cancel)
            if guided:
                unc = unconditional(pkg, stream.stream, tokens_for(pkg, stream.stream, plan.frames))
                feeds_static[name] = np.concatenate([np.repeat(cond, S, 0)]
                                                    + [np.repeat(unc, S, 0)] * (groups - 1))
            else:
                feeds_static[name] = np.repeat(cond, S, 0)
        if pkg.takes_markers:
            # The same track in every row (conditional, prompt-only, unconditional): guidance
            # then weighs prompt and picture against each other, never against the timing.
            # Without markers: zeros, channel 1 = 0 (the model places events from the picture).
            track = events.window_track(markers, win_start, plan.frames,
                                        float(Fraction(hop * SR, sr)), request.start, request.end)
            ev_rows = np.repeat(track[None], len(text_rows), 0)
            if guided and markers is not None and pkg.sampler.get("marker_guidance"):
                # The unconditional rows without markers: the prompt's guidance then also
                # weighs the markers (a package setting; see docs/model-package.md).
                ev_rows[-S:] = events.window_track(None, win_start, plan.frames, 1.0, 0, 0)
            feeds_static[events.EVENTS_INPUT] = ev_rows
        timings["visual_s"] += time.monotonic() - t0

        def denoise(x: np.ndarray, t: np.ndarray,
                    feeds_static: dict[str, np.ndarray] = feeds_static) -> np.ndarray:
            return _run_rows(engine.sessions["denoiser"], {"x": x, "t": t, **feeds_static},
                             cancel)

        known = known_mask = None
        if request.continue_windows and prev_latent is not None and plan.overlap > 0:
            known = np.zeros((S, pkg.latent_channels, plan.frames), np.float32)
            known[:, :, : plan.overlap] = prev_latent[:, :, step_frames: step_frames + plan.overlap]
            known_mask = np.zeros((1, 1, plan.frames), np.float32)
            known_mask[..., : plan.overlap] = 1.0
        def on_step(k: int, _n: int, base: int = base) -> None:
            meter.update(base + k, "denoising")

        t0 = time.monotonic()
        latent = sampler.sample(denoise, np.stack([n.window(f0, plan.frames) for n in noise]), cfg, guided=guided,
                                known=known, known_mask=known_mask, cancel=cancel, on_step=on_step)
        timings["denoise_s"] += time.monotonic() - t0
        prev_latent = latent
        latent = sampler.output_filter(latent, cfg)
        t0 = time.monotonic()
        for i in range(S):
            audio = engine.sessions["decoder"].run({_decoder_input(pkg): latent[i: i + 1]}, cancel)[0]
            audio = audio.reshape(-1)
            if len(audio) != plan.frames * hop:
                raise ModelPackageError(f"{engine.sessions['decoder'].path}: decoded {len(audio)} "
                                        f"samples from {plan.frames} frames; the manifest implies "
                                        f"{plan.frames * hop}")
            chunks[i].append(audio)
        timings["decode_s"] += time.monotonic() - t0
        meter.update(base + cfg.evaluations() + 1, "decoding")

    takes = []
    rhos: list[float] = []
    t0 = time.monotonic()
    for i, seed in enumerate(seeds):
        check(cancel)
        audio = windows.join(chunks[i], step_frames * hop, pkg.overlap_frames * hop,
                             rhos if i == 0 else None)
        if sr != SR:
            import soxr  # exact-length resampling to the project rate

            audio = soxr.resample(audio.astype(np.float64), sr, SR, quality="VHQ")
        audio = np.asarray(audio, np.float32)
        if len(audio) < seg48:   # resampler rounding at the very end: hold the level at zero
            audio = np.pad(audio, (0, seg48 - len(audio)))
        audio = audio[:seg48]
        if gate is not None:     # before the level: a loudness target measures what is kept
            audio = marker_gate.apply(audio, gate)
        audio, post = finish(audio, request.loudness_lufs)
        if not np.isfinite(audio).all():
            raise GenerationError("post-processing produced NaN or Inf; nothing was written")
        takes.append(Take(seed=seed, audio=audio, sample_rate=SR, model=pkg.name,
                          version=pkg.version, variant=engine.variant, provider=engine.provider,
                          timings={}, post=post))
    timings["post_s"] = time.monotonic() - t0
    timings["total_s"] = time.monotonic() - t_start
    timings = {k: round(v, 4) for k, v in timings.items()}
    for t in takes:
        t.timings = timings
    return GenerateResult(takes=takes, provider=engine.provider,
                          fallback_reason=engine.fallback_reason, variants=dict(engine.variants),
                          windows=len(plan.starts), steps=steps, guidance=guidance,
                          sampler=method, timings=timings, join_correlation=rhos,
                          visual_guidance=visual_guidance,
                          visual_guidance_until=cfg.visual_guidance_until,
                          notes=notes, prompt_used=prompt_used, prompt_similarity=similarity,
                          prompt_read_as=prompt if prompt != request.prompt else None,
                          prompt_understood=reading is None or reading.understood,
                          prompt_note=note,
                          markers_followed=markers_followed, between_markers=between)


def _gate_choice(request: GenerateRequest, markers: list[tuple[int, float]] | None,
                 follows: bool, prompt_en: str, prompt_used: str | None, notes: list[str]
                 ) -> tuple[list[int] | None, str | None]:
    """(the markers as sample offsets in the take to gate around, or None; what the result
    reports). `auto` gates the takes of a package that follows markers unless the prompt (its
    English reading, or the training prompt it was read as) asks for a continuous sound;
    `quiet` gates every take with markers; `keep` none."""
    if not markers:
        return None, None
    mode = request.between_markers
    if mode == "keep":
        return None, "keep"
    if mode == "auto":
        bed = marker_gate.asks_for_bed(prompt_en, prompt_used)
        if bed is not None:
            notes.append(f"between markers: kept as generated, the prompt asks for a continuous "
                         f"sound (\"{bed}\"); between-markers quiet fades it down anyway")
            return None, "keep"
        if not follows:
            return None, "keep"
    return [t - request.start for t, _ in markers], "quiet"


def _decoder_input(pkg: ModelPackage) -> str:
    return next(iter(pkg.graphs["decoder"].inputs))


def output_paths(out_path: Path, count: int) -> list[Path]:
    """OUT.wav for one take, OUT-1.wav … OUT-K.wav for variations."""
    out_path = Path(out_path)
    if count == 1:
        return [out_path]
    return [out_path.with_name(f"{out_path.stem}-{i + 1}{out_path.suffix or '.wav'}")
            for i in range(count)]


def write_takes(result: GenerateResult, out_path: Path) -> list[Path]:
    """All takes or none: each is written to a hidden temp file, then all are renamed."""
    return write_audio_files([t.audio for t in result.takes], out_path)


def write_audio_files(audios: list[np.ndarray], out_path: Path,
                      write_one: Callable[[Path, Path, np.ndarray, int], None] | None = None
                      ) -> list[Path]:
    """OUT.wav (or OUT-1.wav …), all or none (temp files, then renames). `write_one(tmp, path,
    audio, i)` writes take i bound for `path` into `tmp` (default: 48 kHz 24-bit PCM); its
    OSError becomes a one-line error."""
    from foley_desktop.fsutil import sweep_stale_temps, temp_name
    from foley_desktop.media.wav import write_wav  # 48 kHz 24-bit PCM, atomic

    paths = output_paths(out_path, len(audios))
    sweep_stale_temps(Path(out_path).parent)   # debris of an earlier run killed mid-write
    temps = []
    try:
        for i, (path, audio) in enumerate(zip(paths, audios)):
            if not path.parent.is_dir():
                raise GenerationError(f"cannot write {path}: no such folder {path.parent}")
            tmp = temp_name(path)
            temps.append(tmp)
            if write_one is None:
                write_wav(tmp, audio, SR, "PCM_24")
                continue
            try:
                write_one(tmp, path, audio, i)
            except OSError as exc:
                raise GenerationError(f"cannot write {path}: {exc.strerror or exc}") from None
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()
    return paths


def generate_to_files(request: GenerateRequest, out_path: str | Path, **kwargs: Any
                      ) -> tuple[GenerateResult, list[Path]]:
    """generate() then write OUT.wav (or OUT-1.wav …); a cancelled or failed job writes nothing."""
    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise GenerationError(f"cannot write {out_path}: no such folder {out_path.parent}")
    result = generate(request, **kwargs)
    check(kwargs.get("cancel"))
    return result, write_takes(result, out_path)
