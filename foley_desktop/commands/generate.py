"""`foley-desktop generate`: Foley for a clip's segment (or text only) into WAV files."""

from __future__ import annotations

import json
import math
import secrets
import sys
from pathlib import Path

from foley_desktop.app.preferences import PRECISION_CHOICES, PROVIDER_CHOICES

HELP = "generate Foley audio for a clip or a project's segments"
MAX_VARIATIONS = 64   # as a project segment allows


def configure(parser) -> None:
    parser.add_argument("video", nargs="?", type=Path,
                        help="video clip (omit, or give an audio-only file, for text-only)")
    parser.add_argument("--prompt", help="the sound to generate (required without --project)")
    parser.add_argument("--negative", help="what to steer away from (default: the model's)")
    parser.add_argument("--literal-prompt", action="store_true",
                        help="condition on the prompt as typed, not on the model's nearest "
                             "training prompt (packages that list them, e.g. foley-tiny)")
    parser.add_argument("--start", help="segment start: seconds, HH:MM:SS.mmm or timecode")
    parser.add_argument("--end", help="segment end (default: the end of the clip)")
    parser.add_argument("--duration", help="segment length (instead of --end; needed without VIDEO)")
    parser.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    parser.add_argument("--variations", type=int, default=1, metavar="K",
                        help="K takes with seeds seed, seed+1 … (OUT-1.wav …)")
    parser.add_argument("--steps", type=int, help="sampler steps (default: the model's)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance scale (on the prompt)")
    parser.add_argument("--visual-guidance", type=float, metavar="G",
                        help="guidance on the picture apart from the prompt (default: the "
                             "model's, if it has one; higher follows the visible events harder; "
                             "applied in the steps the model's manifest says, see "
                             "sampler.visual_guidance_until)")
    parser.add_argument("--sampler", choices=["euler", "heun"])
    parser.add_argument("--precision", default="auto",
                        metavar="|".join(PRECISION_CHOICES) + "|VARIANT",
                        help="precision variant (auto: what `bench` found fastest, else the "
                        "provider's best present; any variant name the package has)")
    parser.add_argument("--provider", default="auto", choices=PROVIDER_CHOICES)
    parser.add_argument("--model", default=None, metavar="NAME|PATH",
                        help="model package (default: the shipped foley-tiny)")
    parser.add_argument("--loudness", type=float, metavar="LUFS",
                        help="normalise each take to this integrated loudness")
    parser.add_argument("--independent-windows", action="store_true",
                        help="do not continue each window from the previous one")
    parser.add_argument("--markers", metavar="auto|none|T1,T2,…",
                        help="spotting markers for the segment: auto (auto-spot the picture), "
                             "none, or times (seconds, HH:MM:SS.mmm or timecode), each optionally "
                             "TIME@KIND@STRENGTH (kind footstep/hit/other, strength 0-1). The "
                             "library mode lays a recording on each; every take reports how well "
                             "its onsets land on them. Default, by mode: model mode uses none "
                             "(the take follows the picture and the prompt); library mode "
                             "auto-spots the picture for single sounds (steps, hits) and uses "
                             "none for continuous ones (rain, fire)")
    parser.add_argument("--between-markers", choices=["auto", "quiet", "keep"], default=None,
                        help="model takes with markers: quiet fades the take down outside "
                             "windows around the markers (the model's own events between "
                             "them go); keep leaves it as generated; auto (default) is quiet "
                             "unless the prompt asks for a continuous sound (fire, rain, "
                             "crowd …) or the model cannot follow markers")
    parser.add_argument("--spot-roi", metavar="X,Y,W,H",
                        help="with --markers auto: spot only this region of the picture (source "
                             "pixels), e.g. the one walker whose steps need sound")
    parser.add_argument("--mode", choices=["model", "library"], default="model",
                        help="model: generate with the model (default); library: lay recordings "
                             "from your sound library on the markers (see `foley-desktop library`)")
    parser.add_argument("--library-db", type=Path, metavar="PATH",
                        help="sound library index (default: the one `library add` fills)")
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT.wav",
                        help="output file (required without --project)")
    proj = parser.add_argument_group("projects")
    proj.add_argument("--project", type=Path, metavar="P.foley",
                      help="generate the missing takes of a project's segments (saved after each)")
    proj.add_argument("--all", action="store_true", help="with --project: every segment")
    proj.add_argument("--segment", action="append", metavar="ID",
                      help="with --project: this segment (repeatable)")


