#!/usr/bin/env python3
"""Train the `dfn-refine` separation network (foley_desktop/separation/refine.py) on CPU.

Stages (each resumable, deterministic for a seed; torch and numpy on one thread):
  data   mixtures of Debian speech (corpus.py, train/dev splits) with recorded effects and
         music (the training backgrounds of foley_desktop.train.separation_mask: every
         evaluation and tuning background excluded), run once through the default pipeline
         (DeepFilterNet3 + VAD gate) in dump mode; the clean speech alone is run through the
         default separator too (the "cleaned" target: what DeepFilterNet3 makes of the line
         with no background, so hiss and codec noise of the recording are not a target);
         stored as .npz under WORK/data-SPLIT/. `--speech-eq strong` (v2): low/high shelves
         +-12 dB and peaking bands on the speech, to break the game speech's spectral prior.
  train  the network on those frames; loss = minus the SNR (dB) of the gated, refined
         dialogue against the target (`--target raw`: the clean line, v1; `dfn`: the cleaned
         line, v2), per clip, over bins below the clip's speech bandwidth (and 8 kHz), plus
         0.05 x the dialogue left in exact speech pauses (dB); `--features norm` (v2): per-bin
         running-mean normalised features (refine.NormFeatures); checkpoints every
         --eval-every steps, resumes from the last; keeps the weights with the best dev loss,
         or (`--select tuning`, v2) the best tuning-set score: the ONNX export of the weights
         run through the real separator on the tuning set (pocketsphinx cards/ x the tuning
         backgrounds, -5/0/+5 dB), best 0 dB median dialogue SI-SDRi among checkpoints no
         more than 0.3 dB below the default at -5 and +5 dB.
  export ONNX (opset 17) of the best weights, and config.json (the features it reads).
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

from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.separation import corpus, refine
from foley_desktop.separation.default import _WINDOW, HOP, WIN

CLIP = 4 * SR
R = refine.R
L = refine.CONTEXT
PAUSE_WEIGHT = 0.05
# v1 used 0.35 with reverb gains 0.1-0.6 and drew utterances uniformly (70 % queen): it learnt
# to give back what DeepFilterNet3 removes from reverberant, lo-fi game speech, and lost
# 2.7 dB on clean read speech (docs/separation.md).
REVERB_SHARE = 0.1


# ------------------------------------------------------------------------------------- data
def _resample(x, a, b):
    import soxr

    return soxr.resample(x, a, b).astype(np.float32)


def _eq(x: np.ndarray, rng: np.random.Generator, db: float) -> np.ndarray:
    X = np.fft.rfft(x)
    f = np.linspace(0, 1, len(X))
    shape = rng.uniform(-db, db) * f + rng.uniform(-db / 2, db / 2) * np.sin(
        np.pi * f * rng.uniform(1, 6) + rng.uniform(0, np.pi))
    return np.fft.irfft(X * 10 ** (shape / 20), n=len(x)).astype(np.float32)


def _reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rt60 = rng.uniform(0.15, 0.8)
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[:int(0.002 * SR)] *= np.linspace(0, 1, int(0.002 * SR))
    rir *= rng.uniform(0.05, 0.3) / np.sqrt(np.sum(rir ** 2))
    rir[0] = 1.0
    y = np.fft.irfft(np.fft.rfft(x, len(x) + n) * np.fft.rfft(rir, len(x) + n))[:len(x)]
    return y.astype(np.float32)


def _speech_track(utts, rng, cache) -> tuple[np.ndarray, float]:
    """4 s with one to three utterances (crops), pauses between; its bandwidth in Hz."""
    out = np.zeros(CLIP, np.float32)
    pos = int(rng.uniform(0, 0.8) * SR)
    band = SR / 2
    for _ in range(3):
        if pos > CLIP - SR // 2:
            break
        # Each package equally often (queen's thousands of lines would otherwise dominate).
        pool = utts[sorted(utts)[rng.integers(len(utts))]]
        u = pool[rng.integers(len(pool))]
        if u.uid not in cache:
            if len(cache) > 400:
                cache.pop(next(iter(cache)))
            cache[u.uid] = corpus.load(u)
        x = cache[u.uid]
        room = CLIP - pos
        if len(x) > room:
            s = rng.integers(len(x) - room + 1)
            x = x[s:s + room]
        x = x / max(float(np.sqrt(np.mean(x ** 2))), 1e-6) * 10 ** (rng.uniform(-6, 0) / 20)
        out[pos:pos + len(x)] += x
        band = min(band, u.band_hz)
        pos += len(x) + int(rng.uniform(0.1, 1.0) * SR)
        if rng.random() < 0.4:
            break
    if rng.random() < REVERB_SHARE:
        out = _reverb(out, rng)
    if rng.random() < 0.15:  # band-limited speech (telephone-like or 16 kHz recordings)
        sr2 = int(rng.choice([8000, 16000]))
        out = _resample(_resample(out, SR, sr2), sr2, SR)[:CLIP]
        band = min(band, sr2 / 2)
    return (_strong_eq(out, rng) if STRONG_EQ else _eq(out, rng, 6.0)), band


STRONG_EQ = False  # set by --speech-eq strong
# set by --background-eq strong: the same shelves on the backgrounds, so that no band is
# background-heavy on average (v2's runs learnt a fixed cut below 500 Hz from the training
# backgrounds' low end)
STRONG_BG_EQ = False
MIN_LEVEL_DB = -24.0  # set by --min-level-db


def _strong_eq(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A low shelf (corner 100-600 Hz) and a high shelf (2-7 kHz), each +-12 dB, 0-3 peaking
    bands (200 Hz-7 kHz, +-9 dB, 0.3-1.5 octaves wide) and the mild tilt of _eq on top."""
    X = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(len(x), 1 / SR), 1.0)
    lf = np.log2(f)
    lo = np.log2(rng.uniform(100, 600))
    hi = np.log2(rng.uniform(2000, 7000))
    g = (rng.uniform(-12, 12) / (1 + np.exp((lf - lo) * 4))
         + rng.uniform(-12, 12) / (1 + np.exp(-(lf - hi) * 4)))
    for _ in range(int(rng.integers(0, 4))):
        fc = np.log2(rng.uniform(200, 7000))
        g = g + rng.uniform(-9, 9) * np.exp(-0.5 * ((lf - fc) / rng.uniform(0.3, 1.5)) ** 2)
    y = np.fft.irfft(X * 10 ** (g / 20), n=len(x)).astype(np.float32)
    return _eq(y, rng, 3.0)


