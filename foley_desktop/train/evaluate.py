"""Evaluation of a foley-tiny package on held-out rendered clips (no torch: ONNX graphs only).

Clips come from data/eval (held-out recordings and whole held-out classes, drawn by scenes.py,
events known to the sample). For each clip the package generates audio from its frames and a
caption; we measure
- onset F1 at +-40 ms and +-100 ms against the true event times (event classes), with the same
  onset detector applied to the real reference audio as a check of the detector itself;
- an audio-class check: nearest-centroid classification of the mean band spectrum, centroids
  from the real reference clips of each class; accuracy of generated clips;
and save spectrogram PNGs of generated next to reference audio.

    python -m foley_desktop.train.evaluate --package resources/models/foley-tiny --out runs/eval
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from foley_desktop.engine import sampler
from foley_desktop.engine.package import load_package
from foley_desktop.engine.text import TextTokenizer

from . import codec
from .paths import DATA, PACKAGE_DIR, RUNS

EVENT_CLASSES_PREFIX = ("footsteps_", "door_", "glass_break", "impact", "metal_hit", "explosion",
                        "water_drop", "dog_bark")


def detect_onsets(audio: np.ndarray, delta: float = 0.8, min_gap_s: float = 0.2) -> np.ndarray:
    """Onset times (s): peaks of log-band spectral flux at 100 Hz, adaptive threshold."""
    z = codec.encode(audio) * codec.LOG_STD          # ln power per band
    flux = np.maximum(np.diff(z, axis=1, prepend=z[:, :1]), 0.0).mean(axis=0)
    loud = np.log(np.mean(np.exp(z), axis=0) + 1e-12)
    n = len(flux)
    k = 25
    pad = np.pad(flux, k, mode="edge")
    med = np.array([np.median(pad[i:i + 2 * k + 1]) for i in range(n)])
    thr = med + delta * (flux.max() - med.min()) * 0.5
    peaks = []
    for i in range(1, n - 1):
        if flux[i] >= thr[i] and flux[i] >= flux[i - 1] and flux[i] >= flux[i + 1] \
                and loud[i] > loud.max() - 12:
            if peaks and (i - peaks[-1]) * codec.HOP / codec.SR < min_gap_s:
                if flux[i] > flux[peaks[-1]]:
                    peaks[-1] = i
                continue
            peaks.append(i)
    # A flux peak is at the frame where energy rose; the onset lies about half a hop before.
    return (np.array(peaks, dtype=np.float64) * codec.HOP) / codec.SR


def f1(ref: np.ndarray, est: np.ndarray, tol: float) -> tuple[int, int, int]:
    """(hits, n_ref, n_est) with one-to-one greedy matching within +-tol seconds."""
    used = np.zeros(len(est), bool)
    hits = 0
    for r in ref:
        d = np.abs(est - r)
        d[used] = np.inf
        j = int(np.argmin(d)) if len(d) else -1
        if j >= 0 and d[j] <= tol:
            used[j] = True
            hits += 1
    return hits, len(ref), len(est)


def band_profile(audio: np.ndarray) -> np.ndarray:
    """Mean log-band spectrum over the loud frames, level-normalised."""
    z = codec.encode(audio)
    e = z.mean(axis=0)
    act = z[:, e > np.percentile(e, 60)]
    p = act.mean(axis=1)
    return p - p.mean()


class Runner:
    """Runs a package's graphs on given frames (the engine's sampler, no video decoding)."""

    def __init__(self, package_dir: Path, precision: str = "int8", threads: int = 2):
        self.pkg = load_package(package_dir)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = {}
        for role, g in self.pkg.graphs.items():
            prec = precision if precision in g.variants else ("int8" if "int8" in g.variants else "fp32")
            self.sess[role] = ort.InferenceSession(str(self.pkg.graph_file(role, prec)), so,
                                                   providers=["CPUExecutionProvider"])
        self.tok = TextTokenizer(self.pkg)
        self.uncond = np.load(self.pkg.file("uncond_visual.npy"))

    def generate(self, frames: np.ndarray, prompt: str, seed: int = 0, steps: int | None = None,
                 guidance: float | None = None) -> np.ndarray:
        s = self.pkg.sampler
        cfg = sampler.SamplerConfig(steps=steps or s["steps"], guidance=guidance or s["guidance"])
        ids, mask = self.tok.encode([prompt, self.pkg.text["default_negative"]])
        tf = self.sess["text_encoder"].run(None, {"input_ids": ids, "attention_mask": mask})[0]
        x = frames.astype(np.float32) / 127.5 - 1.0
        vis = self.sess["visual_encoder"].run(None, {"frames": x.transpose(0, 3, 1, 2)[None]})[0]
        n_lat = len(frames) * 4
        unc = np.tile(self.uncond[None], (vis.shape[1], 1))[None]
        feeds = {"text_features": tf, "text_mask": mask.astype(np.int64),
                 "visual": np.concatenate([vis, unc]).astype(np.float32)}
        tm_type = self.sess["denoiser"].get_inputs()[3].type
        if "float" in tm_type:
            feeds["text_mask"] = mask.astype(np.float32)

        def den(xx, tt):
            return self.sess["denoiser"].run(None, {"x": xx, "t": tt, **feeds})[0]

        noise = sampler.initial_noise(seed, (n_lat, codec.N_BANDS)).T[None]
        lat = sampler.sample(den, noise, cfg, guided=True)
        return self.sess["decoder"].run(None, {"latent": lat})[0].reshape(-1)


def spectrogram_png(path: Path, pairs: list[tuple[str, np.ndarray, np.ndarray, list[float]]]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(len(pairs), 2, figsize=(12, 2.0 * len(pairs)), squeeze=False)
    for r, (title, ref, gen, ev) in enumerate(pairs):
        for c, (name, a) in enumerate((("real (reference)", ref), ("generated", gen))):
            z = codec.encode(a) * codec.LOG_STD / np.log(10) * 10    # dB per band
            ax[r, c].imshow(z, origin="lower", aspect="auto", vmin=z.max() - 70, vmax=z.max(),
                            extent=[0, len(a) / codec.SR, 0, codec.N_BANDS], cmap="magma")
            for e in ev:
                ax[r, c].axvline(e, color="cyan", lw=0.6, alpha=0.7)
            ax[r, c].set_title(f"{title}: {name}", fontsize=8)
            ax[r, c].tick_params(labelsize=6)
    plt.tight_layout()
    plt.savefig(path, dpi=80)
    plt.close(fig)


def evaluate(package_dir: Path, out: Path, n_clips: int | None = None, precision: str = "int8",
             steps: int | None = None, guidance: float | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    ev_dir = DATA / "eval"
    meta = json.loads((ev_dir / "meta.json").read_text())["clips"]
    frames = np.load(ev_dir / "frames.npy", mmap_mode="r")
    audio = np.load(ev_dir / "audio.npy", mmap_mode="r")
    n = min(n_clips or len(meta), len(meta))
    run = Runner(package_dir, precision)
    tol = {"40ms": 0.04, "100ms": 0.1}
    acc = {k: {"gen": [0, 0, 0], "ref": [0, 0, 0]} for k in tol}
    per_class: dict[str, list] = {}
    gens, t_gen = [], 0.0
    pairs = []
    for i in range(n):
        m = meta[i]
        t0 = time.perf_counter()
        g = run.generate(np.asarray(frames[i]), m["caption"], seed=i, steps=steps, guidance=guidance)
        t_gen += time.perf_counter() - t0
        ref = np.asarray(audio[i])
        gens.append(g)
        ev = np.array(m["events"], np.float64) / codec.SR
        if m["cls"].startswith(EVENT_CLASSES_PREFIX):
            for k, tl in tol.items():
                for name, a in (("gen", g), ("ref", ref)):
                    h, nr, ne = f1(ev, detect_onsets(a), tl)
                    acc[k][name] = [acc[k][name][0] + h, acc[k][name][1] + nr, acc[k][name][2] + ne]
                    if name == "gen" and k == "100ms":
                        per_class.setdefault(m["cls"], [0, 0, 0])
                        pc = per_class[m["cls"]]
                        per_class[m["cls"]] = [pc[0] + h, pc[1] + nr, pc[2] + ne]
        if len(pairs) < 8 and m["cls"] not in [p[0] for p in pairs]:
            pairs.append((m["cls"], ref, g, list(ev)))

    def score(h, nr, ne):
        p = h / ne if ne else 0.0
        r = h / nr if nr else 0.0
        return round(2 * p * r / (p + r), 3) if p + r else 0.0

    res = {"clips": n, "precision": precision,
           "steps": steps or run.pkg.sampler["steps"], "guidance": guidance or run.pkg.sampler["guidance"],
           "onset_f1": {k: {"generated": score(*v["gen"]), "reference_audio": score(*v["ref"])}
                        for k, v in acc.items()},
           "onset_f1_100ms_per_class": {c: score(*v) for c, v in sorted(per_class.items())},
           "seconds_per_8s_clip": round(t_gen / n, 3)}
    # Audio-class check: centroids from the real reference clips of each class.
    classes = sorted({meta[i]["cls"] for i in range(n)})
    prof_ref = {c: np.mean([band_profile(np.asarray(audio[i])) for i in range(n) if meta[i]["cls"] == c], axis=0)
                for c in classes}
    cen = np.stack([prof_ref[c] for c in classes])
    correct = 0
    for i in range(n):
        d = np.linalg.norm(cen - band_profile(gens[i])[None], axis=1)
        correct += classes[int(np.argmin(d))] == meta[i]["cls"]
    res["class_check"] = {"accuracy": round(correct / n, 3), "classes": len(classes),
                          "chance": round(1 / len(classes), 3)}
    spectrogram_png(out / "spectrograms.png", pairs)
    for j, (c, ref, g, _) in enumerate(pairs[:4]):
        from foley_desktop.media.wav import write_wav
        write_wav(out / f"{j}_{c}_gen.wav", g, codec.SR)
        write_wav(out / f"{j}_{c}_ref.wav", ref, codec.SR)
    (out / "metrics.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--out", type=Path, default=RUNS / "eval")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--guidance", type=float, default=None)
    a = ap.parse_args(argv)
    print(json.dumps(evaluate(a.package, a.out, a.clips, a.precision, a.steps, a.guidance), indent=1))


if __name__ == "__main__":
    main()