def _progress_printer():
    if not sys.stderr.isatty():
        return None

    def show(p) -> None:
        eta = f" ETA {p.eta_s:.0f} s" if p.eta_s else ""
        sys.stderr.write(f"\r{p.stage} {p.done:.0f}/{p.total:.0f}{eta}   ")
        if p.done >= p.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _segment(args) -> tuple[Path | None, int, int]:
    from foley_desktop.errors import GenerationError
    from foley_desktop.media.timebase import parse_time

    fps = None
    clip_len = None
    if args.video is not None:
        from foley_desktop.media.probe import probe

        info = probe(args.video)
        clip_len = info.duration_samples
        fps = info.video.fps if info.video is not None else None

    def t(text):
        try:
            return parse_time(text, fps) if fps is not None else parse_time(text)
        except (ValueError, TypeError) as exc:
            raise GenerationError(f"bad time {text!r}: {exc}") from None

    start = t(args.start) if args.start else 0
    if args.end and args.duration:
        raise GenerationError("give --end or --duration, not both")
    if args.end:
        end = t(args.end)
    elif args.duration:
        end = start + t(args.duration)
    elif clip_len is not None:
        end = clip_len
    else:
        raise GenerationError("without VIDEO, give --duration (text-only generation)")
    if clip_len is not None:
        # Model mode's engine refuses this too (engine/generate.py); library mode and `spot`
        # have no engine, so the rule is applied here, before any work, for every mode.
        check_range(start, end, clip_len, GenerationError)
    return args.video, start, end


def check_range(start: int, end: int, clip_len: int, error: type[Exception]) -> None:
    """A segment [start, end) must lie inside the clip (media.timebase.outside_clip, the
    engine's rule), raised as `error`."""
    from foley_desktop.media.timebase import outside_clip

    why = outside_clip(start, end, clip_len)
    if why is not None:
        raise error(why)


def markers_from_arg(text: str | None, video: Path | None, start: int, end: int, fps=None,
                     progress=None, roi=None) -> list | None:
    """`--markers` as Marker values: None (not given or "none"), auto-spot, or a list."""
    from foley_desktop.errors import GenerationError
    from foley_desktop.media.timebase import parse_time
    from foley_desktop.spotting.markers import parse_list

    if text is None or text.strip().lower() == "none":
        return None
    if text.strip().lower() == "auto":
        if video is None:
            raise GenerationError("--markers auto spots the picture: give a VIDEO")
        from foley_desktop.spotting.detect import spot

        return spot(video, start, end, progress=progress, roi=roi)

    def t(x):
        return parse_time(x, fps) if fps is not None else parse_time(x)

    try:
        marks = parse_list(text, t)
    except ValueError as exc:
        raise GenerationError(f"--markers: {exc}") from None
    outside = [m for m in marks if not start <= m.time < end]
    if outside:
        raise GenerationError(f"--markers: {outside[0].time / 48000:.3f} s is outside the segment "
                              f"(from {start / 48000:.3f} s to before {end / 48000:.3f} s)")
    return marks


def gpu_expected() -> bool:
    """An NVIDIA device is present (its driver's device nodes), so CUDA not running is news."""
    import os

    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


def _fps_of(video: Path | None):
    if video is None:
        return None
    from foley_desktop.media.probe import probe

    info = probe(video)
    return info.video.fps if info.video is not None else None


