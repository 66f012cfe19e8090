#!/usr/bin/env python3
"""Train the default separation backend's fusion network (foley_desktop/separation/fusion_net.py)
on CPU.

Stages (each resumable, deterministic for a seed; torch and numpy on one thread):
  data   mixtures of Debian speech (corpus.py; `train` split, or `dev` with the tuning
         backgrounds for checkpoint selection) with recorded effects and music (the training
         backgrounds: every evaluation and tuning background excluded). --style line (the
         default): as the evaluation's, one whole line with silence either side over one
         background; --style refine: scripts/train_separation_refine.py's 4 s tracks (crops,
         EQ, reverb, band-limiting; they transferred worse). -10..+10 dB
         speech-to-background; --trim P: a share P of the lines first cut to their voice, so
         the silence touches the words. Each is run once through the default pipeline in
         dump mode (DeepFilterNet3, Conv-TasNet, VAD gate); stored as .npz under
         WORK/data-SPLIT/ with the clean line's STFT frames (the target).
  train  the network on those frames; loss = minus the SI-SDR (dB) per clip of the gated dialogue
         frames below 7.6 kHz (fused estimate -> capped ratio -> gate, as the separator does)
         against the clean line's frames; Adam, batches of 8 clips (--fullband: that share
         of each batch from the lines with speech up to the cut; --pause-weight: plus a
         cost per dB of the residual in the clean line's pauses above --pause-floor;
         --init: starting from an exported network); every --eval-every steps
         the dev loss and a checkpoint (WORK/steps/); keeps the weights with the best dev
         loss; resumes from the last checkpoint.
  export ONNX (opset 17) of the best weights' exponent head w to --out (temp file + rename);
         the attenuation head g is trained but not exported (fusion_net.py says why).

Usage:
  python scripts/train_separation_fusion.py data  --work runs/fusion --split train --n 1200
  python scripts/train_separation_fusion.py data  --work runs/fusion --split dev --n 120
  python scripts/train_separation_fusion.py train --work runs/fusion --steps 3000
  python scripts/train_separation_fusion.py export --work runs/fusion \
      --out resources/models/separation/fusion-net-v2/fusion.onnx
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.separation import corpus, fusion_net
from foley_desktop.separation.default import HOP, DeepFilterSeparator

C = fusion_net.C
L = fusion_net.L
MAX_RATIO = DeepFilterSeparator.MAX_RATIO
FRAMES = 200  # 2 s crops, each holding at least a fifth of its clip's speech energy


def _refine_script():
    """The refine trainer's mixture draws (one way to make training mixtures)."""
    path = Path(__file__).with_name("train_separation_refine.py")
    spec = importlib.util.spec_from_file_location("train_separation_refine", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------- data
def _line_mixture(utts, bgs, rng, trim: bool = False):
    """One whole line (2-8 s, peak 0.5) with 0.75 s of silence either side over one
    background looped from a random offset: the evaluation's mixtures (evaluate.py), no EQ,
    reverb or added noise. `trim`: the line first cut to its voice (evaluate.trimmed), so
    the silence touches the words, as warzone2100's lines come."""
    from foley_desktop.separation.evaluate import PAD, trimmed

    while True:
        pool = utts[sorted(utts)[rng.integers(len(utts))]]
        u = pool[rng.integers(len(pool))]
        x = corpus.load(u)
        if 2 * SR <= len(x) <= 8 * SR:
            break
    if trim:
        x = trimmed(x)
    x = x / max(float(np.abs(x).max()), 1e-6) * 0.5
    s = np.concatenate([np.zeros(PAD, np.float32), x, np.zeros(PAD, np.float32)])
    b = bgs[rng.integers(len(bgs))]
    b = np.resize(np.roll(b, -int(rng.integers(len(b)))), len(s)).astype(np.float32)
    return s.astype(np.float32), u.band_hz, b


def stage_data(work: Path, split: str, n: int, seed: int, shard: int, shards: int,
               style: str = "line", segment_s: float = 12.0,
               tasnet: str = fusion_net.PRETRAINED, trim: float = 0.0) -> None:
    ref = _refine_script()
    utts, bgs, out = ref.split_sources(work, split)
    cache: dict = {}
    t0 = time.time()
    for i, f, rng in ref.pending_items(out, split, n, seed, shard, shards):
        # Its own generator, so the other draws (and with trim 0 the files) stay as before;
        # only whole lines (--style line) are cut.
        cut = style == "line" and bool(np.random.default_rng([seed, i, 7]).random() < trim)
        if style == "line":
            s, band, b = _line_mixture(utts, bgs, rng, cut)
        else:
            s, band = ref._speech_track(utts, rng, cache)
            b = ref._background(bgs, rng)
        sbr = rng.uniform(-10, 10)
        b *= np.sqrt(np.sum(s ** 2) / max(np.sum(b ** 2), 1e-12) / 10 ** (sbr / 10))
        x = s + b
        if style == "line":  # as the evaluation: kept within a 0.9 peak
            g = min(1.0, 0.9 / max(float(np.abs(x).max()), 1e-6))
        else:
            g = 10 ** (rng.uniform(-24, -1) / 20) / max(float(np.abs(x).max()), 1e-6)
        s, x = s * g, x * g
        d = fusion_net.dump_frames(x, segment_s, tasnet)
        # Frames past the input (the stream's latency flushed as zeros) are not kept.
        K = min(len(d["gate"]), len(x) // HOP + 2)
        d = {k: v[:K] for k, v in d.items()}
        tmp = out / f".{i:05d}.tmp.npz"
        np.savez(tmp, A=d["A"], S=d["S"], T=d["T"], gate=d["gate"],
                 Y=ref.stft_low(s, K)[:, :C], band=np.int32(min(C, int(band / 50))),
                 sbr=np.float32(sbr), trim=np.int8(cut))
        os.replace(tmp, f)
        if i % 50 == shard:
            print(f"{split} {i}/{n} {time.time() - t0:.0f}s", flush=True)


def load_split(work: Path, split: str) -> list[dict]:
    out = []
    for f in sorted((work / f"data-{split}").glob("[0-9]*.npz")):
        z = np.load(f)
        out.append({"feats": fusion_net.features(z["A"], z["S"], z["T"]),
                    **{k: z[k] for k in ("A", "S", "T", "gate", "Y", "band")}})
    return out


# ------------------------------------------------------------------------------------ model
def build_model(ch: int = 16, ctx: int = L, time_dils: list[int] | None = None):
    """v1 (time_dils None): Conv2d over (time, bins) (2 ctx + 1) x 5, valid in time (the
    +-ctx frames of context), then 1x3 with the bins dilated 2, 4, 8 (about 30 bins of
    context), then 1x1 to (w, g). With time_dils: the first layer 3 x 5, and after each
    dilated bin layer a 3 x 1 layer over time dilated by the next of time_dils, valid (so
    ctx = 1 + sum(time_dils)): a wider view of time for few more weights."""
    import torch
    from torch import nn

    if time_dils is not None:
        assert ctx == 1 + sum(time_dils), (ctx, time_dils)

    class Fusion(nn.Module):
        def __init__(self):
            super().__init__()
            self.ctx = ctx
            kt = 2 * ctx + 1 if time_dils is None else 3
            self.inp = nn.Conv2d(fusion_net.N_IN, ch, (kt, 5), padding=(0, 2))
            self.mid = nn.ModuleList(
                nn.Conv2d(ch, ch, (1, 3), padding=(0, d), dilation=(1, d)) for d in (2, 4, 8))
            self.tdil = list(time_dils or [])
            self.time = nn.ModuleList(
                nn.Conv2d(ch, ch, (3, 1), dilation=(d, 1)) for d in self.tdil)
            self.out = nn.Conv2d(ch, 2, 1)
            nn.init.zeros_(self.out.weight)
            with torch.no_grad():
                self.out.bias[:] = torch.tensor([0.0, 4.0])  # w = 0.5, g = 0.98: the rule

        def forward(self, feats):  # [B, 4, frames + 2 ctx, C] -> w, g [B, 1, frames, C]
            z = torch.relu(self.inp(feats))
            for i, conv in enumerate(self.mid):
                z = z + torch.relu(conv(z))
                if i < len(self.tdil):
                    d = self.tdil[i]
                    z = z[:, :, d:-d] + torch.relu(self.time[i](z))
            o = torch.sigmoid(self.out(z))
            return o[:, :1], o[:, 1:]

    return Fusion()


def _batch(items, frames: int, rng, ctx: int = L):
    """Random crops of `frames` frames (+ ctx frames each side, zeros past the clip's ends)."""
    import torch

    out = {k: [] for k in ("feats", "A", "S", "T", "gate", "Y", "mask", "quiet")}
    for it in items:
        K = len(it["gate"])
        e_row = np.sum(np.abs(it["Y"]) ** 2, axis=1)
        # The evaluation's pauses (evaluate.pause_residual_db): frames where the clean line is
        # 60 dB below its loudest frame (here 10 ms frames, bins below the cut).
        quiet = (e_row < e_row.max() * 1e-6).astype(np.float32)
        for _ in range(8):  # a crop with speech in it (the SNR of silence is undefined)
            s = int(rng.integers(0, max(1, K - frames + 1)))
            if e_row[s:s + frames].sum() >= 0.2 * e_row.sum():
                break
        e = min(K, s + frames)
        f = np.zeros((fusion_net.N_IN, frames + 2 * ctx, C), np.float32)
        lo, hi = s - ctx, e + ctx
        f[:, max(0, -lo):max(0, -lo) + min(K, hi) - max(0, lo)] = it["feats"][:, max(0, lo):hi]
        out["feats"].append(f)
        for k in ("A", "S", "T", "Y"):
            z = np.zeros((frames, C), np.complex64)
            z[:e - s] = it[k][s:e]
            out[k].append(z)
        g = np.zeros(frames, np.float32)
        g[:e - s] = it["gate"][s:e]
        out["gate"].append(g)
        q = np.zeros(frames, np.float32)
        q[:e - s] = quiet[s:e]
        out["quiet"].append(q)
        m = np.zeros((frames, C), np.float32)
        m[:e - s, :max(8, int(it["band"]))] = 1.0  # bins the line has content in
        out["mask"].append(m)
    return {k: torch.from_numpy(np.stack(v)) for k, v in out.items()}


def pause_db(D, A, quiet):
    """Per clip: the dialogue's energy in the clean line's quiet frames against the
    mixture's there (dB), as evaluate.pause_residual_db, and 1 where the crop has such
    frames (0: the figure means nothing and loss_fn leaves it out)."""
    import torch

    ed = ((D.abs() ** 2).sum(dim=2) * quiet).sum(dim=1)
    ea = ((A.abs() ** 2).sum(dim=2) * quiet).sum(dim=1)
    return 10 * torch.log10((ed + 1e-12) / (ea + 1e-12)), (ea > 1e-10).float()


def clip_terms(model, b):
    """Per clip of batch b: the SI-SDR (dB) of the gated dialogue frames below the cut, and
    pause_db's residual and its weight."""
    import torch

    w, g = model(b["feats"])
    w, g = w[:, 0], g[:, 0]
    S, T, A, Y = b["S"], b["T"], b["A"], b["Y"]
    mt, ms = T.abs(), S.abs()
    mag = g * torch.exp(w * torch.log(mt + 1e-20) + (1 - w) * torch.log(ms + 1e-20))
    est = mag * T / torch.clamp(mt, min=1e-20)
    M = est * A.conj() / (A.abs() ** 2 + 1e-20)
    Mm = M.abs()
    M = torch.where(Mm > MAX_RATIO, M * (MAX_RATIO / torch.clamp(Mm, min=1e-20)), M)
    D = M * A * b["gate"][:, :, None]
    # Scale-invariant, as the evaluation's SI-SDR: with a plain SNR the first runs learnt to
    # turn the estimate up (letting more background through), 1.2 dB worse on the Czech dev
    # lines while their SNR rose.
    mk = b["mask"]
    dot = (D * Y.conj()).real.mul(mk).sum(dim=(1, 2))
    sig = ((Y.abs() ** 2) * mk).sum(dim=(1, 2))
    alpha = (dot / (sig + 1e-12))[:, None, None]
    err = ((D - alpha * Y).abs() ** 2 * mk).sum(dim=(1, 2))
    tgt = alpha[:, 0, 0] ** 2 * sig
    return (10 * torch.log10((tgt + 1e-12) / (err + 1e-12)), *pause_db(D, A, b["quiet"]))


def loss_fn(model, b, pause_weight: float = 0.0, pause_floor: float = -55.0):
    return terms_loss(clip_terms(model, b), pause_weight, pause_floor)


def terms_loss(terms, pause_weight: float = 0.0, pause_floor: float = -55.0):
    """The training loss from clip_terms' figures."""
    sdr, pause, has = terms
    loss = -sdr.mean()
    if pause_weight:
        import torch

        # SI-SDR hardly sees background left in the pauses (-45 dB of the mixture there is
        # nothing against the words' energy): each clip whose pause residual is above
        # pause_floor pays pause_weight per dB (issue #29's eleventh round: the gate's margins
        # around words cut right at the voice).
        loss = loss + pause_weight * (torch.relu(pause - pause_floor) * has).mean()
    return loss


def _config(work: Path, ch: int | None = None, ctx: int | None = None,
            time_dils: list[int] | None = None) -> dict:
    """The network's shape, fixed by the first training call (work/config.json)."""
    import json

    f = work / "config.json"
    if f.exists():
        return json.loads(f.read_text())
    cfg: dict = {"ch": ch or 16, "ctx": 1 + sum(time_dils) if time_dils else ctx or L}
    if time_dils:
        cfg["time_dils"] = time_dils
    f.write_text(json.dumps(cfg) + "\n")
    return cfg


def init_from_onnx(model, path: Path) -> None:
    """Start from an exported fusion network (both heads: the export keeps the whole
    network's weights and slices w off at the end)."""
    import onnx
    import torch
    from onnx import numpy_helper

    st = {i.name.removeprefix("net."): torch.from_numpy(numpy_helper.to_array(i).copy())
          for i in onnx.load(str(path)).graph.initializer if i.name.startswith("net.")}
    model.load_state_dict(st)  # strict: the shapes and names must be this config's


def stage_train(work: Path, steps: int, lr: float, seed: int, eval_every: int,
                ch: int | None, ctx: int | None, time_dils: list[int] | None = None,
                fullband: float | None = None, pause_weight: float = 0.0,
                pause_floor: float = -55.0, init: Path | None = None) -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, dev = load_split(work, "train"), load_split(work, "dev")
    print(f"train {len(train)} clips, dev {len(dev)}", flush=True)
    cfg = _config(work, ch, ctx, time_dils)
    ctx = cfg["ctx"]
    model = build_model(cfg["ch"], ctx, cfg.get("time_dils"))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ck = work / "last.pt"
    step, best = 0, float("inf")
    if ck.exists():
        st = torch.load(ck, weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, best = st["step"], st["best"]
    elif init is not None:
        init_from_onnx(model, init)
    rng = np.random.default_rng([seed, step])
    full = np.array([i for i, it in enumerate(train) if int(it["band"]) >= C])
    part = np.array([i for i, it in enumerate(train) if int(it["band"]) < C])
    whole = max(len(it["gate"]) for it in dev)  # dev: whole clips
    dev_b = [_batch(dev[i:i + 8], whole, np.random.default_rng(0), ctx)
             for i in range(0, len(dev), 8)]

    def dev_loss():
        """The selection loss, and for the log the median SI-SDR and pause residual."""
        with torch.no_grad():
            t = [clip_terms(model, b) for b in dev_b]
        loss = float(np.mean([terms_loss(x, pause_weight, pause_floor).item() for x in t]))
        sdr = np.concatenate([x[0].numpy() for x in t])
        pause = np.concatenate([x[1].numpy()[x[2].numpy() > 0] for x in t])
        return loss, f"(SI-SDR {np.median(sdr):.2f}, pauses {np.median(pause):.1f} dB)"

    if step == 0:
        best, info = dev_loss()
        start = "the starting network" if init is not None else "the default's rule"
        print(f"step 0 ({start}): dev {best:.3f} {info}", flush=True)
    t0 = time.time()
    while step < steps:
        if fullband is None:
            idx = rng.integers(0, len(train), 8)
        else:  # this share of each batch from the lines with speech up to the cut
            idx = np.where(rng.random(8) < fullband, rng.choice(full, 8), rng.choice(part, 8))
        b = _batch([train[i] for i in idx], FRAMES, rng, ctx)
        loss = loss_fn(model, b, pause_weight, pause_floor)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        if step % eval_every == 0 or step == steps:
            dl, info = dev_loss()
            if dl < best:
                best = dl
                torch.save(model.state_dict(), work / "best.pt")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "best": best}, ck)
            # Every evaluated checkpoint is kept (a few KB): the selection reads them on the
            # tuning set and the dev lines, not only the best dev loss.
            (work / "steps").mkdir(exist_ok=True)
            torch.save(model.state_dict(), work / "steps" / f"{step:05d}.pt")
            print(f"step {step} train {loss.item():.3f} dev {dl:.3f} {info} best {best:.3f} "
                  f"{time.time() - t0:.0f}s", flush=True)


def stage_export(work: Path, out: Path) -> None:
    import torch

    cfg = _config(work)
    model = build_model(cfg["ch"], cfg["ctx"], cfg.get("time_dils"))
    model.load_state_dict(torch.load(work / "best.pt", weights_only=True))
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    dummy = torch.zeros(1, fusion_net.N_IN, 20 + 2 * cfg["ctx"], C)

    class ExponentOnly(torch.nn.Module):
        # The attenuation head g is not exported (fusion_net.py says why): the separator
        # fuses with w alone.
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, feats):
            return self.net(feats)[0]

    torch.onnx.export(ExponentOnly(model), dummy, str(tmp), input_names=["feats"],
                      output_names=["w"], dynamic_axes={"feats": {2: "frames"},
                                                        "w": {2: "frames"}},
                      opset_version=17, dynamo=False)
    import onnx

    m = onnx.load(str(tmp))
    # The separator reads how many frames of context either side the network takes.
    onnx.helper.set_model_props(m, {"context": str(cfg["ctx"])})
    onnx.save(m, str(tmp))
    os.replace(tmp, out)
    print(f"wrote {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["data", "train", "export"])
    ap.add_argument("--work", type=Path, default=Path("runs/fusion"))
    ap.add_argument("--split", default="train", choices=["train", "dev"])
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=29)
    ap.add_argument("--shard", type=int, default=0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--tasnet", default=fusion_net.PRETRAINED,
                    help="data: Conv-TasNet's model folder (default: the pretrained one, "
                         "whose estimates fusion-net-v2 was trained on; convtasnet-debian-v1 "
                         "(git history), the fine-tuned one, whose estimates gave a fusion that "
                         "scored lower: docs/separation.md, seventh and eighth rounds)")
    ap.add_argument("--segment-s", type=float, default=12.0,
                    help="Conv-TasNet's segment length in the data stage (12: each line, "
                         "at most 9.5 s, in one run; v1's data were made so, when 12 s was "
                         "the separator's own)")
    ap.add_argument("--ch", type=int, help="channels (first training call only; default 16)")
    ap.add_argument("--ctx", type=int, help=f"frames of context either side (default {L})")
    ap.add_argument("--time-dils", help="v2 shape: dilations of the 3 x 1 time layers, "
                    "e.g. 1,2,4 (first training call only; ctx = 1 + their sum)")
    ap.add_argument("--fullband", type=float,
                    help="share of each batch drawn from the lines with speech up to 7.6 kHz "
                         "(default: uniform over the lines, 29 %% of them)")
    ap.add_argument("--style", default="line", choices=["line", "refine"],
                    help="line: the evaluation's mixtures (one whole line, silence either "
                         "side, one background); refine: the refine trainer's 4 s tracks "
                         "(crops, EQ, reverb, added noise)")
    ap.add_argument("--trim", type=float, default=0.0,
                    help="data: share of lines cut to their voice before the silence is put "
                         "around them (the words then touch it, as warzone2100's lines do; "
                         "default 0: fusion-net-v2's data)")
    ap.add_argument("--pause-weight", type=float, default=0.0,
                    help="train: loss per dB of pause residual above --pause-floor (default "
                         "0: SI-SDR alone, as fusion-net-v2)")
    ap.add_argument("--pause-floor", type=float, default=-55.0,
                    help="train: pause residual (dB against the mixture) below which a clip's "
                         "pauses cost nothing")
    ap.add_argument("--init", type=Path,
                    help="train: start from this exported fusion network (first call only), "
                         "e.g. resources/models/separation/fusion-net-v2/fusion.onnx")
    a = ap.parse_args()
    if a.stage == "data":
        stage_data(a.work, a.split, a.n, a.seed, a.shard, a.shards, a.style, a.segment_s,
                   a.tasnet, a.trim)
    elif a.stage == "train":
        dils = [int(d) for d in a.time_dils.split(",")] if a.time_dils else None
        stage_train(a.work, a.steps, a.lr, a.seed, a.eval_every, a.ch, a.ctx, dils, a.fullband,
                    a.pause_weight, a.pause_floor, a.init)
    else:
        if a.out is None:
            print("export needs --out", file=sys.stderr)
            return 2
        stage_export(a.work, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
