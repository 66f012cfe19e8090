"""Inference settings of a marker-following package, swept on development material only.

Two sets, each split as its source is (the held-out parts are never looked at here):
- real: the annotated real clips of resources/spotting/real_eval.json with events, split "dev"
  (or "heldout" for the final figures), through the app's engine; each clip's annotated times
  are the markers and the reference, and every clip is generated with *every* prompt of
  CROSS_PROMPTS (a walker with a metal prompt, a cartoon hit with footsteps, ...), so the
  class a take comes out as must come from the text, not from the picture or the markers;
- renders: scenes.py clips of data/val (training recordings, another seed) or data/eval (the
  held-out clips), their true event times as markers, judged as evaluate.py does.

Per setting: onset F1 +-40 / +-100 ms (counts pooled over takes), precision and recall at
+-40 ms, onsets per marker, classifier accuracy (the project's judge) overall and per prompt.

    python -m foley_desktop.train.marker_sweep --package resources/models/foley-tiny \
        --setting vg=1 --setting vg=3,mg=1 --out runs/sweep/a.json
A setting is comma-separated key=value: vg (visual guidance with markers), g (guidance), mg
(marker guidance 0/1), until (visual_guidance_until), steps, neg (negative prompt), video (0:
no picture).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.spotting.onsets import detect_onsets, match

from .classifier import AudioClassifier
from .paths import DATA, MEDIA_ROOT, PACKAGE_DIR, RUNS
from .real_markers import ANNOTATIONS

# Training captions of classes the judge recognises on real recordings, one per kind of sound
# a clip with markers could be asked for.
CROSS_PROMPTS = {"footsteps on stone": "footsteps_hard", "footsteps on gravel": "footsteps_gravel",
                 "a metal clang": "metal_hit", "a heavy thud": "impact",
                 "breaking glass": "glass_break"}


def parse_setting(text: str) -> dict:
    out: dict = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        k = k.strip()
        if k not in ("vg", "g", "mg", "until", "steps", "neg", "video"):
            raise SystemExit(f"unknown setting key {k!r}")
        out[k] = v if k == "neg" else float(v)
    return out


def _score(rows: list[dict]) -> dict:
    n_ref = sum(r["markers"] for r in rows)
    n_est = sum(r["onsets"] for r in rows)
    h40 = sum(r["hits40"] for r in rows)
    h100 = sum(r["hits100"] for r in rows)
    out = {"takes": len(rows),
           "f1_40": round(2 * h40 / max(n_ref + n_est, 1), 3),
           "f1_100": round(2 * h100 / max(n_ref + n_est, 1), 3),
           "precision_40": round(h40 / max(n_est, 1), 3),
           "recall_40": round(h40 / max(n_ref, 1), 3),
           "onsets_per_marker": round(n_est / max(n_ref, 1), 2)}
    if rows and rows[0].get("label") is not None:
        out["adherence"] = round(float(np.mean([r["label"] == r["wanted"] for r in rows])), 3)
        per: dict[str, list] = {}
        for r in rows:
            per.setdefault(r["wanted"], []).append(r["label"])
        out["per_class"] = {w: f"{sum(x == w for x in ls)}/{len(ls)}"
                            for w, ls in sorted(per.items())}
        wrong: dict[str, int] = {}
        for r in rows:
            if r["label"] != r["wanted"]:
                k = f"{r['wanted']}->{r['label']}"
                wrong[k] = wrong.get(k, 0) + 1
        out["confusions"] = dict(sorted(wrong.items(), key=lambda kv: -kv[1])[:8])
    return out


def real_takes(package: Path, setting: dict, split: str, seeds: list[int], clf, threads: int = 1,
               prompts: dict[str, str] | None = None) -> list[dict]:
    """Every annotated clip of `split` with events x every prompt, markers = annotations."""
    from foley_desktop.engine.generate import Engine, GenerateRequest, generate
    eng = Engine(package, "auto", "cpu", threads)
    s = eng.package.sampler
    if "mg" in setting:
        s["marker_guidance"] = bool(setting["mg"])
    if "until" in setting:
        s["visual_guidance_until"] = setting["until"]
    if "vg" in setting:
        s["visual_guidance_with_markers"] = setting["vg"]
    rows = []
    for c in json.loads(ANNOTATIONS.read_text())["clips"]:
        video = MEDIA_ROOT / c["path"]
        if (not c["events"] or c["split"] != split or c.get("render")  # real footage only
                or not video.exists()):
            continue
        marks = [e["t"] for e in c["events"]]
        ref = [t - c["start"] for t in marks]
        start, end = round(c["start"] * SR), round(c["end"] * SR)
        for prompt, wanted in (prompts or CROSS_PROMPTS).items():
            req = GenerateRequest(None if setting.get("video", 1) == 0 else video, start, end,
                                  prompt, seeds=list(seeds),
                                  markers=[(round(t * SR), 1.0) for t in marks],
                                  guidance=setting.get("g"),
                                  steps=int(setting["steps"]) if "steps" in setting else None,
                                  negative=setting.get("neg"))
            res = generate(req, engine=eng)
            for take in res.takes:
                on = detect_onsets(take.audio)
                rows.append({"clip": c["id"], "prompt": prompt, "seed": take.seed,
                             "hits40": match(ref, on, 0.04)[0], "hits100": match(ref, on, 0.1)[0],
                             "markers": len(ref), "onsets": len(on),
                             "label": clf.predict([take.audio])[0] if clf else None,
                             "wanted": wanted})
    return rows


def render_takes(package: Path, setting: dict, clip_set: str, n_clips: int, clf,
                 threads: int = 1) -> list[dict]:
    """Rendered clips with their true event times as markers, dataset captions."""
    from .evaluate import EVENT_CLASSES_PREFIX, Runner
    meta = json.loads((DATA / clip_set / "meta.json").read_text())["clips"]
    frames = np.load(DATA / clip_set / "frames.npy", mmap_mode="r")
    run = Runner(package, "int8", threads)
    run.markers, run.video = True, setting.get("video", 1) != 0
    run.options = {"visual_guidance": setting.get("vg"),
                   "marker_guidance": None if "mg" not in setting else bool(setting["mg"]),
                   "visual_guidance_until": setting.get("until")}
    if "neg" in setting:
        run.pkg.text["default_negative"] = setting["neg"]
    rows = []
    for i in range(min(n_clips, len(meta))):
        m = meta[i]
        g = run.generate(np.asarray(frames[i]), m["caption"], seed=i,
                         steps=int(setting["steps"]) if "steps" in setting else None,
                         guidance=setting.get("g"), events=m["events"])
        ev = np.array(m["events"], np.float64) / SR
        row = {"clip": i, "prompt": m["caption"], "markers": 0, "onsets": 0, "hits40": 0,
               "hits100": 0, "label": clf.predict([g])[0] if clf else None, "wanted": m["cls"]}
        if m["cls"].startswith(EVENT_CLASSES_PREFIX):
            on = detect_onsets(g)
            row.update(markers=len(ev), onsets=len(on), hits40=match(ev, on, 0.04)[0],
                       hits100=match(ev, on, 0.1)[0])
        rows.append(row)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--setting", action="append", default=None,
                    help="key=value,... (see the module's doc); repeat for several")
    ap.add_argument("--real-split", default="dev", help="dev (tuning) or heldout (report once)")
    ap.add_argument("--render-set", default="val", help="val (tuning) or eval (held-out)")
    ap.add_argument("--render-clips", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--skip", choices=("real", "renders"), default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RUNS / "sweep/result.json")
    a = ap.parse_args(argv)
    clf_dir = AudioClassifier.find(None)
    clf = AudioClassifier(clf_dir, a.threads) if clf_dir else None
    results = []
    for text in a.setting or [""]:
        st = parse_setting(text)
        t0 = time.time()
        res = {"setting": text or "package defaults"}
        if a.skip != "real":
            rows = real_takes(a.package, st, a.real_split, a.seeds, clf, a.threads)
            res["real"] = _score(rows)
            res["real_rows"] = rows
        if a.skip != "renders":
            rows = render_takes(a.package, st, a.render_set, a.render_clips, clf, a.threads)
            res["renders"] = _score(rows)
            res["render_rows"] = rows
        res["seconds"] = round(time.time() - t0, 1)
        results.append(res)
        print(json.dumps({k: v for k, v in res.items() if not k.endswith("_rows")}), flush=True)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"package": str(a.package), "real_split": a.real_split,
                                   "render_set": a.render_set, "results": results}, indent=1))
        tmp.replace(a.out)


if __name__ == "__main__":
    main()