def prompt_line(result) -> str | None:
    """One line on how the prompt was read: translated or not understood (prompt_reading.py),
    then the training prompt the model was conditioned on (anchor.py); None when as typed."""
    used = (f"the model's training prompt \"{result.prompt_used}\" (similarity "
            f"{result.prompt_similarity:.2f}; --literal-prompt keeps yours)"
            if result.prompt_used is not None else None)
    note = result.prompt_note
    if note is None:
        return f"prompt: read as {used}" if used else None
    if used:
        return f"prompt: {note}, then as {used}" if result.prompt_understood else \
            f"prompt: {note}; read as {used}"
    if not result.prompt_understood:
        return f"prompt: {note}; the take will not follow the words"
    return f"prompt: {note}"


def write_takes(audios, records: list[dict], out_path: Path) -> list[Path]:
    """OUT.wav (or OUT-1.wav …) as 48 kHz 24-bit Broadcast WAV, each carrying what made it
    (bext description: the prompt; iXML NOTE and USER: every parameter, the model and its
    hash, the app's version). All or none (engine.generate.write_audio_files)."""
    from foley_desktop.engine.generate import write_audio_files
    from foley_desktop.export.bwf import Bext, BwfWriter, IXml, coding_history
    from foley_desktop.media.timebase import SAMPLE_RATE

    def write_one(tmp: Path, path: Path, audio, i: int) -> None:
        rec = records[i]
        note = (f"seed={rec.get('seed')} mode={rec.get('mode')} model={rec.get('model', '')} "
                f"{rec.get('model_version', '')} prompt={rec.get('prompt', '')}")
        with open(tmp, "wb") as fh:
            w = BwfWriter(fh, 1, SAMPLE_RATE, "PCM_24",
                          bext=Bext(description=f"Foley: {rec.get('prompt', '')}"[:256],
                                    coding_history=coding_history("PCM_24", SAMPLE_RATE, 1)),
                          ixml=IXml(project=path.stem, note=note, user=rec, track_names=["FX"]))
            w.write(audio[None, :])
            w.close()

    return write_audio_files(list(audios), out_path, write_one)


def clip_params(args, start: int, end: int, markers, seed: int):
    """`generate CLIP`'s flags resolved the way a project segment's are (app/params.py)."""
    import dataclasses

    from foley_desktop.app.params import resolve
    from foley_desktop.project.model import Segment

    seg = Segment(id="clip", start=start, end=end, prompt=args.prompt, negative=args.negative,
                  seed=seed, variations=args.variations, steps=args.steps,
                  guidance=args.guidance, visual_guidance=args.visual_guidance,
                  literal_prompt=bool(args.literal_prompt), markers=list(markers or []),
                  mode=args.mode)
    params = resolve(seg, model=args.model, precision=args.precision, provider=args.provider)
    between = getattr(args, "between_markers", None) or params.between_markers
    return dataclasses.replace(params, sampler=args.sampler, loudness_lufs=args.loudness,
                               continue_windows=not args.independent_windows,
                               between_markers=between)


