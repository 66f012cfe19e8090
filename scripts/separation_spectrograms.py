#!/usr/bin/env python3
"""Spectrograms of evaluation mixtures and the dialogue stems of separation backends (PNG).

    python scripts/separation_spectrograms.py docs/separation_refine_spectrograms.png \
        --backends default,dfn-refine

`docs/separation_tuned_spectrograms.png`: `--backends
default:tasnet_model=resources/models/separation/convtasnet-enh16k/convtasnet_enh16k_int8.onnx,default`
(the default with the pretrained and with the fine-tuned Conv-TasNet).
`docs/separation_shift_spectrograms.png`: `--backends default:w_shift=0,default` (the
default without and with its exponent shift, tenth round).
`docs/separation_warzone_spectrograms.png`: `--second warzone --backends dfn-plain,default`
(the second held-out set, eleventh round).
`docs/separation_gate_spectrograms.png`: `--second warzone --backends
default:margin_wiener=0:causal_vad=0,default` (the default before and after its gate of the
fourteenth round); `docs/separation_gate_quiet_spectrograms.png`: the same backends with
`--gain-db -30`. A backend takes any number of `:key=value` options.

Rows: the mixture, the clean speech, then each backend's dialogue stem; columns: one
pocketsphinx LibriVox sentence and one held-out Debian line (fillets-ng-data-nl; with
`--second warzone` one of the warzone2100 voice lines instead), each
mixed at 0 dB with an evaluation background (never trained on). `--gain-db -30` scales the
mixtures down (quiet input; docs/separation_level_spectrograms.png: `--backends
dfn-plain,default`, the default before and after its level front end); the plots are drawn
turned back up by the same amount.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

# The scripts folder is on sys.path when a script in it runs.
from eval_separation import parse_options

from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.separation import evaluate as ev
from foley_desktop.separation.base import make_separator, separate_array


def _spec_db(x: np.ndarray, n: int = 1024, hop: int = 256) -> np.ndarray:
    w = np.hanning(n)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * w
    return 10 * np.log10(np.abs(np.fft.rfft(frames, axis=-1)) ** 2 + 1e-10).T


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--backends", default="default,dfn-refine",
                    help="comma-separated; NAME:KEY=VALUE gives that run a backend option, "
                         "e.g. default:tasnet_model=resources/.../convtasnet_enh16k_int8.onnx")
    ap.add_argument("--background", default="default_gravel_footstep",
                    help="name part of the evaluation background to mix")
    ap.add_argument("--gain-db", type=float, default=0.0,
                    help="scale the mixtures by this much (e.g. -30: quiet input)")
    ap.add_argument("--second", choices=("debian", "warzone"), default="debian",
                    help="the second column's held-out set: a Dutch line of Fish Fillets NG "
                         "or a warzone2100 voice line")
    args = ap.parse_args()
    show = 10 ** (-args.gain_db / 20)  # drawn at the ordinary level
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = ev.default_media_root()
    bg = [p for p in ev.find_backgrounds(root) if args.background in p.name]
    if not bg:
        print(f"no evaluation background matches {args.background!r}", file=sys.stderr)
        return 2
    libri = ev.make_mixtures(ev.find_speech(root)[:1], bg, (0,))[0]
    second = ev.warzone_speech(1) if args.second == "warzone" else ev.debian_speech(1)
    deb = ev.make_mixtures_arrays(second, bg, (0,))[0]
    names = args.backends.split(",")
    fig, axes = plt.subplots(2 + len(names), 2, figsize=(12, 2.6 * (2 + len(names))),
                             sharex="col", sharey=True)
    for col, m in enumerate((libri, deb)):
        x = m.mix
        g = 0.9 / max(float(np.abs(x).max()), 0.9) * 10 ** (args.gain_db / 20)
        level = f", {args.gain_db:+g} dB, shown {-args.gain_db:+g} dB" if args.gain_db else ""
        rows = [(f"mixture (0 dB{level})", x * g), ("clean speech", m.speech * g)]
        for spec in names:
            # name:key=value:key=value (numbers as eval_separation.py's --option reads them)
            name, *pairs = spec.split(":")
            opts = parse_options(pairs)
            d, _ = separate_array(make_separator(name, 1, **opts), (x * g)[None])
            sdr = ev.si_sdr(d[0], m.speech * g) - ev.si_sdr(x * g, m.speech * g)
            # A model path is named by its folder, any other option as key=value.
            shown = ", ".join(Path(v).parent.name if "/" in str(v) else f"{k}={v}"
                              for k, v in opts.items())
            label = f"{name} ({shown})" if opts else name
            rows.append((f"{label} dialogue (SI-SDRi {sdr:.1f} dB)", d[0]))
        for r, (title, y) in enumerate(rows):
            ax = axes[r, col]
            ax.imshow(_spec_db(y * show), origin="lower", aspect="auto", vmin=-80, vmax=20,
                      extent=(0, len(y) / SAMPLE_RATE, 0, 24), cmap="magma")
            speech_name, bg_name = m.name.split("+", 1)
            # the mixture's row names the line and background; the rows below are its stems
            ax.set_title(f"{speech_name[-28:]} + {bg_name}: {title}" if r == 0 else title,
                         fontsize=7)
            ax.set_ylabel("kHz")
    for ax in axes[-1]:
        ax.set_xlabel("s")
    fig.tight_layout()
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
