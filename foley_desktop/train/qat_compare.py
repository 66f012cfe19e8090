"""QAT against PTQ on one package copy: graph error, held-out quality and audio distance.

    python -m foley_desktop.train.qat_compare --package runs/qat/pkg --out runs/qat/compare \
        --variants fp32 int8 int8-static int8-qat [--clips 60] [--lsd-clips 20]

Per variant (no torch needed; ONNX graphs only):
- denoiser error: relative RMS of the variant's denoiser output against the package's FP32
  denoiser on inputs recorded through the FP32 pipeline on the calibration clips (the figure
  `foley-desktop quantize` records as error_vs_fp32; quantize/calibrate.py, quantize/measure.py);
- held-out quality: train/evaluate.py on the evaluation set (onset F1 at +-40/100 ms against the
  true events, audio-class check), each variant next to FP32's figures;
- audio distance: log-spectral distance and SNR (quantize/report.py) of the variant's audio
  against the FP32 audio of the same clip and seed, over the first --lsd-clips evaluation clips.
Speed, memory and size come from `foley-desktop bench --package COPY` (separate, fresh processes).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from foley_desktop.engine.package import load_package
from foley_desktop.quantize import calibrate, measure, report

from .evaluate import Runner, evaluate
from .paths import DATA, REPO

MEDIA = Path.home() / ".cache/foley-desktop/media/root"
CALIBRATION = [REPO / "resources/demo/footsteps_gravel.mp4",
               MEDIA / "usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4",
               MEDIA / "usr/share/forensics-samples/original-files/movie2/movie-hello.mp4"]


def denoiser_errors(package: Path, variants: list[str], clips: list[Path]) -> dict[str, float]:
    pkg = load_package(package)
    cal = calibrate.capture(pkg, calibrate.clip_specs([c for c in clips if c.exists()], None))
    probe = measure.subset(cal.samples["denoiser"], 6)
    ref = measure.reference(pkg.graph_file("denoiser", "fp32"), probe)
    return {v: round(measure.relative_error(pkg.graph_file("denoiser", v), probe, ref), 5)
            for v in variants if v in pkg.graphs["denoiser"].variants}


def audio_distance(package: Path, variants: list[str], n: int, threads: int) -> dict[str, dict]:
    meta = json.loads((DATA / "eval/meta.json").read_text())["clips"]
    frames = np.load(DATA / "eval/frames.npy", mmap_mode="r")
    n = min(n, len(meta))
    ref_run = Runner(package, "fp32", threads)
    refs = [ref_run.generate(np.asarray(frames[i]), meta[i]["caption"], seed=i) for i in range(n)]
    out = {}
    for v in variants:
        if v == "fp32":
            continue
        run = Runner(package, v, threads)
        lsd, snr = [], []
        for i in range(n):
            a = run.generate(np.asarray(frames[i]), meta[i]["caption"], seed=i)
            lsd.append(report.log_spectral_distance(refs[i], a))
            err = np.sum((a.astype(np.float64) - refs[i]) ** 2)
            snr.append(10 * np.log10(np.sum(refs[i].astype(np.float64) ** 2) / max(err, 1e-30)))
        out[v] = {"lsd_db_mean": round(float(np.mean(lsd)), 3),
                  "lsd_db_median": round(float(np.median(lsd)), 3),
                  "snr_db_median": round(float(np.median(snr)), 2), "clips": n}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=["fp32", "int8", "int8-static", "int8-qat"])
    ap.add_argument("--clips", type=int, default=None, help="evaluation clips (default all)")
    ap.add_argument("--lsd-clips", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calibration", type=Path, nargs="*", default=CALIBRATION)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    res: dict = {"package": str(a.package), "variants": {}}
    errs = denoiser_errors(a.package, a.variants, a.calibration)
    print("denoiser error vs FP32:", errs, flush=True)
    dist = audio_distance(a.package, a.variants, a.lsd_clips, a.threads)
    print("audio distance vs FP32:", dist, flush=True)
    import inspect

    # evaluate() judges prompt adherence with paraphrases when a classifier exists; that
    # second generation of every clip is not a quantization figure, so it is skipped
    extra: dict[str, Any] = {"paraphrases": False} if "paraphrases" in inspect.signature(evaluate).parameters else {}
    for v in a.variants:
        ev = evaluate(a.package, a.out / v, a.clips, precision=v, **extra)
        res["variants"][v] = {"denoiser_error_vs_fp32": errs.get(v, 0.0 if v == "fp32" else None),
                              "onset_f1": ev["onset_f1"], "class_check": ev["class_check"],
                              "prompt_adherence": ev.get("prompt_adherence"),
                              **dist.get(v, {})}
        print(v, json.dumps(res["variants"][v]), flush=True)
    base = res["variants"].get("fp32")
    if base:
        for _v, r in res["variants"].items():
            r["onset_f1_100ms_change"] = round(r["onset_f1"]["100ms"]["generated"]
                                               - base["onset_f1"]["100ms"]["generated"], 3)
            r["onset_f1_40ms_change"] = round(r["onset_f1"]["40ms"]["generated"]
                                              - base["onset_f1"]["40ms"]["generated"], 3)
            r["class_check_change"] = round(r["class_check"]["accuracy"]
                                            - base["class_check"]["accuracy"], 3)
    (a.out / "compare.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