def run(args) -> int:
    from foley_desktop.app.generate import generate_clip
    from foley_desktop.commands.spot import parse_roi
    from foley_desktop.errors import GenerationError

    if args.project is not None:
        from foley_desktop.commands.project import run_generate

        return run_generate(args)
    if args.prompt is None or args.output is None:
        raise GenerationError("give --prompt TEXT and -o OUT.wav (or --project P.foley)")
    if args.variations < 1:
        raise GenerationError("--variations must be at least 1")
    if args.variations > MAX_VARIATIONS:
        raise GenerationError(f"--variations is at most {MAX_VARIATIONS}, not {args.variations}")
    if args.loudness is not None and not (math.isfinite(args.loudness)
                                          and -70 <= args.loudness <= 0):
        raise GenerationError(f"--loudness must be a level from -70 to 0 LUFS, not {args.loudness}")
    video, start, end = _segment(args)
    from foley_desktop.engine.generate import output_paths
    from foley_desktop.outpaths import check_outputs

    # Before any work: never write onto the clip (or any input), a folder, or a non-WAV name.
    check_outputs(output_paths(args.output, args.variations), [video], GenerationError,
                  suffixes=(".wav",))
    seed = args.seed if args.seed is not None else secrets.randbelow(2 ** 31)
    seeds = [seed + i for i in range(args.variations)]
    fps = _fps_of(video)
    markers = markers_from_arg(args.markers, video, start, end, fps,
                               _progress_printer(), roi=parse_roi(args.spot_roi, "--spot-roi"))
    marker_s = [(m.time - start) / 48000 for m in markers] if markers else []
    # An audio-only input: nothing to follow but the prompt; say so (text and --json notes).
    notes = [] if video is None or fps is not None else [no_picture_note(video)]
    if args.mode == "library":
        return _run_library(args, video, start, end, seeds, markers or [], marker_s, notes)
    params = clip_params(args, start, end, markers, seed)
    if not args.output.parent.is_dir():
        raise GenerationError(f"cannot write {args.output}: no such folder {args.output.parent}")
    result, records, syncs = generate_clip(params, video, seeds, progress=_progress_printer())
    paths = write_takes([t.audio for t in result.takes], records, args.output)
    if not markers:
        syncs = None
    report = {**result.to_dict(), "files": [str(p) for p in paths],
              "start": start, "end": end, "mode": "model", "params": records[0],
              "model_hash": params.model.hash, "engine_version": params.engine_version}
    if markers is not None:
        report["markers"] = [m.to_dict() for m in markers]
        report["sync"] = syncs
    if result.notes or notes:
        report["notes"] = [*result.notes, *notes]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        take = result.takes[0]
        print(f"model {take.model} {take.version}, variant {take.variant}, "
              f"provider {result.provider}, {result.sampler} x {result.steps} steps, "
              f"guidance {result.guidance:g}"
              + (f", picture guidance {result.visual_guidance:g}"
                 + (" in the early steps" if result.visual_guidance_until else "")
                 if result.visual_guidance is not None else "")
              + f", {result.windows} window(s), "
              f"{result.timings['total_s']:.2f} s")
        if result.fallback_reason and (args.provider != "auto" or gpu_expected()):
            # On a machine with no GPU, "auto" running on the CPU is what was expected: the
            # missing CUDA libraries are not news (the reason stays in --json).
            print(f"provider: {result.fallback_reason}")
        for note in [*result.notes, *notes]:
            print(f"note: {note}")
        line = prompt_line(result)
        if line:
            print(line)
        if result.between_markers == "quiet":
            print("between markers: quiet (faded down outside the markers' windows; "
                  "--between-markers keep leaves the take as generated)")
        for i, (p, t) in enumerate(zip(paths, result.takes)):
            sync = (f", sync with {plural(len(marker_s), 'marker')}: "
                    + f1_text(syncs[i]) if syncs else "")
            print(f"wrote {p}  (seed {t.seed}, {len(t.audio)} samples at 48 kHz{sync})")
    return 0


def plural(n: int, word: str) -> str:
    """"1 marker", "2 markers", "0 markers"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def f1_text(sync: dict) -> str:
    """A take's sync with its markers, at both tolerances (model and library lines alike)."""
    return f"F1 {sync['f1_100ms']:.2f} at +-100 ms, {sync['f1_40ms']:.2f} at +-40 ms"


def no_picture_note(path: Path) -> str:
    return (f"{path.name} has no picture: the take is made from the prompt alone "
            "(give a video clip for Foley that follows the picture)")


