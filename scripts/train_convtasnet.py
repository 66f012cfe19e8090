#!/usr/bin/env python3
"""Fine-tune the shipped Conv-TasNet speech enhancer on the Debian speech (issue #29), on CPU.

The pretrained Conv-TasNet (scripts/fetch_convtasnet.py) was trained by others on data nobody
states; on the held-out Dutch game dub the default separator stays below 12 dB while on read
English it is above. This script continues its training on mixtures of the corpus's training
lines (corpus.py: Amazon Queen, the Czech dub of Fish Fillets, festvox-ru, Drascula, Beneath a
Steel Sky; never the Dutch dub, never an evaluation or tuning sound) with the project's
training backgrounds, starting from the pretrained weights (foley_desktop/train/convtasnet.py
reads them from the ONNX graph and writes them back into it).

Stages (deterministic for a seed and a thread count; each resumes):
  train   mixtures drawn on the fly at 16 kHz, as the evaluation makes them: one whole line
          (peak 0.5) with 0.75 s of silence either side over one background looped from a
          random offset, speech-to-background -10..+10 dB; a random crop of --crop-s seconds
          holding at least a fifth of the line's energy; --fullband of the draws from lines
          recorded at 16 kHz or more (the Czech dub, festvox-ru: 71 % of the lines are 11 kHz
          game recordings with nothing above 5.5 kHz). Loss: minus the SNR (dB) of the output
          times tasnet.GAIN against the clean line, so the output keeps the scale the
          separator assumes. Adam, --lr, gradient norm clipped at 5. Every --eval-every steps
          the weights are saved (WORK/steps/NNNNN.pt) and scored on the dev mixtures: dev-split
          lines of every training package with the four tuning backgrounds at 0 dB (median
          SI-SDRi of the network alone).
  export  the weights of --step into the original graph (float32), then the shipped INT8
          rewrite of scripts/fetch_convtasnet.py (simplify, static QDQ INT8 of TCN blocks 2-23,
          calibrated on training-split mixtures; ranges kept in calibration.json);
          --float-depthwise leaves the depthwise convolutions float as well (the shipped
          convtasnet-debian-v2).
  blend   WORK/steps/STEP.pt = (1 - --alpha) x A + --alpha x B (--blend A B: checkpoints of
          two runs from the pretrained weights).
  train --init CKPT --qat INT8.onnx
          quantisation-aware tuning: continue from a checkpoint with every forward pass
          rounded as the INT8 graph rounds (convtasnet.simulate_int8). Tried on the
          augmented run (docs/separation.md, ninth round); it did not help.

Usage: scripts/train_convtasnet.sh (the shipped model: run A, run B with --speed 0.1 --tilt
0.5, blended 0.3 / 0.7, exported with --float-depthwise).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SR16 = 16000
PAD = 12000  # 0.75 s at 16 kHz, the evaluation's silence around each line


def _script(name: str):
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------- data
class Lines:
    """Corpus lines of one split at 16 kHz (decoded once, kept), by pool."""

    def __init__(self, split: str):
        from foley_desktop.separation import corpus

        self.corpus = corpus
        utts = [u for u in corpus.list_utterances() if u.split == split]
        self.full = [u for u in utts if u.rate >= SR16]
        self.narrow = [u for u in utts if u.rate < SR16]
        self.cache: dict[str, np.ndarray] = {}

    def load(self, u) -> np.ndarray:
        if u.uid not in self.cache:
            self.cache[u.uid] = self.corpus.load(u, sr=SR16).astype(np.float32)
        return self.cache[u.uid]

    def draw(self, rng, fullband: float):
        pool = self.full if rng.random() < fullband else self.narrow
        while True:
            u = pool[rng.integers(len(pool))]
            x = self.load(u)
            if 1.5 * SR16 <= len(x) <= 8 * SR16:
                return x


def load_backgrounds(paths) -> list[np.ndarray]:
    import soxr

    from foley_desktop.media.timebase import SAMPLE_RATE

    ref = _script("train_separation_refine.py")
    return [soxr.resample(b, SAMPLE_RATE, SR16).astype(np.float32)
            for b in ref._load_bgs(paths)]


def line_mixture(x: np.ndarray, bgs, rng, sbr: float) -> tuple[np.ndarray, np.ndarray]:
    s = np.concatenate([np.zeros(PAD, np.float32), x / max(float(np.abs(x).max()), 1e-6) * 0.5,
                        np.zeros(PAD, np.float32)])
    b = bgs[rng.integers(len(bgs))]
    b = np.resize(np.roll(b, -int(rng.integers(len(b)))), len(s)).astype(np.float32)
    b *= np.sqrt(np.sum(s ** 2) / max(np.sum(b ** 2), 1e-12) / 10 ** (sbr / 10))
    m = s + b
    g = min(1.0, 0.9 / max(float(np.abs(m).max()), 1e-6))
    return (m * g).astype(np.float32), (s * g).astype(np.float32)


def crop(m, s, n: int, rng):
    if len(m) < n:
        pad = n - len(m)
        return np.pad(m, (0, pad)), np.pad(s, (0, pad))
    e = np.cumsum(np.concatenate([[0.0], s.astype(np.float64) ** 2]))
    for _ in range(20):
        a = int(rng.integers(len(m) - n + 1))
        if e[a + n] - e[a] >= 0.2 * e[-1]:
            break
    return m[a:a + n], s[a:a + n]


def augment(x: np.ndarray, rng, speed: float, tilt: float) -> np.ndarray:
    """New voices from the corpus's few dozen: the line played `speed`-fraction faster or
    slower (pitch and tempo together, as a resampler does) and its spectrum tilted by a
    one-pole high-pass at 1 kHz added back at -`tilt`..+`tilt` of its level."""
    import soxr

    if speed > 0:
        f = rng.uniform(1 - speed, 1 + speed)
        x = soxr.resample(x, SR16 * f, SR16).astype(np.float32)
    if tilt > 0:  # zero-phase, in the spectrum: |one-pole high-pass at 1 kHz| scaled, added
        fr = np.fft.rfftfreq(len(x), 1 / SR16)
        h = 1 + rng.uniform(-tilt, tilt) * fr / np.sqrt(fr ** 2 + 1000.0 ** 2)
        x = np.fft.irfft(np.fft.rfft(x) * h, len(x)).astype(np.float32)
    return x


def batch(lines, bgs, seed: int, step: int, size: int, n: int, fullband: float,
          speed: float = 0.0, tilt: float = 0.0):
    ms, ss = [], []
    for j in range(size):
        rng = np.random.default_rng([seed, step, j])
        x = lines.draw(rng, fullband)
        if speed > 0 or tilt > 0:
            x = augment(x, rng, speed, tilt)
        m, s = line_mixture(x, bgs, rng, rng.uniform(-10, 10))
        m, s = crop(m, s, n, rng)
        ms.append(m)
        ss.append(s)
    return np.stack(ms), np.stack(ss)


def dev_set(seed: int, n: int = 40):
    """n mixtures at 0 dB: dev-split lines (half full-band) x the tuning backgrounds."""
    from foley_desktop.train.separation_mask import tune_backgrounds

    lines = Lines("dev")
    bgs = load_backgrounds([str(p) for p in tune_backgrounds()])
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, 10 ** 6 + i])
        x = lines.draw(rng, 0.5)
        out.append(line_mixture(x, [bgs[i % len(bgs)]], rng, 0.0))
    return out


# ---------------------------------------------------------------------------------- training
def snr_loss(y, s):
    import torch

    from foley_desktop.separation.tasnet import GAIN

    e = y * GAIN - s
    return -(10 * torch.log10(torch.sum(s ** 2, -1) / (torch.sum(e ** 2, -1) + 1e-9) + 1e-9)).mean()


def dev_score(net, dev) -> float:
    import torch

    from foley_desktop.separation.evaluate import si_sdr

    out = []
    with torch.no_grad():
        for m, s in dev:
            y = net(torch.from_numpy(m)[None])[0].numpy()
            out.append(si_sdr(y, s) - si_sdr(m, s))
    return float(np.median(out))


def original_bytes() -> bytes:
    return _script("fetch_convtasnet.py").original_model()


def stage_train(work: Path, seed: int, steps: int, lr: float, size: int, crop_s: float,
                eval_every: int, fullband: float, threads: int, speed: float = 0.0,
                tilt: float = 0.0, init: Path | None = None, qat: Path | None = None) -> None:
    import torch

    from foley_desktop.train import convtasnet
    from foley_desktop.train.separation_mask import training_backgrounds

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    (work / "steps").mkdir(parents=True, exist_ok=True)
    net = convtasnet.from_onnx(original_bytes())
    if init is not None:  # continue from another run's checkpoint (a fresh optimiser)
        net.load_state_dict(torch.load(init, weights_only=True))
    if qat is not None:  # train through the INT8 graph's rounding (its own ranges, fixed)
        print(f"{convtasnet.simulate_int8(net, qat.read_bytes())} INT8 activation sites",
              flush=True)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    step = 0
    last = work / "last.pt"
    if last.exists():
        st = torch.load(last, weights_only=True)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        print(f"resumed at step {step}", flush=True)
    lines = Lines("train")
    bgs = load_backgrounds([str(p) for p in training_backgrounds()])
    dev = dev_set(seed)
    log = work / "log.jsonl"
    if step == 0:
        with log.open("a") as f:
            f.write(json.dumps({"step": 0, "dev_sisdri": dev_score(net.eval(), dev)}) + "\n")
    n = int(crop_s * SR16)
    t0, losses = time.time(), []
    while step < steps:
        net.train()
        m, s = batch(lines, bgs, seed, step, size, n, fullband, speed, tilt)
        loss = snr_loss(net(torch.from_numpy(m)), torch.from_numpy(s))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % eval_every == 0 or step == steps:
            torch.save(net.state_dict(), work / "steps" / f"{step:05d}.pt")
            rec = {"step": step, "loss": float(np.mean(losses)),
                   "dev_sisdri": dev_score(net.eval(), dev), "s": round(time.time() - t0)}
            losses = []
            with log.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(rec, flush=True)
            tmp = work / ".last.pt.tmp"
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step}, tmp)
            os.replace(tmp, last)


def stage_blend(work: Path, step: int, a: Path, b: Path, alpha: float) -> None:
    """WORK/steps/STEP.pt = (1 - alpha) x checkpoint a + alpha x checkpoint b, parameter by
    parameter. Both runs start from the same pretrained weights, so their average is itself a
    working network: it keeps most of b's gain on the training voices and most of a's
    behaviour on voices neither trained on (docs/separation.md, ninth round)."""
    import torch

    wa = torch.load(a, weights_only=True)
    wb = torch.load(b, weights_only=True)
    assert wa.keys() == wb.keys(), "checkpoints of different networks"
    (work / "steps").mkdir(parents=True, exist_ok=True)
    tmp = work / "steps" / f".{step:05d}.pt.tmp"
    torch.save({k: (1 - alpha) * wa[k] + alpha * wb[k] for k in wa}, tmp)
    os.replace(tmp, work / "steps" / f"{step:05d}.pt")


def stage_export(work: Path, step: int, out: Path, recalibrate: bool,
                 float_depthwise: bool = False) -> None:
    """The weights of `step` in the original graph, through fetch_convtasnet.py's INT8
    rewrite (its calibration ranges kept in OUT/calibration.json)."""
    import torch

    from foley_desktop.train import convtasnet
    from foley_desktop.train.paths import MEDIA_ROOT
    from foley_desktop.train.separation_mask import training_backgrounds

    fetch = _script("fetch_convtasnet.py")
    orig = original_bytes()
    net = convtasnet.from_onnx(orig)
    net.load_state_dict(torch.load(work / "steps" / f"{step:05d}.pt", weights_only=True))
    out.mkdir(parents=True, exist_ok=True)
    data = fetch.shipped_model(convtasnet.to_onnx(net, orig), out / "calibration.json",
                               recalibrate, float_depthwise)
    fetch.write_atomic(out / fetch.SHIPPED_NAME, data)
    (out / "train_backgrounds.txt").write_text("".join(
        f"{Path(p).relative_to(MEDIA_ROOT)}\n" for p in training_backgrounds()))
    print(f"{fetch.sha256(data)}  {out / fetch.SHIPPED_NAME}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["train", "blend", "export"])
    ap.add_argument("--work", type=Path, default=Path("runs/convtasnet-debian-v2"))
    ap.add_argument("--seed", type=int, default=29)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop-s", type=float, default=3.0)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--fullband", type=float, default=0.6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed", type=float, default=0.0,
                    help="train: speed perturbation of each line, +- this fraction (0: none)")
    ap.add_argument("--tilt", type=float, default=0.0,
                    help="train: spectral tilt of each line, +- this shelf gain (0: none)")
    ap.add_argument("--init", type=Path,
                    help="train: start from this checkpoint (WORK/steps/NNNNN.pt of another run)")
    ap.add_argument("--qat", type=Path,
                    help="train: quantisation-aware: simulate this INT8 graph (the export of "
                         "--init) in every forward pass, its activation ranges fixed")
    ap.add_argument("--step", type=int, help="export: the checkpoint; blend: the one written")
    ap.add_argument("--blend", type=Path, nargs=2, metavar=("A", "B"),
                    help="blend: two checkpoints of runs from the same start")
    ap.add_argument("--alpha", type=float, default=0.5, help="blend: B's share")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--recalibrate", action="store_true")
    ap.add_argument("--float-depthwise", action="store_true",
                    help="export: leave the depthwise convolutions in float too "
                         "(convtasnet-debian-v2)")
    a = ap.parse_args()
    if a.stage == "blend" and (a.blend is None or a.step is None):
        ap.error("blend needs --blend A B and --step")
    if a.stage == "export" and (a.step is None or a.out is None):
        ap.error("export needs --step and --out")
    for p in (a.blend or []) + [a.init, a.qat]:
        if p is not None and not p.is_file():
            ap.error(f"{p}: no such file")
    if a.stage == "train":
        stage_train(a.work, a.seed, a.steps, a.lr, a.batch, a.crop_s, a.eval_every,
                    a.fullband, a.threads, a.speed, a.tilt, a.init, a.qat)
    elif a.stage == "blend":
        stage_blend(a.work, a.step, a.blend[0], a.blend[1], a.alpha)
    else:
        stage_export(a.work, a.step, a.out, a.recalibrate, a.float_depthwise)
    return 0


if __name__ == "__main__":
    sys.exit(main())
