"""`foley-desktop quantize`: new FP16 / INT8 variants of a model package's graphs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = "write FP16 / INT8 (dynamic, static-calibrated, mixed) variants into a model package"


def configure(parser) -> None:
    parser.add_argument("package", metavar="PACKAGE", help="model package: name or folder")
    parser.add_argument("--mode", required=True,
                        choices=["fp16", "int8-dynamic", "int8-static", "int8-mixed"])
    parser.add_argument("--calibration", nargs="+", type=Path, default=[], metavar="CLIP",
                        help="clips run through the real FP32 pipeline to calibrate (the "
                             "denoiser sees the noisy state of every sampler step); without "
                             "clips, text-only prompts are used and visual encoders are skipped")
    parser.add_argument("--prompt", action="append", metavar="TEXT",
                        help="prompt per calibration clip (repeatable; default: the clip's "
                             "sidecar JSON caption or its file name)")
    parser.add_argument("--per-channel", action="store_true", help="per-channel weight scales")
    parser.add_argument("--exclude", nargs="+", default=[], metavar="NODE",
                        help="node names to keep in float")
    parser.add_argument("--graph", action="append", metavar="ROLE",
                        help="only this graph (repeatable; default: every graph with fp32)")
    parser.add_argument("--name", help="variant name (default: the mode, e.g. int8-static; "
                                       "`int8` replaces the variant the CPU runs by default)")
    parser.add_argument("--ops", nargs="+", metavar="OP",
                        help="op types to quantize (dynamic: MatMul Gemm; static: Conv MatMul Gemm)")
    parser.add_argument("--tolerance", type=float, default=0.03,
                        help="int8-mixed: largest output error (relative RMS vs FP32) a node "
                             "group may add (default 0.03)")
    parser.add_argument("--max-error", type=float, default=0.1,
                        help="a graph whose output error exceeds this stays FP32 (default 0.1)")
    parser.add_argument("--min-speedup", type=float, default=1.05,
                        help="int8-mixed: keep a quantized graph only if it runs at least this "
                             "much faster than FP32 here (default 1.05; 0 keeps it regardless)")
    parser.add_argument("--steps", type=int, help="sampler steps for calibration (default: model's)")
    parser.add_argument("--allow-shipped", action="store_true",
                        help="allow writing into the shipped package under resources/")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    from foley_desktop.quantize.job import quantize_package

    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    summary = quantize_package(args.package, args.mode, clips=args.calibration,
                               prompts=args.prompt, per_channel=args.per_channel,
                               exclude=args.exclude, graphs=args.graph, name=args.name,
                               ops=args.ops, tolerance=args.tolerance,
                               max_error=args.max_error, min_speedup=args.min_speedup,
                               steps=args.steps, allow_shipped=args.allow_shipped,
                               log=log)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0