def _background(bgs, rng) -> np.ndarray:
    out = np.zeros(CLIP, np.float32)
    for i in range(1 if rng.random() < 0.6 else 2):
        b = bgs[rng.integers(len(bgs))]
        if len(b) < CLIP:  # loop short sounds with gaps, like repeated events
            gap = np.zeros(int(rng.uniform(0, 1.0) * SR), np.float32)
            b = np.concatenate([b, gap])
        b = np.resize(np.roll(b, -int(rng.integers(len(b)))), CLIP)
        out += b * 10 ** (rng.uniform(-6, 0) / 20) if i else b
    if rng.random() < 0.25:
        w = rng.standard_normal(CLIP)
        W = np.fft.rfft(w) / (np.arange(CLIP // 2 + 1) + 1.0) ** rng.uniform(0, 1)
        n = np.fft.irfft(W, n=CLIP).astype(np.float32)
        out += n / np.std(n) * np.std(out) * 10 ** (rng.uniform(-20, 0) / 20)
    return _strong_eq(out, rng) if STRONG_BG_EQ else _eq(out, rng, 6.0)


def stft_low(x: np.ndarray, frames: int) -> np.ndarray:
    """The separator's framing: frame k covers [(k-1) HOP, (k+1) HOP); bins < R."""
    xp = np.zeros((frames + 1) * HOP, np.float32)
    n = min(len(x), frames * HOP)
    xp[HOP:HOP + n] = x[:n]
    idx = np.arange(frames)[:, None] * HOP + np.arange(WIN)[None]
    return np.fft.rfft(xp[idx] * _WINDOW, axis=-1)[:, :R].astype(np.complex64)


def _load_bgs(paths) -> list[np.ndarray]:
    from foley_desktop.train.separation_mask import _read

    out = []
    for p in paths:
        try:
            x = _read(Path(p))
        except Exception:  # noqa: BLE001 - a file the decoder refuses is skipped
            continue
        if len(x) > SR // 10 and np.abs(x).max() > 1e-3:
            out.append(x[:60 * SR])
    return out


def split_sources(work: Path, split: str) -> tuple[dict[str, list], list[np.ndarray], Path]:
    """The `split`'s utterances by package, its backgrounds (train: the training backgrounds;
    dev: the tuning backgrounds, never trained on) and its data folder, which gets the list of
    background files (backgrounds.txt). The fusion trainer uses this too."""
    from foley_desktop.train.paths import MEDIA_ROOT
    from foley_desktop.train.separation_mask import training_backgrounds, tune_backgrounds

    utts: dict[str, list] = {}
    for u in corpus.list_utterances():
        if u.split == split:
            utts.setdefault(u.package, []).append(u)
    if split == "train":
        bg_paths = [str(p) for p in training_backgrounds()]
    else:
        bg_paths = [str(p) for p in tune_backgrounds()]
    out = work / f"data-{split}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "backgrounds.txt").write_text("\n".join(
        str(Path(p).relative_to(MEDIA_ROOT)) for p in bg_paths) + "\n")
    return utts, _load_bgs(bg_paths), out


