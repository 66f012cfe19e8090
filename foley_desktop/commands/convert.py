"""`foley-desktop convert hunyuan`: HunyuanVideo-Foley checkpoints -> a model package.

Needs the `train` extra (PyTorch CPU, transformers); see docs/hunyuan.md. The Synchformer
stream (per-clip layout "NTCHW-windows") is included when its weights are there; without it
the package uses the model's learned empty sync features.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HELP = "convert HunyuanVideo-Foley checkpoints into a model package (needs the train extra)"


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    p = sub.add_parser("hunyuan", help="HunyuanVideo-Foley XXL / XL (docs/hunyuan.md)")
    p.add_argument("--checkpoint-dir", type=Path, required=True, metavar="DIR",
                   help="folder with hunyuanvideo_foley.pth (XXL) or hunyuanvideo_foley_xl.pth, "
                        "vae_128d_48k.pth, synchformer_state_dict.pth")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--variant", choices=["xxl", "xl"], help="published configuration (default xxl)")
    which.add_argument("--config", type=Path, metavar="FILE",
                       help="a YAML in the reference's layout (model_config.model_kwargs)")
    p.add_argument("--siglip2", type=Path, metavar="DIR", help="siglip2-base-patch16-512 folder")
    p.add_argument("--clap", type=Path, metavar="DIR", help="larger_clap_general folder")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="PACKAGE",
                   help="package folder to create (e.g. in ~/.local/share/foley-desktop/models/)")
    p.add_argument("--precision", default="fp16,int8",
                   help="extra variants besides fp32, comma-separated from fp16,int8,int8-8bit "
                        "(full-range weights for CPUs with VNNI/AMX); '' for none")
    p.add_argument("--sync", choices=["auto", "on", "off"], default="auto",
                   help="Synchformer stream: auto = when its weights are there (default)")
    p.add_argument("--name", help="package name (default from the configuration)")
    p.add_argument("--json", action="store_true", help="print a JSON report")


def _printer():
    tty = sys.stderr.isatty()
    last = [None]

    def show(p) -> None:
        if tty:
            sys.stderr.write(f"\r{p.stage} {p.done:.0f}/{p.total:.0f}      ")
            if p.done >= p.total:
                sys.stderr.write("\n")
        elif p.stage != last[0]:   # logs: one line per stage, with its time
            last[0] = p.stage
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {p.stage} {p.done:.0f}/{p.total:.0f}\n")
        sys.stderr.flush()

    return show


def run(args) -> int:
    from foley_desktop.errors import FoleyError

    try:
        from foley_desktop.convert.convert import ConvertOptions, convert
    except ImportError as exc:
        raise FoleyError(f"conversion needs the train extra (pip install 'foley-desktop[train]'): "
                         f"{exc}") from None
    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    opts = ConvertOptions(checkpoint_dir=args.checkpoint_dir, output=args.output,
                          variant=args.variant, config=args.config, siglip2=args.siglip2,
                          clap=args.clap, precisions=precisions, name=args.name, sync=args.sync)
    out = convert(opts, progress=_printer())
    report = {"package": str(out), **opts.report}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"wrote {out}")
        for role, err in opts.report.get("checks", {}).items():
            print(f"  {role}: ONNX vs PyTorch relative error {err:.1e}")
        if opts.report.get("ignored_keys"):
            print(f"  ignored {opts.report['ignored_keys']} checkpoint keys not used at inference "
                  f"({', '.join(opts.report['ignored_prefixes'])})")
        if not opts.report.get("sync_stream"):
            print("  note: no Synchformer stream in this package (learned empty sync features "
                  "used; see docs/hunyuan.md)")
    return 0