def _run_library(args, video, start: int, end: int, seeds: list[int], markers, marker_s,
                 notes: list[str]) -> int:
    """--mode library: recordings from the sound library laid on the markers."""
    from foley_desktop.commands.spot import parse_roi
    from foley_desktop.errors import GenerationError
    from foley_desktop.library.index import LibraryIndex
    from foley_desktop.library.render import render_takes
    from foley_desktop.spotting.onsets import sync_score

    out = Path(args.output)
    lib = LibraryIndex(args.library_db)
    from foley_desktop.app.generate import check_library

    check_library(lib)
    # The library's names and descriptions are English: search with the prompt's English reading.
    from foley_desktop.engine.prompt_reading import read_prompt

    reading = read_prompt(args.prompt)
    hits = lib.search(reading.text_en, limit=12)
    from foley_desktop.library.render import needs_markers, no_markers_error

    spotted = False
    # Single sounds are laid on markers (library.render.needs_markers, the engine's and the
    # app's rule too): without them, say what to do before any decoding.
    if notes and needs_markers(hits, markers, start, end):
        # An audio-only input: no picture to auto-spot, and the app's "spot it first" cannot
        # apply; say what can.
        raise GenerationError(f"{Path(video).name} has no picture to auto-spot, and single "
                              "sounds (steps, hits) are laid on markers: give their times with "
                              "--markers T1,T2,…")
    auto = args.markers is not None and args.markers.strip().lower() == "auto"
    if needs_markers(hits, markers, start, end) and not auto:
        if args.markers is not None or video is None:
            # --markers none (or no clip to spot): the editor's choice, so say what works.
            raise no_markers_error("give their times with --markers T1,T2,… or spot the "
                                   "picture with --markers auto" if video is not None else
                                   "give their times with --markers T1,T2,…")
        # Single sounds need marks and none were given: spot the picture (as --markers auto).
        from foley_desktop.spotting.detect import spot

        markers = spot(video, start, end, progress=_progress_printer(),
                       roi=parse_roi(args.spot_roi, "--spot-roi"))
        marker_s = [(m.time - start) / 48000 for m in markers]
        spotted = auto = True
    if auto and needs_markers(hits, markers, start, end):
        raise no_markers_error("auto-spot found no event in the picture of the segment; give "
                               "their times with --markers T1,T2,…")
    takes = render_takes(hits, markers, start, end, seeds, query=args.prompt,
                         loudness_lufs=args.loudness, progress=_progress_printer())
    params = clip_params(args, start, end, markers, seeds[0])
    records = [{**params.record(t.seed), "kind": t.kind,
                "sources": sorted({Path(src["file"]).name for src in t.sources})}
               for t in takes]
    paths = write_takes([t.audio for t in takes], records, out)
    syncs = [sync_score(t.audio, marker_s) if t.kind == "hits" and marker_s else None
             for t in takes]
    report = {"mode": "library", "kind": takes[0].kind, "start": start, "end": end,
              "samples": end - start, "sample_rate": 48000, "seeds": [t.seed for t in takes],
              "files": [str(p) for p in paths], "post": [t.post for t in takes],
              "markers": [m.to_dict() for m in markers], "sync": syncs,
              "sources": [t.sources for t in takes],
              "matches": [{"path": str(h.path), "score": round(float(h.score), 4)}
                          for h in hits[:5]],
              **({"prompt_read_as": reading.text_en} if reading.translated else {}),
              **({"prompt_understood": False} if not reading.understood else {}),
              **({"prompt_note": reading.note} if reading.note else {}),
              **({"notes": notes} if notes else {})}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if spotted:
        print(f"markers: none given, auto-spotted {len(markers)} in the picture "
              "(--markers to give your own)")
    names = sorted({Path(s["file"]).name for t in takes for s in t.sources})
    for note in notes:
        print(f"note: {note}")
    if reading.note:
        print(f"prompt: {reading.note}")
    print(f"library: {takes[0].kind} from {len(names)} recording(s) for {args.prompt!r}: "
          + ", ".join(names[:6]) + (" …" if len(names) > 6 else ""))
    for p, t, sy in zip(paths, takes, syncs):
        extra = (f", {plural(len(t.sources), 'hit')} on {plural(len(marker_s), 'marker')}, "
                 + f1_text(sy) if sy else "")
        print(f"wrote {p}  (seed {t.seed}, {len(t.audio)} samples at 48 kHz{extra})")
    return 0