def pending_items(out: Path, split: str, n: int, seed: int, shard: int, shards: int):
    """This shard's mixtures not made yet: (index, file, generator). Each mixture's draws come
    from its own generator (seed, index, split), so shards, reruns and resumed runs make the
    same files."""
    for i in range(shard, n, shards):
        f = out / f"{i:05d}.npz"
        if not f.exists():
            yield i, f, np.random.default_rng([seed, i, 0 if split == "train" else 1])


def stage_data(work: Path, split: str, n: int, seed: int, shard: int, shards: int) -> None:
    from foley_desktop.separation.base import make_separator, separate_array
    from foley_desktop.separation.evaluate import si_sdr

    utts, bgs, out = split_sources(work, split)
    cache: dict = {}
    t0 = time.time()
    for i, f, rng in pending_items(out, split, n, seed, shard, shards):
        s, band = _speech_track(utts, rng, cache)
        b = _background(bgs, rng)
        sbr = rng.uniform(-10, 10)
        b *= np.sqrt(np.sum(s ** 2) / max(np.sum(b ** 2), 1e-12) / 10 ** (sbr / 10))
        x = s + b
        # Peak level. DeepFilterNet3 fails on quiet input (tuning set, 0 dB: 12.9 dB SI-SDRi
        # at -15 dBFS peak, 5.5 at -25, -11 at -35): v1 drew -24..-1 dBFS and so trained on
        # many mixtures where it had broken down; v2 draws MIN_LEVEL_DB = -15..-1.
        g = 10 ** (rng.uniform(MIN_LEVEL_DB, -1) / 20) / max(float(np.abs(x).max()), 1e-6)
        s, x = s * g, x * g
        d = refine.dump_frames(x)
        K = len(d["gate"])
        # The cleaned target: the default separator's dialogue for the line alone.
        c = separate_array(make_separator("default", 1), s[None], block=SR)[0][0]
        tmp = out / f".{i:05d}.tmp.npz"
        np.savez(tmp, A=d["A"], M=d["M"], gate=d["gate"], S=stft_low(s, K),
                 C=stft_low(c, K), clean_sisdr=np.float32(si_sdr(c, s)),
                 band=np.int32(min(R, int(band / 50))), sbr=np.float32(sbr))
        os.replace(tmp, f)
        if i % 50 == shard:
            print(f"{split} {i}/{n} {time.time() - t0:.0f}s", flush=True)


