#!/usr/bin/env python3
"""Evaluate separation backends on real speech mixed with real effects and music.

Prints a markdown table (medians per speech-to-background ratio) for the naive RNNoise
baseline, the previous RNNoise-based default and the default backend side by side (--backends
to choose); docs/separation.md keeps the latest one. Each mixture runs as the file job runs a
file: the backend's pre-pass over the whole mixture first (the default: its level), then the
stream (--causal: without the pre-pass). The last column scores the first second of speech
alone, where a causal level has not settled yet.
Media: scripts/fetch_test_media.sh (pocketsphinx-testdata, minetest-data, scratch,
sonic-pi-samples) and the CMU ARCTIC sample from the pysptk sdist (--arctic PATH, or it is
fetched with `pip download --no-deps pysptk` into the media cache).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from foley_desktop.errors import MediaError
from foley_desktop.separation import evaluate as ev


def arctic_sample(media_root: Path) -> Path | None:
    target = media_root.parent / "pysptk" / "arctic_a0007.wav"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            # only this package from source: its build requirements come
                            # as wheels in pip's isolated build environment
                            "--no-binary", "pysptk", "pysptk", "-d", tmp],
                           capture_output=True, check=False)
        sdists = list(Path(tmp).glob("pysptk-*.tar.gz"))
        if not sdists:
            print(f"pysptk sdist not available ({r.stderr.decode()[-200:]}); "
                  "evaluating without the ARCTIC sample", file=sys.stderr)
            return None
        with tarfile.open(sdists[0]) as tar:
            for m in tar.getmembers():
                if m.name.endswith("example_audio_data/arctic_a0007.wav"):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(m).read())
                    return target
    return None


def parse_options(pairs: list[str]) -> dict:
    """--option KEY=VALUE pairs: numbers as numbers (int where whole), else strings."""
    opts: dict = {}
    for kv in pairs:
        k, v = kv.split("=", 1)
        try:
            opts[k] = int(v)
        except ValueError:
            try:
                opts[k] = float(v)
            except ValueError:
                opts[k] = v
    return opts


def long_run(minutes: float, backend: str, options: dict | None = None) -> int:
    """Stream a long stereo file through `separate` (with backend `options`) and report RTF
    (wall clock and CPU) and peak memory."""
    import json

    import numpy as np

    from foley_desktop.fsutil import atomic_write
    from foley_desktop.separation.job import StreamingWav

    root = ev.default_media_root()
    mixes = ev.make_mixtures(ev.find_speech(root)[:2], ev.find_backgrounds(root)[:3], (0,))
    unit = np.concatenate([m.mix for m in mixes]) * 0.5
    total = int(minutes * 60 * 48000)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "long.wav"
        # Written block by block: this process stays small, so the child's peak memory (which
        # on Linux starts from its parent's size at fork) is the job's own.
        with atomic_write(src) as fh:
            w = StreamingWav(fh, 2)
            for i in range(0, total, len(unit)):
                x = unit[:total - i]
                w.write(np.stack([x, x * 0.8]))
            w.finish()
        code = ("import json, resource, sys, time; "
                "from foley_desktop.separation import separate; "
                "t, c = time.perf_counter(), time.process_time(); "
                "separate(sys.argv[1], sys.argv[2], backend=sys.argv[3], "
                "**json.loads(sys.argv[4])); "
                "print(time.perf_counter() - t, time.process_time() - c, "
                "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code, str(src), str(Path(tmp) / "out"),
                              backend, json.dumps(options or {})],
                             check=True, capture_output=True, text=True).stdout
        el, cpu, peak = (float(v) for v in out.split())
    dur = total / 48000
    print(f"{backend} {options or ''}: {minutes:g} min stereo 48 kHz: {el:.1f} s wall, {cpu:.1f} s CPU; "
          f"RTF {el / dur:.3f} wall, {cpu / dur:.3f} CPU; peak RSS of the job {peak / 1024:.0f} MiB")
    return 0


def concat_run(mixes: list, backends: list[str], snrs, options: dict, gap_s: float = 0.0) -> None:
    """Per ratio, the mixtures one after another as one long stream (as a film's dialogue
    runs on): the backend runs once over it (pre-pass first, as the file job does), and each
    mixture is scored on its own span of the stems. Short mixtures alone each fit in one
    Conv-TasNet segment; this puts segment joins and skipped segments to the test. `gap_s`:
    after each mixture this long of its background alone (looped), speech silent there: pauses
    in the dialogue."""
    import numpy as np

    from foley_desktop.separation.base import make_separator, separate_array

    for name in backends:
        rows, cpu, dur = [], 0.0, 0.0
        for snr in snrs:
            ms = [m for m in mixes if m.snr_db == snr]
            gap = round(gap_s * 48000)
            s = np.concatenate([np.pad(m.speech, (0, gap)) for m in ms])
            x = np.concatenate([np.concatenate([m.mix, np.resize(m.background, gap)])
                                for m in ms])
            g = min(1.0, 0.9 / max(float(np.abs(x).max()), 1e-9))
            s, x = s * g, x * g
            sep = make_separator(name, 1, **options)
            c0 = time.process_time()
            d = separate_array(sep, x[None], block=48000)[0][0]
            cpu += time.process_time() - c0
            dur += len(x) / 48000
            per, i = [], 0
            for m in ms:
                j = i + len(m.speech)
                per.append(ev.si_sdr(d[i:j], s[i:j]) - ev.si_sdr(x[i:j], s[i:j]))
                i = j + gap
            rows.append(f"{snr:+g} dB: median {np.median(per):.2f} dB over {len(per)}, "
                        f"whole stream {ev.si_sdr(d, s) - ev.si_sdr(x, s):.2f} dB")
        print(f"{name} {options or ''} concatenated ({len(x) / 48000:.0f} s per ratio, CPU RTF "
              f"{cpu / dur:.3f}): " + "; ".join(rows), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="rnnoise,rnnoise-mask,default",
                    help="comma-separated backends; oracle-irm and oracle-psm add the ideal "
                         "masks computed from the clean sources (a ceiling for masking)")
    ap.add_argument("--snr", default="-5,0,5", help="speech-to-background ratios, dB")
    ap.add_argument("--arctic", default=None, help="path of arctic_a0007.wav")
    ap.add_argument("--quick", action="store_true", help="2 sentences x 4 backgrounds")
    ap.add_argument("--speech", default="pocketsphinx,debian",
                    help="speech sets, comma-separated: pocketsphinx (LibriVox sentences + "
                         "ARCTIC, 16 kHz) and/or debian (held-out Debian speech: the Dutch "
                         "dub of Fish Fillets NG, 22 kHz, scripts/fetch_speech_corpus.py); "
                         "tuning: the tuning set (cards/ phrases x 4 other backgrounds), the "
                         "one to choose settings on; fullband: 44.1 kHz lines (fillets-ng-data-cs, dev "
                         "split) for the high-band (> 8 kHz) check; dev: 40 dev-split lines of "
                         "every training package x the 4 tuning backgrounds (the larger "
                         "selection set); dev-trimmed: the same lines cut to their voice "
                         "(recorded silence gone: the pauses touch the words, as in the "
                         "warzone lines; a selection set); warzone: 20 English voice lines of "
                         "warzone2100-data (11 kHz, never trained or chosen on: the second "
                         "held-out set)")
    ap.add_argument("--debian-n", type=int, default=10, help="held-out Debian utterances")
    ap.add_argument("--gain-db", type=float, default=0.0,
                    help="scale every mixture by this much (e.g. -30: quiet input)")
    ap.add_argument("--causal", action="store_true",
                    help="run the backends as a live stream would: without the pre-pass over "
                         "the whole mixture (the default backend then uses its causal level); "
                         "without it each mixture runs as the file job runs a file")
    ap.add_argument("--long-minutes", type=float, default=0,
                    help="instead: separate a file this long (looped real mixtures, stereo) "
                         "with the job and report its real-time factor and peak memory")
    ap.add_argument("--concat", action="store_true",
                    help="instead of one run per mixture: per ratio, all mixtures in one stream "
                         "(concat_run)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="backend option, given to every backend run, e.g. segment_s=8, "
                         "parallel=1")
    ap.add_argument("--rows", type=Path, default=None,
                    help="also write every mixture's scores here (JSON lines: set, backend, "
                         "mixture, ratio and each measure), for breakdowns by line or "
                         "background")
    ap.add_argument("--trim", action="store_true",
                    help="cut every line (but the tuning set's) to its voice before the "
                         "silence is put around it (evaluate.trimmed; dev-trimmed is dev with "
                         "it): the pauses then touch the words, as in the warzone lines, and "
                         "the pause residual measures the gate's margins on the background")
    ap.add_argument("--gap", type=float, default=0.0,
                    help="with --concat: seconds of background alone after each mixture")
    args = ap.parse_args()
    if args.long_minutes:
        return long_run(args.long_minutes, args.backends.split(",")[-1],
                        parse_options(args.option))
    root = ev.default_media_root()
    subprocess.run([str(Path(__file__).with_name("fetch_test_media.sh")), "pocketsphinx-testdata",
                    "minetest-data", "scratch", "sonic-pi-samples"], check=True,
                   stdout=subprocess.DEVNULL)
    backgrounds = ev.find_backgrounds(root)
    if args.quick:
        backgrounds = backgrounds[::3]
    snrs = tuple(float(s) for s in args.snr.split(","))
    sets = args.speech.split(",")
    bad = [s for s in sets if s not in ("pocketsphinx", "debian", "tuning", "fullband", "dev",
                                    "dev-trimmed", "warzone")]
    if bad:
        print(f"unknown speech set(s): {', '.join(bad)}", file=sys.stderr)
        return 2
    for which in sets:
        bgs = backgrounds  # the held-out evaluation backgrounds, but for the selection sets
        if which == "pocketsphinx":
            from foley_desktop.media import read_audio

            arctic = Path(args.arctic) if args.arctic else arctic_sample(root)
            files = ev.find_speech(root, [arctic] if arctic else [])
            if args.quick:
                files = files[:2]
            if not files:  # as make_mixtures says it
                raise MediaError("no evaluation media found: run scripts/fetch_test_media.sh")
            speech = [(p.stem, read_audio(p, mono=True)[0]) for p in files]
            title = "pocketsphinx LibriVox + ARCTIC (16 kHz)"
        elif which == "tuning":  # for choosing settings: never the sets above
            from foley_desktop.train.separation_mask import tune_mixtures

            if args.trim:
                print("--trim: not for the tuning set (its mixtures come ready-made)",
                      file=sys.stderr)
                return 2
            mixes = tune_mixtures(snrs)
            speech = sorted({m.name.split("+")[0] for m in mixes})
            title = "tuning set (pocketsphinx cards/ x 4 tuning backgrounds)"
        elif which == "fullband":
            speech = ev.fullband_speech(2 if args.quick else 6)
            title = "Debian speech with content above 8 kHz (fillets-ng-data-cs 44.1 kHz, dev)"
        elif which in ("dev", "dev-trimmed"):  # selection, never held-out: tuning backgrounds
            from foley_desktop.train.separation_mask import tune_backgrounds

            speech = ev.dev_speech(4 if args.quick else 40)
            title = "Debian dev lines (every training package, dev split) x 4 tuning backgrounds"
            bgs = tune_backgrounds()
        elif which == "warzone":
            speech = ev.warzone_speech(2 if args.quick else 20)
            title = "held-out English voice lines (warzone2100-data, 11 kHz)"
        else:
            speech = ev.debian_speech(2 if args.quick else args.debian_n)
            title = "held-out Debian speech (fillets-ng-data-nl, 22 kHz)"
        if which != "tuning":
            if args.trim or which == "dev-trimmed":
                speech = [(u, ev.trimmed(x)) for u, x in speech]
                title += ", cut to the voice"
            mixes = ev.make_mixtures_arrays(speech, bgs, snrs)
        if args.gain_db:
            g = 10 ** (args.gain_db / 20)
            mixes = [ev.Mixture(m.name, m.snr_db, m.speech * g, m.background * g) for m in mixes]
            title += f", {args.gain_db:+g} dB"
        if args.causal:
            title += ", causal (no pre-pass)"
        n_bgs = len({m.name.split("+")[-1] for m in mixes})
        print(f"{title}: {len(speech)} sentences x {n_bgs} backgrounds x "
              f"{len(snrs)} ratios = {len(mixes)} mixtures, "
              f"{sum(len(m.speech) for m in mixes) / 48000:.0f} s of audio", file=sys.stderr)
        if args.concat:
            concat_run(mixes, args.backends.split(","), snrs, parse_options(args.option),
                       args.gap)
            continue
        results = []
        for name in args.backends.split(","):
            results.append(ev.evaluate(name, mixes, pre_pass=not args.causal,
                                       **parse_options(args.option)))
            print(f"{name}: done", file=sys.stderr)
        if args.rows:
            import json

            with open(args.rows, "a") as fh:
                for sc in results:
                    for r in sc.rows:
                        fh.write(json.dumps({"set": which, "backend": sc.backend, **r}) + "\n")
        print(f"\n### {title}\n")
        print(ev.table(results, snrs))
        hb = ev.highband_table(results, snrs)
        if hb.count("\n") > 1:
            print()
            print(hb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
