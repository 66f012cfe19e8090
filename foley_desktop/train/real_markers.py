"""Markers on real footage: does a take land on the spotting markers, and keep the prompt's
sound class, when the picture is a real recording rather than a scenes.py drawing?

Runs the app's own engine (engine/generate.py: video decoding, windows, guidance rows) on
segments of real clips from Debian / PyPI packages (scripts/fetch_test_media.sh and
scripts/fetch_real_footage.sh put them under the media root). The markers are a seeded,
irregular pattern per clip (0.4-1.0 s apart): they are *not* where the picture's motion is,
so a take can only match them by following the markers - and without markers the same
figure is what a take scores by chance. Conditions: no markers; markers; markers without the
video (the engine's text-only path). Sound class: the project's classifier
(train/classifier.py) labels every take; a metal prompt must not come out as footsteps.

    python -m foley_desktop.train.real_markers --package resources/models/foley-tiny \
        --out runs/real_markers/foley-tiny.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.spotting.onsets import detect_onsets, match

from .classifier import AudioClassifier
from .paths import MEDIA_ROOT, PACKAGE_DIR, RUNS

# (path under the media root, start s, length s): people walking (no sound), a person at a
# desk, an animated trailer, a film scene; none was ever used in training.
CLIPS = [
    ("usr/share/doc/opencv-doc/examples/data/vtest.avi", 10.0, 8.0),
    ("usr/share/forensics-samples/original-files/movie2/movie-hello.mp4", 0.0, 8.0),
    (("pypi/moviepy/moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/"
      "trailer_bbb.mp4"), 20.0, 8.0),
    ("usr/share/doc/opencv-doc/examples/data/Megamind.avi", 2.0, 8.0),
]
# prompt -> the classifier label it asks for (training captions: the picture is on trial here)
PROMPTS = {"a metal clang": "metal_hit", "footsteps on gravel": "footsteps_gravel",
           "breaking glass": "glass_break"}
CONDITIONS = ("no markers", "markers", "markers, no video")


def marker_pattern(i: int, seconds: float) -> list[float]:
    """Seeded irregular marker times (s from the segment's start) for clip `i`."""
    rng = np.random.Generator(np.random.PCG64([7, i]))
    t, out = rng.uniform(0.3, 0.8), []
    while t < seconds - 0.3:
        out.append(round(float(t), 3))
        t += rng.uniform(0.4, 1.0)
    return out


def run(package: Path, seeds: list[int], threads: int = 1, classifier: Path | None = None,
        visual_guidance: float | None = None, between_markers: str = "auto") -> dict:
    eng = Engine(package, "auto", "cpu", threads)
    clf_dir = AudioClassifier.find(classifier)
    clf = AudioClassifier(clf_dir, threads) if clf_dir else None
    rows = []
    for i, (rel, start_s, secs) in enumerate(CLIPS):
        video = MEDIA_ROOT / rel
        if not video.exists():
            continue
        marks = marker_pattern(i, secs)
        start = round(start_s * SR)
        for prompt, label in PROMPTS.items():
            for cond in CONDITIONS:
                req = GenerateRequest(None if cond.endswith("no video") else video, start,
                                      start + round(secs * SR), prompt, seeds=list(seeds),
                                      markers=None if cond == "no markers" else
                                      [(start + round(t * SR), 1.0) for t in marks],
                                      visual_guidance=visual_guidance,
                                      between_markers=between_markers)
                res = generate(req, engine=eng)
                for take in res.takes:
                    on = detect_onsets(take.audio)
                    rows.append({"clip": Path(rel).name, "prompt": prompt, "condition": cond,
                                 "seed": take.seed, "followed": res.markers_followed,
                                 "hits40": match(marks, on, 0.04)[0],
                                 "hits100": match(marks, on, 0.1)[0],
                                 "markers": len(marks), "onsets": len(on),
                                 "label": clf.predict([take.audio])[0] if clf else None,
                                 "wanted": label})
    return {"package": f"{eng.package.name} {eng.package.version}", "seeds": list(seeds),
            "visual_guidance": visual_guidance, "between_markers": between_markers,
            "clips": [c[0] for c in CLIPS], "summary": summarise(rows), "takes": rows}


# The annotated real clips of issue #23 (resources/spotting/real_eval.json): a prompt per kind.
KIND_PROMPTS = {"footstep": ("footsteps on stone", "footsteps_hard"),
                "hit": ("a metal clang", "metal_hit"), "other": ("a heavy thud", "impact")}
ANNOTATIONS = Path(__file__).resolve().parents[2] / "resources/spotting/real_eval.json"


def run_annotated(package: Path, seeds: list[int], threads: int = 1,
                  classifier: Path | None = None, visual_guidance: float | None = None,
                  between_markers: str = "auto") -> dict:
    """Every annotated clip with events: its annotated times as markers (strength 1), scored
    against the same times, in the three conditions; the clip's split is kept per take."""
    eng = Engine(package, "auto", "cpu", threads)
    clf_dir = AudioClassifier.find(classifier)
    clf = AudioClassifier(clf_dir, threads) if clf_dir else None
    rows = []
    for c in json.loads(ANNOTATIONS.read_text())["clips"]:
        video = MEDIA_ROOT / c["path"]
        # real footage only: the set also holds the project's own renders (screen typing)
        if not c["events"] or c.get("render") or not video.exists():
            continue
        marks = [e["t"] for e in c["events"]]
        kind = max({e["kind"] for e in c["events"]}, key=[e["kind"] for e in c["events"]].count)
        prompt, label = KIND_PROMPTS[kind]
        start, end = round(c["start"] * SR), round(c["end"] * SR)
        for cond in CONDITIONS:
            req = GenerateRequest(None if cond.endswith("no video") else video, start, end,
                                  prompt, seeds=list(seeds),
                                  markers=None if cond == "no markers" else
                                  [(round(t * SR), 1.0) for t in marks],
                                  visual_guidance=visual_guidance,
                                  between_markers=between_markers)
            res = generate(req, engine=eng)
            ref = [t - c["start"] for t in marks]
            for take in res.takes:
                on = detect_onsets(take.audio)
                rows.append({"clip": c["id"], "split": c["split"], "prompt": prompt,
                             "condition": cond, "seed": take.seed,
                             "followed": res.markers_followed,
                             "hits40": match(ref, on, 0.04)[0], "hits100": match(ref, on, 0.1)[0],
                             "markers": len(ref), "onsets": len(on),
                             "label": clf.predict([take.audio])[0] if clf else None,
                             "wanted": label})
    return {"package": f"{eng.package.name} {eng.package.version}", "seeds": list(seeds),
            "annotations": str(ANNOTATIONS.name), "between_markers": between_markers,
            "summary": summarise(rows),
            "summary_heldout": summarise([r for r in rows if r["split"] == "heldout"]),
            "takes": rows}


def summarise(rows: list[dict]) -> dict:
    """Per condition: onset F1 against the markers (counts pooled over takes), onsets per
    marker, classifier accuracy, and the share of metal-prompt takes heard as footsteps."""
    out = {}
    for cond in CONDITIONS:
        r = [x for x in rows if x["condition"] == cond]
        if not r:
            continue
        n_ref = sum(x["markers"] for x in r)
        n_est = sum(x["onsets"] for x in r)
        f1 = {k: round(2 * sum(x[f"hits{k}"] for x in r) / max(n_ref + n_est, 1), 3)
              for k in ("40", "100")}
        metal = [x for x in r if x["wanted"] == "metal_hit"]
        out[cond] = {"onset_f1_40ms": f1["40"], "onset_f1_100ms": f1["100"],
                     "onsets_per_marker": round(n_est / max(n_ref, 1), 2),
                     "takes": len(r)}
        if r[0]["label"] is not None:
            out[cond]["classifier_accuracy"] = round(
                float(np.mean([x["label"] == x["wanted"] for x in r])), 3)
            out[cond]["metal_heard_as_footsteps"] = round(
                float(np.mean([x["label"].startswith("footsteps") for x in metal])), 3)
            out[cond]["labels_of_metal_takes"] = sorted({x["label"] for x in metal})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--out", type=Path, default=RUNS / "real_markers/result.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--visual-guidance", type=float, default=None,
                    help="instead of the package's default")
    ap.add_argument("--annotated", action="store_true",
                    help="the annotated real clips (resources/spotting/real_eval.json) instead "
                         "of the seeded marker patterns")
    ap.add_argument("--between-markers", choices=("auto", "quiet", "keep"), default="auto",
                    help="the engine's treatment of takes between markers (engine/marker_gate.py;"
                         " the app's default auto; keep: the model's own output, as measured "
                         "before 2026-12-06's round 3)")
    a = ap.parse_args(argv)
    res = (run_annotated if a.annotated else run)(a.package, a.seeds, a.threads,
                                                  visual_guidance=a.visual_guidance,
                                                  between_markers=a.between_markers)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps({"package": res["package"], **res["summary"],
                      **({"heldout": res["summary_heldout"]} if "summary_heldout" in res else {})},
                     indent=1))


if __name__ == "__main__":
    main()