# ------------------------------------------------------------------------------------ model
def build_model(hidden: int = 192, conv: int = 192, mode: str = "attenuate"):
    """`attenuate` (shipped): g1 = sigmoid in [0, 1], g2 = 0: the network can only take more
    out of DeepFilterNet3's estimate. `give-back` (v1, v2 runs): g1 in [0, 1.25], g2 in
    [0, 0.5]: it may also return part of what DeepFilterNet3 removed."""
    import torch
    from torch import nn

    class Refine(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(refine.N_FEATS, conv, 2 * L + 1)
            self.gru = nn.GRU(conv, hidden, batch_first=True)
            self.out = nn.Linear(hidden, 2 * R)
            nn.init.zeros_(self.out.weight)
            with torch.no_grad():
                if mode == "attenuate":
                    self.out.bias[:R] = 5.0  # sigmoid(5) = 0.993
                else:
                    self.out.bias[:R] = float(np.log(4.0))  # 1.25 sigmoid(log 4) = 1
                    self.out.bias[R:] = -6.0

        def forward(self, feats, h0):
            z = torch.relu(self.conv(feats.transpose(1, 2))).transpose(1, 2)
            y, h = self.gru(z, h0)
            o = self.out(y)
            if mode == "attenuate":
                g1 = torch.sigmoid(o[..., :R])
                return g1, g1 * 0.0, h
            return 1.25 * torch.sigmoid(o[..., :R]), 0.5 * torch.sigmoid(o[..., R:]), h

    return Refine()


def _features_t(A, M):
    """refine.features in torch (same formula)."""
    import torch

    pa = A.real ** 2 + A.imag ** 2
    gm = M.real ** 2 + M.imag ** 2
    rm = (1 - M.real) ** 2 + M.imag ** 2
    f = torch.cat([torch.log10(pa + refine.EPS), torch.log10(pa * gm + refine.EPS),
                   torch.log10(pa * rm + refine.EPS)], dim=-1)
    return (f + 5.0) / 3.0


def _load_split(work: Path, split: str, clips: int | None = None, target: str = "raw",
                feats: str = "raw", min_clean: float | None = None, min_band: int = 0
                ) -> list[dict]:
    """The clips of a split; with `min_clean`, those whose cleaned target keeps at least that
    SI-SDR (dB) against the raw line are kept (below it DeepFilterNet3 removed most of the
    line alone: a shout, a laugh, a line drowned in its own reverb or noise; v2 drops < 0 dB,
    about 14 % of the training clips)."""
    files = sorted((work / f"data-{split}").glob("[0-9]*.npz"))
    if clips is not None:
        files = [f for f in files if int(f.stem) < clips]
        if len(files) < clips:
            raise SystemExit(f"data-{split} has {len(files)} of clips 0..{clips - 1}: run "
                             "the data stage first")
    out = []
    for f in files:
        d = dict(np.load(f))
        if min_clean is not None and float(d["clean_sisdr"]) < min_clean:
            continue
        if int(d["band"]) < min_band:  # e.g. 111: no Amazon Queen line (5.5 kHz) in the clip
            continue
        if target == "dfn":
            d["S"] = d["C"]
        if feats == "norm":  # the separator's own code, frame by frame from the start
            d["F"] = refine.NormFeatures()(d["A"], d["M"])
        out.append(d)
    return out


def _batch(clips, idx):
    import torch

    K = min(len(clips[i]["gate"]) for i in idx)
    A = torch.from_numpy(np.stack([clips[i]["A"][:K] for i in idx]))
    M = torch.from_numpy(np.stack([clips[i]["M"][:K] for i in idx]))
    S = torch.from_numpy(np.stack([clips[i]["S"][:K] for i in idx]))
    gate = torch.from_numpy(np.stack([clips[i]["gate"][:K] for i in idx])).float()
    band = torch.tensor([int(clips[i]["band"]) for i in idx])
    F = (torch.from_numpy(np.stack([clips[i]["F"][:K] for i in idx]))
         if "F" in clips[idx[0]] else None)
    return A, M, S, gate, band, F


def _loss(model, A, M, S, gate, band, F=None, identity=False, crop=None):
    """Minus the SNR (dB) per clip; `crop` = (start, frames): score only those frames (the
    network reads their +-L frames of context and starts from a zero state there). `F`: the
    precomputed normalised features (else the raw ones are computed from A and M)."""
    import torch

    B = A.shape[0]
    if identity:
        G = M
    else:
        if F is not None:  # zero feature rows before the start, as the separator pads
            zf = torch.zeros(B, L, F.shape[-1], dtype=F.dtype)
            feats = torch.cat([zf, F, zf], 1)
        else:
            z = torch.zeros(B, L, R, dtype=A.dtype)
            feats = _features_t(torch.cat([z, A, z], 1), torch.cat([z, M, z], 1))
        if crop is not None:
            s, n = crop
            feats = feats[:, s:s + n + 2 * L]
            A, M, S, gate = A[:, s:s + n], M[:, s:s + n], S[:, s:s + n], gate[:, s:s + n]
        g1, g2, _ = model(feats, torch.zeros(1, B, model.gru.hidden_size))
        G = g1 * M + g2 * (1 - M)
    D = G * gate[..., None] * A
    keep = (torch.arange(R)[None, :] < band[:, None]).float()[:, None, :]
    w = torch.ones(R)
    w[1:R] = 2.0  # one-sided spectrum: interior bins count twice (Parseval)
    keep = keep * w
    es = ((S.real ** 2 + S.imag ** 2) * keep).sum((1, 2))
    e = (((D - S).real ** 2 + (D - S).imag ** 2) * keep).sum((1, 2))
    # Capped at 40 dB so clips that are nearly clean do not dominate.
    snr = 10 * torch.log10((es + 1e-10) / (e + 1e-4 * es + 1e-10))
    # Dialogue left in exact speech pauses (frames 60 dB below the clip's loudest speech
    # frame), against the mixture there, in dB: what the pause-residual metric measures.
    fs = ((S.real ** 2 + S.imag ** 2) * keep).sum(2)
    pause = (fs < fs.amax(1, keepdim=True) * 1e-6).float()
    ed = (((D.real ** 2 + D.imag ** 2) * keep).sum(2) * pause).sum(1)
    ea = (((A.real ** 2 + A.imag ** 2) * keep).sum(2) * pause).sum(1)
    pause_db = torch.clamp(10 * torch.log10((ed + 1e-12) / (ea + 1e-12)), min=-80.0)
    return -snr + PAUSE_WEIGHT * pause_db  # per clip


def _dev_loss(model, clips, identity=False) -> float:
    import torch

    vals = []
    with torch.no_grad():
        for i in range(0, len(clips), 16):
            vals.append(_loss(model, *_batch(clips, list(range(i, min(len(clips), i + 16)))),
                              identity=identity))
    return float(torch.cat(vals).mean())


def _tuning_medians(backend: str, **options) -> dict[str, float]:
    """Median dialogue SI-SDRi per ratio on the tuning set through the real separator."""
    from foley_desktop.separation import evaluate as ev
    from foley_desktop.train.separation_mask import tune_mixtures

    sc = ev.evaluate(backend, tune_mixtures((-5, 0, 5)), **options)
    return {str(int(snr)): float(np.median([r["d_sisdri"] for r in sc.rows if r["snr"] == snr]))
            for snr in (-5, 0, 5)}


def _tuning_score(med: dict, ref: dict) -> float:
    """The 0 dB median, minus 10 when -5 or +5 dB falls more than 0.3 dB below the default."""
    worst = min(med[k] - ref[k] for k in ("-5", "5"))
    return med["0"] - (10.0 if worst < -0.3 else 0.0)


def _export(model, hidden: int, out: Path, feats_kind: str) -> None:
    import torch

    feats = torch.zeros(1, 10 + 2 * L, refine.N_FEATS)
    h0 = torch.zeros(1, 1, hidden)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(model, (feats, h0), str(tmp), input_names=["feats", "h0"],
                      output_names=["g1", "g2", "h"], opset_version=17, dynamo=False,
                      dynamic_axes={"feats": {1: "frames"}, "g1": {1: "n"}, "g2": {1: "n"}})
    os.replace(tmp, out)
    cfg = out.with_name("config.json")
    tmp = cfg.with_suffix(".tmp")
    tmp.write_text(json.dumps({"features": feats_kind}) + "\n")
    os.replace(tmp, cfg)


def stage_train(work: Path, seed: int, steps: int, batch: int, lr: float, eval_every: int,
                hidden: int, crop: int, clips: int, mode: str, target: str = "raw",
                feats: str = "raw", select: str = "dev", min_clean: float | None = None,
                min_band: int = 0) -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train = _load_split(work, "train", clips, target, feats, min_clean, min_band)
    dev = _load_split(work, "dev", None, target, feats, min_clean, min_band)
    print(f"{len(train)} train clips, {len(dev)} dev clips", flush=True)
    model = build_model(hidden, mode=mode)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=0.05)
    ck = work / "last.pt"
    log = {"steps": [], "identity_dev": None, "tuning_default": None}
    step = 0
    if ck.exists():
        st = torch.load(ck, weights_only=True)  # tensors, numbers, lists only
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        step, log = st["step"], st["log"]
        print(f"resumed at step {step}", flush=True)
    if log["identity_dev"] is None:
        log["identity_dev"] = _dev_loss(model, dev, identity=True)
        print(f"dev loss of the default (DeepFilterNet3 + gate): {log['identity_dev']:.3f}",
              flush=True)
    if select == "tuning" and log.get("tuning_default") is None:
        log["tuning_default"] = _tuning_medians("default")
        print(f"tuning set, default: {log['tuning_default']}", flush=True)
    if select == "tuning":
        best = -min([-s["tuning_score"] for s in log["steps"]], default=float("inf"))
    else:
        best = min([s["dev"] for s in log["steps"]], default=float("inf"))
    t0 = time.time()
    while step < steps:
        rng = np.random.default_rng([seed, step])
        idx = rng.choice(len(train), batch, replace=False)
        model.train()
        batch_ = _batch(train, idx)
        if crop:
            start = int(rng.integers(0, max(1, batch_[0].shape[1] - crop + 1)))
            loss = _loss(model, *batch_, crop=(start, crop)).mean()
        else:
            loss = _loss(model, *batch_).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % 20 == 0:
            print(f"step {step} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
        if step % eval_every == 0 or step == steps:
            model.eval()
            dl = _dev_loss(model, dev)
            entry = {"step": step, "dev": dl, "train": float(loss.detach())}
            print(f"step {step} dev {dl:.3f} (default {log['identity_dev']:.3f})", flush=True)
            if select == "tuning":
                onnx = work / "tune" / f"step{step:05d}.onnx"
                _export(model, hidden, onnx, feats)
                med = _tuning_medians("dfn-refine", model=onnx)  # features: config.json
                entry["tuning"] = med
                entry["tuning_score"] = _tuning_score(med, log["tuning_default"])
                print(f"step {step} tuning {med} (default {log['tuning_default']})", flush=True)
                better = entry["tuning_score"] > best
                best = max(best, entry["tuning_score"])
            else:
                better = dl < best
                best = min(best, dl)
            log["steps"].append(entry)
            if better:
                torch.save(model.state_dict(), work / "best.pt")
            tmp = work / "last.pt.tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "step": step, "log": log}, tmp)
            os.replace(tmp, ck)
    (work / "train_summary.json").write_text(json.dumps(
        {"seed": seed, "total_steps": steps, "batch": batch, "lr": lr, "hidden": hidden, "crop": crop,
         "mode": mode, "target": target, "features": feats, "select": select,
         "min_clean_sisdr": min_clean, "min_band_bins": min_band,
         "train_clips": len(train), "dev_clips": len(dev), **log}, indent=1))


def stage_export(work: Path, out: Path, hidden: int, mode: str, feats: str = "raw") -> None:
    import torch

    torch.set_num_threads(1)
    model = build_model(hidden, mode=mode)
    model.load_state_dict(torch.load(work / "best.pt", weights_only=True))
    model.eval()
    _export(model, hidden, out, feats)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=("data", "train", "export"))
    ap.add_argument("--work", type=Path, default=Path("runs/separation_refine_v3"))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--split", default="train", choices=("train", "dev"))
    ap.add_argument("--clips", type=int, default=1600)
    ap.add_argument("--shard", type=int, default=0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--crop", type=int, default=0,
                    help="frames per training sequence (0: whole clips)")
    ap.add_argument("--mode", default="attenuate", choices=("attenuate", "give-back"))
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--speech-eq", default="mild", choices=("mild", "strong"),
                    help="data: EQ of the training speech (v1: mild; v2: strong shelves)")
    ap.add_argument("--background-eq", default="mild", choices=("mild", "strong"),
                    help="data: EQ of the backgrounds (v1, v2 runs a-c: mild)")
    ap.add_argument("--min-level-db", type=float, default=-24.0,
                    help="data: mixtures peak at -X..-1 dBFS (v1: -24; v2: -15)")
    ap.add_argument("--target", default="raw", choices=("raw", "dfn"),
                    help="train: the clean line (v1) or the default's output on it (v2)")
    ap.add_argument("--features", default="raw", choices=("raw", "norm"))
    ap.add_argument("--min-band", type=int, default=0,
                    help="train: drop clips whose speech bandwidth is below this many 50 Hz bins")
    ap.add_argument("--min-clean-sisdr", type=float, default=None,
                    help="train: drop clips whose cleaned target is this far from the raw line")
    ap.add_argument("--select", default="dev", choices=("dev", "tuning"),
                    help="keep the checkpoint with the best dev loss or tuning-set score")
    ap.add_argument("--out", type=Path, default=refine.model_path())
    a = ap.parse_args(argv)
    global STRONG_EQ, STRONG_BG_EQ, MIN_LEVEL_DB
    STRONG_EQ = a.speech_eq == "strong"
    STRONG_BG_EQ = a.background_eq == "strong"
    MIN_LEVEL_DB = a.min_level_db
    if a.stage == "data":
        stage_data(a.work, a.split, a.clips, a.seed, a.shard, a.shards)
    elif a.stage == "train":
        stage_train(a.work, a.seed, a.steps, a.batch, a.lr, a.eval_every, a.hidden, a.crop, a.clips,
                    a.mode, a.target, a.features, a.select, a.min_clean_sisdr, a.min_band)
    else:
        stage_export(a.work, a.out, a.hidden, a.mode, a.features)
    return 0


if __name__ == "__main__":
    sys.exit(main())
