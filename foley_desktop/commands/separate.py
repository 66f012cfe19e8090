"""`foley-desktop separate INPUT [-o DIR] [--backend NAME]`: dialogue and background stems."""

from __future__ import annotations

import sys
from pathlib import Path

from foley_desktop.errors import FoleyError
from foley_desktop.jobs import Progress

HELP = "split a clip's audio into dialogue and background stems (48 kHz WAV)"


def configure(parser) -> None:
    from foley_desktop.separation import backends

    names = backends()
    parser.add_argument("input", help="video or audio file")
    parser.add_argument("-o", "--out", default=None,
                        help="output folder (default: INPUT-stems beside INPUT; for a clip "
                             "among the app's own files or in a folder you cannot write, in "
                             "the documents folder's 'Foley Desktop')")
    parser.add_argument("--backend", default="default", choices=sorted(names),
                        help="; ".join(f"{k}: {v}" for k, v in names.items()))
    parser.add_argument("--model", default=None,
                        help="demucs backend: local .onnx exported from a Demucs or HTDemucs "
                             "checkpoint by scripts/export_demucs_onnx.py")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.epilog = ("Writes DIR/dialogue.wav, DIR/background.wav (32-bit float, 48 kHz, the input's "
                     "channels and length; they add up to the input) and "
                     "DIR/speech_regions.json (samples at 48 kHz).")


def _printer(quiet: bool):
    last = [-1]

    def show(p: Progress) -> None:
        pct = int(p.fraction * 100)
        if quiet or pct == last[0]:
            return
        last[0] = pct
        eta = f", {p.eta_s:.0f} s left" if p.eta_s else ""
        print(f"\r{p.stage}: {pct:3d}%{eta}   ", end="", file=sys.stderr, flush=True)

    return show


def run(args) -> int:
    from foley_desktop.media.timebase import SAMPLE_RATE
    from foley_desktop.outpaths import default_folder
    from foley_desktop.separation import separate

    inp = Path(args.input)
    if args.out:
        out = Path(args.out)
    elif inp.is_file():   # the output policy: beside the clip when that folder is the user's
        out = default_folder(inp) / f"{inp.stem}-stems"
    else:                 # `separate` says the input is missing; nothing is created first
        out = inp.with_name(inp.stem + "-stems")
    options = {}
    if args.model is not None:
        if args.backend != "demucs":
            raise FoleyError("--model is for --backend demucs")
        options["model"] = args.model
    result = separate(inp, out, backend=args.backend, progress=_printer(args.quiet), **options)
    if not args.quiet:
        print(file=sys.stderr)
    speech_s = sum(e - s for s, e in result.speech_regions) / SAMPLE_RATE
    if result.repaired_samples:
        print(f"input: {result.repaired_samples} damaged sample(s) (NaN, infinite or beyond "
              "+24 dBFS) were set to silence or clipped before separating", file=sys.stderr)
    print(f"dialogue:   {result.dialogue_path}")
    print(f"background: {result.background_path}")
    print(f"{result.samples} samples at 48 kHz, {result.channels} channel(s), backend "
          f"{result.backend}; {len(result.speech_regions)} speech region(s), {speech_s:.1f} s")
    return 0
