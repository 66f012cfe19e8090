"""An audio-class classifier trained only on real recordings: the judge of prompt adherence.

The evaluation asks whether generated audio sounds like the prompt's class. The judge is a
small CNN over 1 s patches of the same 64 log-mel bands at 100 Hz that foley-tiny's codec
uses (`codec.encode`), trained here on windows synthesised from the *real* recordings of the
bank (never on generated audio), with a recording-level split:

- test recordings = the generator's held-out recordings (one per class with three or more),
  and for the two classes the generator never saw (`HELDOUT_CLASSES`) every other recording,
  so that the classifier itself has training material for them;
- train recordings = all the others (classes with only one or two recordings, e.g.
  footsteps_dirt or explosion, are training-only labels: they compete as answers but have no
  held-out accuracy).

Training windows (1 s) place one to three events of a class at random times (or a random crop
of an ambience), with augmentation: small pitch changes, gain per event, short crops of a
recording, low-level white/pink/brown noise, and on the fly a spectral tilt. Each window is
normalised to its loudest frame and floored at FLOOR_DB, so absolute level and a faint noise
floor cannot decide the class.

A clip is classified by sliding 1 s windows (hop 0.25 s) over it, keeping the windows within
ACTIVE_DB of the loudest one, and averaging their log-probabilities. The penultimate layer
(64 values per window, before its ReLU) is the embedding for Fréchet distances.

    python -m foley_desktop.train.classifier          # train, export, report on held-out real audio

Writes runs/classifier/classifier.onnx (+ classifier.json: labels, settings, accuracies).
Inference (`AudioClassifier`) and the Fréchet distance need only numpy and onnxruntime.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import codec
from .codec import SR
from .paths import REPO, RUNS

WIN = 100                      # frames per patch: 1 s at 100 Hz
CLIP_HOP = 25                  # frames between patches of a clip (0.25 s)
FLOOR_DB = -60.0               # features floored this far below the patch's loudest frame
ACTIVE_DB = 30.0               # patches quieter than the clip's loudest by more are ignored
EMB_DIM = 64
_DB_TO_Z = np.log(10.0) / 10.0 / codec.LOG_STD      # 1 dB of power in latent (z) units

# Classes merged for the coarse label set: on held-out real audio the classifier labels the
# held-out door-opening recording (minetest's wooden door) as a door closing, 4 clips of 4 —
# open and close recordings share the creak and the latch clack, and a 1 s patch rarely
# tells which came first.
COARSE = {"door_open": "door", "door_close": "door"}

DEFAULT_DIR = RUNS / "classifier"
SHIPPED_DIR = REPO / "resources/models/foley-tiny-eval"


# ----- features (numpy, shared by training and evaluation) -----------------------------------
def frame_level_db(z: np.ndarray) -> np.ndarray:
    """Loudness per frame (dB of mean band power) of a latent [64, F]."""
    p = np.exp(z.astype(np.float64) * codec.LOG_STD + codec.LOG_MEAN)
    return 10.0 * np.log10(p.mean(axis=0) + 1e-30)


def patch_features(z: np.ndarray) -> np.ndarray:
    """Latent patch [64, WIN] -> relative to its loudest frame, floored at FLOOR_DB (z units)."""
    ref = frame_level_db(z).max() * _DB_TO_Z - codec.LOG_MEAN / codec.LOG_STD
    return np.maximum(z - ref, FLOOR_DB * _DB_TO_Z).astype(np.float32)


def clip_patches(audio: np.ndarray) -> np.ndarray:
    """Audio of any length -> the active patches [N, 64, WIN] (at least one)."""
    z = codec.encode(audio)
    if z.shape[1] < WIN:
        z = np.pad(z, ((0, 0), (0, WIN - z.shape[1])), constant_values=z.min())
    starts = list(range(0, z.shape[1] - WIN + 1, CLIP_HOP))
    if starts[-1] != z.shape[1] - WIN:
        starts.append(z.shape[1] - WIN)
    lv = frame_level_db(z)
    loud = np.array([lv[s:s + WIN].max() for s in starts])
    keep = [s for s, level in zip(starts, loud) if level >= loud.max() - ACTIVE_DB]
    return np.stack([patch_features(z[:, s:s + WIN]) for s in keep])


# ----- which recordings train and test the classifier ------------------------------------------
def split_bank(bank) -> list[str]:
    """'train' / 'test' per recording of the bank (recording-level split, see module doc)."""
    from .sounds import HELDOUT_CLASSES
    out = []
    order: dict[str, list[str]] = {}
    for r in bank:
        order.setdefault(r.cls, []).append(r.path)
    for r in bank:
        if r.cls in HELDOUT_CLASSES:
            out.append("test" if sorted(order[r.cls]).index(r.path) % 2 == 1 else "train")
        else:
            out.append("test" if r.split == "eval" else "train")
    return out


def labels() -> list[str]:
    from .sounds import classes
    return sorted(c.name for c in classes())


# ----- training windows from real recordings ----------------------------------------------------
def _noise(n: int, rng) -> np.ndarray:
    """White, pink or brown noise of unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= f ** (int(rng.integers(0, 3)) * 0.5)      # slope 0, -3 or -6 dB/octave
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def _variant(a: np.ndarray, rng, crop_p: float = 0.3) -> np.ndarray:
    import soxr
    f = rng.uniform(0.94, 1.06)
    a = soxr.resample(a, SR * f, SR).astype(np.float32)
    if rng.random() < crop_p and len(a) > SR // 10:       # a short crop of the recording
        n = max(SR // 20, int(len(a) * rng.uniform(0.3, 1.0)))
        s = int(rng.integers(0, len(a) - n + 1))
        a = a[s:s + n].copy()
        fade = min(240, n // 4)
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        a[:fade] *= ramp
        a[-fade:] *= ramp[::-1]
    return a * np.float32(10 ** (rng.uniform(-6, 3) / 20))


def _place(out: np.ndarray, a: np.ndarray, at: int) -> None:
    s0 = max(at, 0)
    a = a[s0 - at:]
    e = min(len(out), s0 + len(a))
    if e > s0:
        out[s0:e] += a[:e - s0]


def synth_window(recs, kind: str, rng) -> np.ndarray:
    """One second of audio of a class from its recordings (see module doc)."""
    n = WIN * codec.HOP
    out = np.zeros(n, np.float32)
    if kind == "event":
        k = int(rng.choice([1, 2, 3], p=[0.55, 0.35, 0.10]))
        for _ in range(k):
            r = recs[int(rng.integers(len(recs)))]
            a = _variant(r.audio, rng)
            if rng.random() < 0.6:            # onset inside the window
                at = int(rng.uniform(-0.1, 0.9) * SR) - min(r.onset, len(a) - 1)
            else:                             # any part of the recording (tails of long sounds)
                at = int(rng.integers(-(len(a) - SR // 5), n - SR // 10)) if len(a) > SR // 5 \
                    else int(rng.integers(0, n - len(a)))
            _place(out, a, at)
    else:
        r = recs[int(rng.integers(len(recs)))]
        a = _variant(r.audio, rng, crop_p=0.0)
        while len(a) < n + SR:
            a = np.concatenate([a, a])
        s = int(rng.integers(0, len(a) - n))
        out += a[s:s + n]
    rms = np.sqrt(np.mean(out ** 2)) + 1e-9
    if rng.random() < 0.8:
        out += _noise(n, rng) * np.float32(rms * 10 ** (rng.uniform(-50, -20) / 20))
    return out


def make_windows(bank, split: list[str], which: str, per_class: int, seed: int):
    """-> (features [N, 64, WIN] float32, label indices [N]) from `which` recordings."""
    from .sounds import classes
    kinds = {c.name: c.kind for c in classes()}
    names = labels()
    by: dict[str, list] = {}
    for r, s in zip(bank, split):
        if s == which:
            by.setdefault(r.cls, []).append(r)
    rng = np.random.Generator(np.random.PCG64(seed))
    xs, ys = [], []
    for ci, name in enumerate(names):
        if name not in by:
            continue
        for _ in range(per_class):
            a = synth_window(by[name], kinds[name], rng)
            xs.append(patch_features(codec.encode(a)[:, :WIN]))
            ys.append(ci)
    return np.stack(xs), np.array(ys, np.int64)


def render_real_clips(bank, split: list[str], which: str, per_class: int, seed: int,
                      seconds: float = 8.0, only: set[str] | None = None):
    """8 s clips drawn like the evaluation set (scenes.py, no augmentation) from `which`
    recordings only -> list of (class, audio)."""
    from .scenes import Scene
    from .sounds import Recording
    relabelled = [Recording(r.cls, r.path, r.audio, r.onset, s) for r, s in zip(bank, split)]
    scene = Scene(relabelled, which, seconds)
    names = [n for n in scene.names if only is None or n in only]
    rng = np.random.Generator(np.random.PCG64(seed))
    out = []
    for i in range(per_class * len(names)):
        c = scene.make(rng, names[i % len(names)], aug=False, mix_p=0.0)
        out.append((c.cls, c.audio))
    return out


# ----- the network (torch, training only) -----------------------------------------------------
def _net(n_classes: int):
    import torch
    from torch import nn

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU())

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(block(1, 12), nn.MaxPool2d(2), block(12, 24), nn.MaxPool2d(2),
                                      block(24, 32), nn.MaxPool2d(2), block(32, 48))
            self.emb = nn.Linear(48 * 8 * 2, EMB_DIM)     # per band group: time mean and max
            self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(EMB_DIM, n_classes))

        def forward(self, x):                            # x [B, 64, WIN]
            h = self.conv(x[:, None])                    # [B, 48, 8, WIN/8]
            h = torch.cat([h.mean(dim=3), h.amax(dim=3)], dim=2).flatten(1)
            e = self.emb(h)
            return self.head(e), e

    return Net()


def fit(net, x: np.ndarray, y: np.ndarray, epochs: int, seed: int, bs: int = 64, lr: float = 2e-3,
        log=print) -> float:
    """Trains `net` in place on patches x [N, 64, WIN] / labels y; returns the last epoch's loss.
    Batches and augmentation come from PCG64([seed, 1]) (with torch's seed: repeatable)."""
    import torch
    from torch.nn import functional as F
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    bs = min(bs, len(x))
    per_epoch = len(x) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch,
                                                pct_start=0.15)
    g = np.random.Generator(np.random.PCG64([seed, 1]))
    xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64))
    floor = FLOOR_DB * _DB_TO_Z
    band = torch.linspace(-0.5, 0.5, x.shape[1])[None, :, None]
    mean = 0.0
    for ep in range(epochs):
        net.train()
        perm = g.permutation(len(x))
        tot = 0.0
        for b in range(per_epoch):
            idx = torch.from_numpy(perm[b * bs:(b + 1) * bs])
            xb = xt[idx]
            # On-the-fly spectral tilt (+-6 dB across the bands) and time roll.
            tilt = torch.from_numpy(g.uniform(-6, 6, size=(len(idx), 1, 1)).astype(np.float32))
            xb = torch.clamp(xb + tilt * _DB_TO_Z * band, min=floor)
            xb = torch.roll(xb, int(g.integers(-10, 11)), dims=2)
            logits, _ = net(xb)
            loss = F.cross_entropy(logits, yt[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        mean = tot / per_epoch
        log(f"epoch {ep + 1}/{epochs} loss {mean:.3f}")
    net.eval()
    return mean


def export(net, out_dir: Path, info: dict) -> Path:
    """classifier.onnx (patches [N, 64, WIN] -> logits, embedding) + classifier.json (`info`)."""
    import torch
    net.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "classifier.onnx"
    tmp = out_dir / "classifier.onnx.tmp"
    torch.onnx.export(net, (torch.zeros(1, codec.N_BANDS, WIN),), str(tmp), input_names=["patches"],
                      output_names=["logits", "embedding"],
                      dynamic_axes={"patches": {0: "N"}, "logits": {0: "N"}, "embedding": {0: "N"}},
                      opset_version=17, dynamo=False)
    tmp.replace(onnx_path)
    (out_dir / "classifier.json").write_text(json.dumps(info, indent=1))
    return onnx_path


def train(out_dir: Path = DEFAULT_DIR, seed: int = 7, per_class: int = 128, epochs: int = 14,
          threads: int = 2, log=print) -> dict:
    import torch

    from .sounds import cached_bank

    t0 = time.time()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    bank = cached_bank()
    split = split_bank(bank)
    names = labels()
    xtr, ytr = make_windows(bank, split, "train", per_class, seed)
    xte, yte = make_windows(bank, split, "test", 40, seed + 1)
    log(f"windows: train {len(xtr)}, test {len(xte)} ({time.time() - t0:.0f}s)")
    net = _net(len(names))
    fit(net, xtr, ytr, epochs, seed, log=lambda m: log(f"{m} ({time.time() - t0:.0f}s)"))
    info = {"labels": names, "win_frames": WIN, "clip_hop_frames": CLIP_HOP, "floor_db": FLOOR_DB,
            "active_db": ACTIVE_DB, "seed": seed, "train_windows_per_class": per_class,
            "epochs": epochs, "torch": torch.__version__,
            "test_recordings": sorted(r.path for r, s in zip(bank, split) if s == "test"),
            "train_seconds": round(time.time() - t0, 1)}
    onnx_path = export(net, out_dir, info)
    # Held-out real audio, judged by the exported graph (what the evaluation will use).
    clf = AudioClassifier(out_dir)
    lg, _ = clf.run(xte)
    win_acc = float(np.mean(lg.argmax(1) == yte))
    clips = render_real_clips(bank, split, "test", 4, seed + 2)
    rep = clf.report([c for c, _ in clips], clf.predict([a for _, a in clips]))
    info["heldout_real"] = {"patch_accuracy": round(win_acc, 3), "patches": len(yte),
                            "clips_8s": rep}
    info["onnx_bytes"] = onnx_path.stat().st_size
    (out_dir / "classifier.json").write_text(json.dumps(info, indent=1))
    return info


# ----- inference (onnxruntime) --------------------------------------------------------------
class AudioClassifier:
    """The exported classifier: clip -> class scores and per-patch embeddings."""

    def __init__(self, model_dir: Path, threads: int = 2):
        import onnxruntime as ort
        self.dir = Path(model_dir)
        self.info = json.loads((self.dir / "classifier.json").read_text())
        self.labels: list[str] = self.info["labels"]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(str(self.dir / "classifier.onnx"), so,
                                         providers=["CPUExecutionProvider"])

    @staticmethod
    def find(explicit: Path | None = None) -> Path | None:
        for d in ([explicit] if explicit else [DEFAULT_DIR, SHIPPED_DIR]):
            if d and (d / "classifier.onnx").exists() and (d / "classifier.json").exists():
                return d
        return None

    def run(self, patches: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        lg, em = [], []
        for i in range(0, len(patches), batch):
            a, b = self.sess.run(None, {"patches": patches[i:i + batch].astype(np.float32)})
            lg.append(a)
            em.append(b)
        return np.concatenate(lg), np.concatenate(em)

    def clip(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (mean log-probability per label [C], embeddings of the active patches [N, D])."""
        lg, em = self.run(clip_patches(audio))
        lp = lg - lg.max(axis=1, keepdims=True)
        lp = lp - np.log(np.exp(lp).sum(axis=1, keepdims=True))
        return lp.mean(axis=0), em

    def predict(self, audios: list[np.ndarray]) -> list[str]:
        return [self.labels[int(np.argmax(self.clip(a)[0]))] for a in audios]

    def report(self, classes: list[str], preds: list[str]) -> dict:
        """Accuracy of `predict`'s labels `preds` for clips whose true classes are `classes`:
        overall, per class, confusions, and the same on the coarse label set (COARSE merges
        applied to truth and answer)."""
        out = _score(classes, preds)
        out["coarse"] = {k: v for k, v in _score([COARSE.get(c, c) for c in classes],
                                                 [COARSE.get(p, p) for p in preds]).items()
                         if k in ("accuracy", "classes", "chance", "per_class")}
        rel = self.reliable()
        if rel:
            keep = [(COARSE.get(c, c), COARSE.get(p, p)) for c, p in zip(classes, preds)
                    if COARSE.get(c, c) in rel]
            if keep:
                r = _score([t for t, _ in keep], [p for _, p in keep])
                out["coarse_reliable"] = {k: r[k] for k in ("accuracy", "clips", "classes")}
        return out

    def reliable(self, min_acc: float = 0.75) -> list[str]:
        """Coarse classes the classifier recognises on held-out real clips (at training time)
        with at least `min_acc`: only there does its verdict on generated audio mean much."""
        clips8 = self.info.get("heldout_real", {}).get("clips_8s", {})
        pc = clips8.get("coarse", {}).get("per_class", {})
        return sorted(k for k, v in pc.items() if v >= min_acc)


def _score(truth: list[str], pred: list[str]) -> dict:
    hits: dict[str, list[int]] = {}
    conf: dict[str, dict[str, int]] = {}
    for t, p in zip(truth, pred):
        h = hits.setdefault(t, [0, 0])
        h[0] += p == t
        h[1] += 1
        if p != t:
            conf.setdefault(t, {}).setdefault(p, 0)
            conf[t][p] += 1
    n = sum(v[1] for v in hits.values())
    return {"accuracy": round(sum(v[0] for v in hits.values()) / max(n, 1), 3), "clips": n,
            "classes": len(hits), "chance": round(1 / max(len(hits), 1), 3),
            "per_class": {k: round(v[0] / v[1], 3) for k, v in sorted(hits.items())},
            "confusions": {k: v for k, v in sorted(conf.items())}}


# ----- Fréchet distance ---------------------------------------------------------------------
def fit_gaussian(x: np.ndarray, shrink: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of samples [N, D]; the covariance is shrunk towards its diagonal by
    `shrink` (default D / (N + D): few samples per dimension -> mostly diagonal)."""
    x = np.asarray(x, np.float64)
    n, d = x.shape
    mu = x.mean(axis=0)
    s = np.cov(x, rowvar=False).reshape(d, d) if n > 1 else np.zeros((d, d))
    lam = d / (n + d) if shrink is None else shrink
    return mu, (1 - lam) * s + lam * np.diag(np.diag(s))


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) (symmetric in its arguments)."""
    r1 = _sqrtm_psd(s1)
    m = r1 @ s2 @ r1
    w = np.linalg.eigvalsh((m + m.T) / 2)
    tr_cross = float(np.sqrt(np.clip(w, 0, None)).sum())
    d = float(np.sum((np.asarray(mu1) - np.asarray(mu2)) ** 2))
    return max(d + float(np.trace(s1) + np.trace(s2)) - 2 * tr_cross, 0.0)


def frechet_between(a: np.ndarray, b: np.ndarray, shrink: float | None = None) -> float:
    """Fréchet distance of Gaussians fitted to two sets of embeddings [N, D] and [M, D]."""
    return frechet_distance(*fit_gaussian(a, shrink), *fit_gaussian(b, shrink))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-class", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    info = train(a.out, a.seed, a.per_class, a.epochs, a.threads)
    print(json.dumps({k: info[k] for k in ("heldout_real", "onnx_bytes", "train_seconds")},
                     indent=1))


if __name__ == "__main__":
    main()
