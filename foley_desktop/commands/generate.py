"""`foley-desktop generate`: Foley for a clip's segment (or text only) into WAV files."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

HELP = "generate Foley audio for a clip or a project's segments"


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
    parser.add_argument("--precision", default="auto", metavar="auto|int8|fp16|fp32|VARIANT",
                        help="precision variant (auto: what `bench` found fastest, else the "
                        "provider's best present; any variant name the package has)")
    parser.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda", "tensorrt"])
    parser.add_argument("--model", default=None, metavar="NAME|PATH",
                        help="model package (default: the shipped foley-tiny)")
    parser.add_argument("--loudness", type=float, metavar="LUFS",
                        help="normalise each take to this integrated loudness")
    parser.add_argument("--independent-windows", action="store_true",
                        help="do not continue each window from the previous one")
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
    return args.video, start, end


def run(args) -> int:
    from foley_desktop.engine.generate import GenerateRequest, generate_to_files, load_model
    from foley_desktop.errors import GenerationError

    if args.project is not None:
        from foley_desktop.commands.project import run_generate

        return run_generate(args)
    if args.prompt is None or args.output is None:
        raise GenerationError("give --prompt TEXT and -o OUT.wav (or --project P.foley)")
    if args.variations < 1:
        raise GenerationError("--variations must be at least 1")
    package = load_model(args.model)
    video, start, end = _segment(args)
    seed = args.seed if args.seed is not None else secrets.randbelow(2 ** 31)
    request = GenerateRequest(
        video=video, start=start, end=end, prompt=args.prompt, negative=args.negative,
        seeds=[seed + i for i in range(args.variations)], steps=args.steps,
        guidance=args.guidance, visual_guidance=args.visual_guidance, sampler=args.sampler,
        loudness_lufs=args.loudness,
        continue_windows=not args.independent_windows, literal_prompt=args.literal_prompt)
    result, paths = generate_to_files(request, args.output, package=package,
                                      precision=args.precision, provider=args.provider,
                                      progress=_progress_printer())
    report = {**result.to_dict(), "files": [str(p) for p in paths],
              "start": start, "end": end}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        take = result.takes[0]
        print(f"model {take.model} {take.version}, variant {take.variant}, "
              f"provider {result.provider}, {result.sampler} x {result.steps} steps, "
              f"guidance {result.guidance:g}"
              + (f" (picture {result.visual_guidance:g}"
                 + (f" down to noise level {result.visual_guidance_until:g})"
                    if result.visual_guidance_until else ")")
                 if result.visual_guidance is not None else "")
              + f", {result.windows} window(s), "
              f"{result.timings['total_s']:.2f} s")
        if result.fallback_reason:
            print(f"provider: {result.fallback_reason}")
        for note in result.notes:
            print(f"precision: {note}")
        if result.prompt_used is not None:
            print(f"prompt: read as the model's training prompt \"{result.prompt_used}\" "
                  f"(similarity {result.prompt_similarity:.2f}; --literal-prompt keeps yours)")
        for p, t in zip(paths, result.takes):
            print(f"wrote {p}  (seed {t.seed}, {len(t.audio)} samples at 48 kHz)")
    return 0
