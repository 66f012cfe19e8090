"""`foley-desktop bench`: every variant of a package, interleaved, in fresh processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from foley_desktop.app.preferences import PROVIDER_CHOICES

HELP = "benchmark every variant of a model package (speed, memory, size, quality vs FP32)"


def configure(parser) -> None:
    parser.add_argument("--package", metavar="NAME|PATH", help="default: the shipped foley-tiny")
    parser.add_argument("--threads", type=int, action="append", metavar="N",
                        help="intra-op threads (repeatable; default: 1 and all cores)")
    parser.add_argument("--provider", default="cpu", choices=PROVIDER_CHOICES)
    parser.add_argument("--video", type=Path,
                        help="input clip (default: resources/demo/footsteps_gravel.mp4)")
    parser.add_argument("--text-only", action="store_true", help="no clip: text-only generation")
    parser.add_argument("--prompt", help="default: the clip's caption")
    parser.add_argument("--seconds", type=float, help="segment length (default: one window)")
    parser.add_argument("--steps", type=int, help="sampler steps (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--reps", type=int, default=2,
                        help="end-to-end runs per variant per round (default 2)")
    parser.add_argument("--variant", action="append", metavar="NAME",
                        help="only these variants (fp32 is always measured)")
    parser.add_argument("--int8", metavar="NAME",
                        help="the INT8 variant the top-level ratios refer to (default: int8)")
    parser.add_argument("--output", type=Path, metavar="PREFIX",
                        help="write PREFIX.md and PREFIX.json (default: bench-<model>)")
    parser.add_argument("--no-findings", action="store_true",
                        help="do not record the fastest acceptable variant in the user cache")
    parser.add_argument("--json", action="store_true", help="print the JSON instead of the table")


def run(args) -> int:
    from foley_desktop.engine.generate import load_model
    from foley_desktop.fsutil import atomic_write
    from foley_desktop.paths import resources_dir
    from foley_desktop.quantize import report
    from foley_desktop.quantize.bench import bench

    pkg = load_model(args.package)
    video = None
    if not args.text_only:
        video = args.video or resources_dir() / "demo" / "footsteps_gravel.mp4"
        if not video.is_file():
            from foley_desktop.errors import MediaError
            raise MediaError(f"bench input clip not found: {video} (give --video or --text-only)")
    end = None if args.seconds is None else round(args.seconds * 48000)
    log = lambda *a: print(*a, file=sys.stderr)
    result = bench(pkg.path, threads=args.threads, provider=args.provider, video=video,
                   prompt=args.prompt, end=end, steps=args.steps, seed=args.seed,
                   rounds=args.rounds, reps=args.reps, variants=args.variant, int8=args.int8,
                   save_findings=not args.no_findings, log=log)
    md = report.markdown(result)
    prefix = args.output or Path(f"bench-{pkg.name}")
    for suffix, text in ((".md", md), (".json", json.dumps(result, indent=2) + "\n")):
        with atomic_write(prefix.with_name(prefix.name + suffix), "w") as fh:
            fh.write(text)
    print(json.dumps(result, indent=2) if args.json else md)
    print(f"wrote {prefix}.md and {prefix}.json", file=sys.stderr)
    return 0
