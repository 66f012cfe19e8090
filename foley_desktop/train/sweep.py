"""Inference-setting sweep of a foley-tiny package on a clip set (no torch: ONNX graphs only).

Meant for the VALIDATION set (data/val: training recordings, another seed; see dataset.py
--val-clips), so that the held-out evaluation set is only looked at once, with the settings
chosen here. Each setting generates every clip once with its dataset caption and reports onset
F1 (+-40/+-100 ms, event classes), per-class F1 at +-100 ms, the separately trained classifier's
accuracy on the generated audio (per class and its confusions in results.jsonl), and the
generation time per 8 s clip (one thread).

    python -m foley_desktop.train.sweep --set val --out runs/sweep \
        --setting steps=10,guidance=7 --setting steps=16,method=heun,guidance=7,visual_guidance=4

A setting is comma-separated key=value among: steps, method (euler|heun), guidance,
visual_guidance (separate guidance on the visual condition: a third batch row with the prompt
and the unconditional visual vector; see engine/sampler.py), visual_guidance_until (the noise
level below which that guidance is 1), shift, latent_median (the output filter's window, see
engine/sampler.py).

`--prompts paraphrases` generates with VALIDATION_PROMPTS instead of the dataset captions:
wordings used neither in training (captions.py) nor in the held-out check (evaluate.py's
UNSEEN_PROMPTS), so that following unseen prompts can be tuned without the held-out set.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from foley_desktop.engine import sampler

from . import codec
from .classifier import AudioClassifier
from .evaluate import EVENT_CLASSES_PREFIX, Runner, detect_onsets, f1, latent_jitter
from .paths import DATA, PACKAGE_DIR, RUNS

# Two more wordings per trained class, for model selection only (see the module docstring).
VALIDATION_PROMPTS = {
    "crowd": ["fans roaring in an arena", "a lively group of people"],
    "dog_bark": ["an angry dog barking", "a guard dog barks"],
    "door_close": ["a heavy door thuds closed", "pushing a door shut"],
    "door_open": ["a squeaky door opening", "unlatching and opening a door"],
    "explosion": ["a grenade going off", "a huge bang and rumble"],
    "fire": ["a bonfire roaring", "logs burning and snapping"],
    "footsteps_dirt": ["walking along a country track", "footsteps on muddy earth"],
    "footsteps_glass": ["walking over a glass walkway", "steps on a glass surface"],
    "footsteps_grass": ["feet brushing through a field", "walking on a green lawn"],
    "footsteps_gravel": ["crunching steps on small stones", "a hiker on a gravel trail"],
    "footsteps_hard": ["heels clicking on tiles", "steps in a stone hallway"],
    "footsteps_ice": ["careful steps on a frozen path", "walking across an ice rink"],
    "footsteps_metal": ["walking on a steel catwalk", "clanging steps on iron stairs"],
    "footsteps_sand": ["steps on a sand dune", "walking barefoot on a beach"],
    "footsteps_water": ["stomping through wet puddles", "splashing while walking"],
    "footsteps_wood": ["creaking floorboards underfoot", "walking on an old wooden porch"],
    "glass_break": ["a bottle shatters", "a mirror cracking into pieces"],
    "impact": ["a sack falls to the ground", "a suitcase dropped down"],
    "metal_hit": ["a bell-like metal strike", "banging on a metal pipe"],
    "vehicle_pass": ["a bus driving past", "a fast car zooming by"],
    "water_drop": ["a drop plunks into a glass of water", "a leak dripping"],
    "water_flow": ["a waterfall rushing", "a river running over stones"],
}


_NOT_PRINTED = ("per_class_100ms", "classifier_per_class", "classifier_confusions")


def prompt_for(i: int, m: dict, prompts: str) -> str:
    """The text clip `i` is generated with: its caption, or a validation wording of its class."""
    if prompts == "captions":
        return m["caption"]
    words = VALIDATION_PROMPTS[m["cls"]]
    return words[i % len(words)]


def parse_setting(text: str) -> dict:
    out: dict = {}
    for kv in text.split(","):
        k, v = kv.split("=")
        k = k.strip()
        if k in ("steps", "latent_median"):
            out[k] = int(v)
        elif k in ("method",):
            out[k] = v.strip()
        elif k in ("guidance", "visual_guidance", "shift", "visual_guidance_until"):
            out[k] = float(v)
        else:
            raise ValueError(f"unknown key {k!r}")
    return out


def _score(h, nr, ne):
    p = h / ne if ne else 0.0
    r = h / nr if nr else 0.0
    return round(2 * p * r / (p + r), 3) if p + r else 0.0


class SweepRunner(Runner):
    """Runner with every sampler option given per call (the visual features are cached per
    clip by the caller through `features`)."""

    def generate_with(self, feats, n_lat: int, seed: int, st: dict) -> np.ndarray:
        vg = st.get("visual_guidance")
        cfg = sampler.SamplerConfig(method=st.get("method", "euler"), steps=st.get("steps", 10),
                                    guidance=st.get("guidance", 7.0), shift=st.get("shift", 1.0),
                                    visual_guidance=vg, latent_median=st.get("latent_median", 0),
                                    visual_guidance_until=st.get("visual_guidance_until", 0.0))
        return self.sample(feats, n_lat, seed, cfg)


def run_setting(run: SweepRunner, clf: AudioClassifier | None, meta, frames, feats_cache,
                st: dict, seed_offset: int = 0, prompts: str = "captions") -> dict:
    acc = {"40ms": [0, 0, 0], "100ms": [0, 0, 0]}
    per_class: dict[str, list] = {}
    gens, jit, t_gen = [], [], 0.0
    for i, m in enumerate(meta):
        text = prompt_for(i, m, prompts)
        if (i, text) not in feats_cache:
            feats_cache[i, text] = run.features(np.asarray(frames[i]), text)
        t0 = time.perf_counter()
        g = run.generate_with(feats_cache[i, text], len(frames[i]) * 4, i + seed_offset, st)
        t_gen += time.perf_counter() - t0
        gens.append(g)
        assert run.last_latent is not None  # generate_with decoded one
        jit.append(latent_jitter(run.last_latent))
        if m["cls"].startswith(EVENT_CLASSES_PREFIX):
            ev = np.array(m["events"], np.float64) / codec.SR
            est = detect_onsets(g)
            for k, tl in (("40ms", 0.04), ("100ms", 0.1)):
                h, nr, ne = f1(ev, est, tl)
                acc[k] = [acc[k][0] + h, acc[k][1] + nr, acc[k][2] + ne]
                if k == "100ms":
                    pc = per_class.setdefault(m["cls"], [0, 0, 0])
                    per_class[m["cls"]] = [pc[0] + h, pc[1] + nr, pc[2] + ne]
    res = {"setting": st, "clips": len(meta),
           "onset_f1_40ms": _score(*acc["40ms"]), "onset_f1_100ms": _score(*acc["100ms"]),
           "precision_100ms": round(acc["100ms"][0] / max(acc["100ms"][2], 1), 3),
           "recall_100ms": round(acc["100ms"][0] / max(acc["100ms"][1], 1), 3),
           "per_class_100ms": {c: _score(*v) for c, v in sorted(per_class.items())},
           "latent_jitter": round(float(np.mean(jit)), 3),
           "seconds_per_clip": round(t_gen / len(meta), 3)}
    if clf is not None:
        r = clf.report([m["cls"] for m in meta], clf.predict(gens))
        res["classifier_accuracy"] = r["accuracy"]
        res["classifier_coarse"] = r["coarse"]["accuracy"]
        # Which classes fail and what they are taken for (results.jsonl only, not printed).
        res["classifier_per_class"] = r["per_class"]
        res["classifier_confusions"] = r["confusions"]
    return res


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--set", default="val", dest="clip_set")
    ap.add_argument("--out", type=Path, default=RUNS / "sweep")
    ap.add_argument("--setting", action="append", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--prompts", choices=("captions", "paraphrases"), default="captions",
                    help="generate with the dataset captions or with VALIDATION_PROMPTS")
    ap.add_argument("--literal", action="store_true",
                    help="prompts as typed, without the package's prompt anchors")
    a = ap.parse_args(argv)
    d = DATA / a.clip_set
    meta = json.loads((d / "meta.json").read_text())["clips"]
    frames = np.load(d / "frames.npy", mmap_mode="r")
    meta = meta[: a.clips or len(meta)]
    run = SweepRunner(a.package, "int8", threads=a.threads)
    run.use_anchors = not a.literal
    cdir = AudioClassifier.find(None)
    clf = AudioClassifier(cdir, threads=a.threads) if cdir else None
    a.out.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    if (d / "latents.npy").exists():   # the same measure on the clips' real audio
        real = np.load(d / "latents.npy", mmap_mode="r")[: len(meta)]
        print(json.dumps({"real_latent_jitter": round(float(np.mean(
            [latent_jitter(z) for z in real])), 3)}), flush=True)
    with open(a.out / "results.jsonl", "a") as log:
        for s in a.setting:
            res = run_setting(run, clf, meta, frames, cache, parse_setting(s), prompts=a.prompts)
            res["set"] = a.clip_set
            res["prompts"] = a.prompts
            res["anchors"] = run.anchors is not None and run.use_anchors
            res["prompts_read_as_anchor"] = sum(v is not None for v in run.prompts_used.values())
            res["package"] = str(a.package)
            log.write(json.dumps(res) + "\n")
            log.flush()
            print(json.dumps({k: v for k, v in res.items() if k not in _NOT_PRINTED}), flush=True)


if __name__ == "__main__":
    main()
