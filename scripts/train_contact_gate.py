#!/usr/bin/env python3
"""Render labelled physics clips, extract auto-spot's stop candidates from them, train the
contact gate (foley_desktop/spotting/contact.py) and measure it on the real dev clips.

    # 1. renders + candidates (resumable; ~10-20 s a clip on one thread)
    python scripts/train_contact_gate.py render --seeds 0:400 --out /work/data/contact
    # 2. train on the renders (seed % 5 == 4 is a held-out render split), export ONNX
    python scripts/train_contact_gate.py train --data /work/data/contact --onnx OUT.onnx
    # 3. the gate on the real dev clips (never held-out ones)
    python scripts/train_contact_gate.py dev --onnx OUT.onnx

Even seeds are contact clips, odd seeds mid-air clips. A candidate is every frame the motion
cue could accept (a peak of the deceleration >= MIN_STOP with a still camera, the same test
as detect.select at a lower threshold, so that the gate sees the margin too), found by the
real `detect.candidates` on the rendered H.264 file. Label: 1 when a contact of at least
contact_render.STRONG_IMPACT m/s begins within [-70, +120] ms of the candidate frame (the
detector scores the first frame that shows a contact); 0 for every candidate of a mid-air
clip (nothing in it can touch); candidates of contact clips away from strong contacts are
left out (a thing rolling to rest, a soft touch: ambiguous).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from foley_desktop.spotting import contact, detect

MIN_STOP = 0.4
CAMERA_BUSY = 0.1
WINDOW = (-0.07, 0.12)


def label_candidates(c, lab: dict) -> tuple[list[int], list[int]]:
    idx = contact.stop_candidates(c, MIN_STOP, CAMERA_BUSY)
    keep, y = [], []
    strong = [x["t"] for x in lab["contacts"] if x["speed"] >= 0.8]
    for i in idx:
        t = float(c.times_s[i])
        if lab["kind"] == "midair":
            keep.append(i)
            y.append(0)
        elif any(WINDOW[0] <= t - tc <= WINDOW[1] for tc in strong):
            keep.append(i)
            y.append(1)
    return keep, y


def cmd_render(args) -> int:
    import cv2
    cv2.setNumThreads(1)
    from foley_desktop.spotting import contact_render as cr
    from foley_desktop.spotting.evaluate import media_root
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    a, b = (int(x) for x in args.seeds.split(":"))
    for seed in range(a, b):
        feat = out / f"feat_{seed:05d}.npz"
        if feat.exists():
            continue
        t0 = time.time()
        kind = "contact" if seed % 2 == 0 else "midair"
        mp4 = out / "clips" / f"{seed:05d}.mp4"
        lab = cr.render_clip(seed, kind, mp4, media_root())
        cr.write_label(lab, out / "clips" / f"{seed:05d}.json")
        t1 = time.time()
        c = detect.candidates(mp4)
        labd = json.loads((out / "clips" / f"{seed:05d}.json").read_text())
        idx, y = label_candidates(c, labd)
        x = np.stack([contact.features(c, i) for i in idx]) if idx else \
            np.zeros((0, len(contact.FEATURES)), np.float32)
        tmp = feat.with_suffix(".part.npz")
        np.savez(tmp, x=x, y=np.asarray(y, np.int8), t=c.times_s[idx] if idx else np.zeros(0),
                 stop=c.stop[idx] if idx else np.zeros(0), seed=seed)
        tmp.replace(feat)
        print(f"{seed} {kind:7s} {lab.scene:6s} fps {lab.fps} contacts "
              f"{sum(x['speed'] >= 0.8 for x in lab.contacts)} stops {len(lab.stops)} "
              f"cands {len(idx)} pos {sum(y)} render {t1 - t0:.1f}s cands {time.time() - t1:.1f}s",
              flush=True)
    return 0


def load_data(d: Path):
    xs, ys, seeds, stops = [], [], [], []
    for f in sorted(Path(d).glob("feat_*.npz")):
        z = np.load(f)
        if len(z["y"]):
            xs.append(z["x"])
            ys.append(z["y"])
            seeds.append(np.full(len(z["y"]), int(z["seed"])))
            stops.append(z["stop"])
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32),
            np.concatenate(seeds), np.concatenate(stops))


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float((np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :]))
                 / (len(pos) * len(neg)))


SUBSETS = {
    "all": contact.FEATURES,
    # the stop's own time course only (no frame differences, camera, direction or context)
    "profile": tuple(f for f in contact.FEATURES if f.startswith(("log_stop", "stop", "rest",
                                                                   "into"))),
}
USE = SUBSETS["all"]


def fit(x: np.ndarray, y: np.ndarray, hidden: int, seed: int = 0, epochs: int = 400,
        wd: float = 1e-3):
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    use = np.array([f in USE for f in contact.FEATURES])
    x = np.where(use, x, 0.0).astype(np.float32)
    mu, sd = np.where(use, x.mean(0), 0.0), np.where(use, x.std(0) + 1e-6, 1.0)
    xt = torch.tensor((x - mu) / sd)
    yt = torch.tensor(y)
    if hidden:
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(hidden, 1))
    else:
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 1))
    pw = torch.tensor(float((y == 0).sum() / max(1, (y == 1).sum())))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=wd)
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=pw)
    for _ in range(epochs):          # full batch: a few thousand rows
        opt.zero_grad()
        loss = lossf(net(xt).squeeze(1), yt)
        loss.backward()
        opt.step()
    layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
              for m in net if isinstance(m, torch.nn.Linear)]
    layers[0][0][~use, :] = 0.0          # features left out weigh nothing
    return {"mu": mu, "sd": sd, "layers": layers}


def fit_ensemble(x: np.ndarray, y: np.ndarray, hidden: int, n: int, seed0: int = 0) -> dict:
    """n nets from different seeds, their logits averaged: one wider net (the hidden units
    side by side, the output weights divided by n), so the ONNX graph stays one MLP."""
    if not hidden or n == 1:
        return fit(x, y, hidden, seed=seed0)
    nets = [fit(x, y, hidden, seed=seed0 + k) for k in range(n)]
    w1 = np.concatenate([m["layers"][0][0] for m in nets], axis=1)
    b1 = np.concatenate([m["layers"][0][1] for m in nets])
    w2 = np.concatenate([m["layers"][1][0] for m in nets], axis=0) / n
    b2 = np.mean([m["layers"][1][1] for m in nets], axis=0)
    return {"mu": nets[0]["mu"], "sd": nets[0]["sd"], "layers": [(w1, b1), (w2, b2)]}


def predict(model: dict, x: np.ndarray) -> np.ndarray:
    h = (x - model["mu"]) / model["sd"]
    for k, (w, b) in enumerate(model["layers"]):
        h = h @ w + b
        if k < len(model["layers"]) - 1:
            h = np.maximum(h, 0)
    return 1 / (1 + np.exp(-h.reshape(-1)))


def export_onnx(model: dict, path: Path, doc: str) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(model["mu"].astype(np.float32), "mu"),
             numpy_helper.from_array(model["sd"].astype(np.float32), "sd")]
    nodes = [helper.make_node("Sub", ["features", "mu"], ["c"]),
             helper.make_node("Div", ["c", "sd"], ["h0"])]
    h = "h0"
    for k, (w, b) in enumerate(model["layers"]):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{k}")]
        nodes += [helper.make_node("MatMul", [h, f"w{k}"], [f"m{k}"]),
                  helper.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"])]
        h = f"a{k}"
        if k < len(model["layers"]) - 1:
            nodes.append(helper.make_node("Relu", [h], [f"r{k}"]))
            h = f"r{k}"
    nodes.append(helper.make_node("Sigmoid", [h], ["p_contact"]))
    g = helper.make_graph(nodes, "contact_gate",
                          [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                         ["n", len(contact.FEATURES)])],
                          [helper.make_tensor_value_info("p_contact", TensorProto.FLOAT,
                                                         ["n", 1])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="foley-desktop scripts/train_contact_gate.py")
    m.ir_version = 8
    m.doc_string = doc
    onnx.checker.check_model(m)
    path = Path(path)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(m.SerializeToString())
    tmp.replace(path)


def cmd_train(args) -> int:
    global USE
    USE = SUBSETS[args.features]
    x, y, seeds, stops = load_data(Path(args.data))
    test = seeds % 5 == 4
    print(f"candidates {len(y)} (positive {int(y.sum())}) from {len(np.unique(seeds))} clips; "
          f"render-test split {int(test.sum())} (positive {int(y[test].sum())})")
    results = {}
    for name, hidden in (("logreg", 0), ("mlp16", 16)):
        m = fit_ensemble(x[~test], y[~test], hidden, args.ensemble, args.seed0)
        p = predict(m, x[test])
        acc = float(np.mean((p >= 0.5) == (y[test] == 1)))
        tpr = float(np.mean(p[y[test] == 1] >= 0.5))
        tnr = float(np.mean(p[y[test] == 0] < 0.5))
        results[name] = m
        print(f"{name}: render-test AUC {_auc(p, y[test]):.3f}, accuracy {acc:.3f}, "
              f"contacts kept {tpr:.3f}, mid-air stops dropped {tnr:.3f}")
        # the margin alone, for reference
    print(f"stop strength alone: render-test AUC {_auc(stops[test], y[test]):.3f}")
    final = fit_ensemble(x, y, 16 if args.model == "mlp16" else 0, args.ensemble, args.seed0)
    doc = (f"contact gate ({args.model}, {args.ensemble} seeds' logits averaged, features "
           f"{args.features}) trained by "
           f"scripts/train_contact_gate.py on "
           f"{len(y)} stop candidates ({int(y.sum())} contacts) from "
           f"{len(np.unique(seeds))} pybullet renders; features: {', '.join(contact.FEATURES)}")
    export_onnx(final, Path(args.onnx), doc)
    print("wrote", args.onnx)
    return 0


def cmd_dev(args) -> int:
    from foley_desktop.spotting import evaluate as ev
    from foley_desktop.spotting.onsets import onset_f1
    clips, _ = ev.load_clips("dev")
    cands = {c.id: ev.clip_candidates(c) for c in clips}
    base = detect.load_params()
    print("per hit candidate of the motion cue (stop >= threshold): clip, time, stop, p(contact)")
    for cl in clips:
        c = cands[cl.id]
        idx = contact.stop_candidates(c, base["stop"], base["camera_busy"])
        p = contact.contact_prob(c, idx, Path(args.onnx))
        walker = contact.walker_strikes(c, base)
        for i, pi in zip(idx, p, strict=True):
            near = any(abs(c.times_s[i] - t) <= 0.1 for t in cl.events)
            by_walker = walker[np.abs(c.times_s - c.times_s[i]) <= detect.WALKER_NEAR_S].any()
            print(f"  {cl.id:24s} {c.times_s[i]:7.3f} stop {c.stop[i]:.2f} p {pi:.3f}"
                  f"{'  (annotated event)' if near else ''}"
                  f"{'  (near a walker: not gated)' if by_walker else ''}")
    # Ranking on the dev clips: every stop candidate the renders' labelling would take
    # (>= MIN_STOP, still camera, away from walkers), annotated hit or landing within
    # [-70, +120] ms = contact, else (mid-air stops: stretch, close-up, wings, squirrel) not.
    ps, ys, st = [], [], []
    for cl in clips:
        c = cands[cl.id]
        walker = contact.walker_strikes(c, base)
        idx = [i for i in contact.stop_candidates(c, MIN_STOP, CAMERA_BUSY)
               if not walker[np.abs(c.times_s - c.times_s[i]) <= detect.WALKER_NEAR_S].any()]
        ps += contact.contact_prob(c, idx, Path(args.onnx)).tolist()
        st += c.stop[idx].tolist()
        ys += [int(any(WINDOW[0] <= c.times_s[i] - t <= WINDOW[1] for t in cl.events))
               for i in idx]
    ps_a, ys_a = np.array(ps), np.array(ys)
    print(f"(the stop's strength alone ranks them with AUC "
          f"{_auc(np.array(st), ys_a):.3f})")
    print(f"dev stop candidates >= {MIN_STOP} away from walkers: {len(ys)} "
          f"({int(ys_a.sum())} contacts); gate AUC {_auc(ps_a, ys_a):.3f}; "
          f"contacts p {np.round(ps_a[ys_a == 1], 3).tolist()}, "
          f"others p {np.round(ps_a[ys_a == 0], 3).tolist()}")
    for thr in (0.0, *args.thresholds):
        p = {**base, "contact_gate": thr, "contact_model": str(args.onnx)}
        rows = []
        for cl in clips:
            est = np.array([t for t, _, _ in detect.select(cands[cl.id], p)])
            if len(cl.events):
                rows.append(f"{cl.id} {onset_f1(cl.events, est, 0.1 + ev.SLACK):.2f}")
            else:
                rows.append(f"{cl.id} {10 * len(est) / cl.duration:.1f}/10s")
        print(f"gate {thr:.2f}: " + ", ".join(rows))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--seeds", default="0:200")
    r.add_argument("--out", default=str(Path.home() / ".cache/foley-desktop/contact-renders"))
    t = sub.add_parser("train")
    t.add_argument("--data", default=str(Path.home() / ".cache/foley-desktop/contact-renders"))
    t.add_argument("--onnx", required=True)
    t.add_argument("--model", choices=("logreg", "mlp16"), default="mlp16")
    t.add_argument("--ensemble", type=int, default=5, help="MLPs averaged (seeds 0..n-1)")
    t.add_argument("--features", choices=tuple(SUBSETS), default="all")
    t.add_argument("--seed0", type=int, default=0, help="first training seed")
    d = sub.add_parser("dev")
    d.add_argument("--onnx", required=True)
    d.add_argument("--thresholds", type=float, nargs="*", default=[0.3, 0.5, 0.7])
    args = ap.parse_args(argv)
    return {"render": cmd_render, "train": cmd_train, "dev": cmd_dev}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
