"""Rectified-flow training of foley-tiny on CPU: deterministic by seed, resumable.

    python -m foley_desktop.train.train --run runs/foley-tiny --steps 3000 --max-minutes 80

Checkpoints (`ckpt.pt`, atomically replaced every --ckpt-every steps) hold model, EMA, optimiser
and step; the batch at step k is drawn from Generator(PCG64([seed, k])) so a resumed run sees
the same batches as an uninterrupted one.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from foley_desktop.engine.events import CHANNELS as EVENT_CHANNELS
from foley_desktop.engine.events import event_track

from . import codec
from .captions import paraphrase, pools
from .model import Config, Denoiser, VisualEncoder
from .paths import DATA
from .text import UNCOND_CAPTIONS, caption_features


class FoleyTiny(torch.nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.visual = VisualEncoder(cfg)
        self.denoiser = Denoiser(cfg)
        self.uncond_visual = torch.nn.Parameter(torch.zeros(cfg.vis_dim))


def text_table(train_dir: Path, export_dir: Path):
    """Features of every caption in the set (+ the unconditional ones), computed once."""
    cache = train_dir / "text.npz"
    meta = json.loads((train_dir / "meta.json").read_text())
    caps = sorted({c["caption"] for c in meta["clips"]} | set(UNCOND_CAPTIONS))
    if not cache.exists():
        feats, mask = caption_features(export_dir / "text_encoder.int8.onnx",
                                       export_dir / "tokenizer.json", caps)
        np.savez(cache, feats=feats, mask=mask, caps=np.array(caps))
    z = np.load(cache)
    index = {c: i for i, c in enumerate(z["caps"].tolist())}
    clip_cap = np.array([index[c["caption"]] for c in meta["clips"]])
    uncond = np.array([index[c] for c in UNCOND_CAPTIONS])
    return (torch.from_numpy(z["feats"].astype(np.float32)),
            torch.from_numpy(z["mask"].astype(np.float32)), clip_cap, uncond)


def draw_batch(step: int, seed: int, batch: int, crop: int, lat, frm, feats, masks, clip_cap,
               uncond_caps, with_index: bool = False, drop_text: float = 0.15,
               drop_visual: float = 0.15, t_loc: float = 0.0):
    """The training batch at `step`: drawn from Generator(PCG64([seed, step])) so a resumed run
    (and QAT fine-tuning, which continues the same stream) sees the same batches.
    `with_index` also returns the clip indices, the crop offsets (in video frames) and which
    rows had their caption dropped. `t_loc` moves the logit-normal time distribution (negative:
    more training at the noise end, where the sampler places events)."""
    rng = np.random.Generator(np.random.PCG64([seed, step]))
    idx = np.sort(rng.choice(lat.shape[0], batch, replace=False))
    # Random crops (whole video frames: 4 latent frames each) shorten the sequences the
    # CPU has to train on and shift events in time.
    per = lat.shape[2] // frm.shape[1]
    n_v = crop // per
    o = rng.integers(0, frm.shape[1] - n_v + 1, size=batch)
    x1 = torch.from_numpy(np.stack([lat[i, :, k * per:(k + n_v) * per] for i, k in zip(idx, o)]).astype(np.float32))
    fr = torch.from_numpy(np.stack([frm[i, k:k + n_v] for i, k in zip(idx, o)])).float().div_(127.5).sub_(1.0)
    fr = fr.permute(0, 1, 4, 2, 3)
    tf = feats[clip_cap[idx]].clone()
    tm = masks[clip_cap[idx]].clone()
    drop_t = rng.random(batch) < drop_text
    drop_v = rng.random(batch) < drop_visual
    for i in np.nonzero(drop_t)[0]:
        u = uncond_caps[rng.integers(len(uncond_caps))]
        tf[i], tm[i] = feats[u], masks[u]
    t = torch.from_numpy(1 / (1 + np.exp(-rng.normal(t_loc, 1, batch)))).float()
    x0 = torch.from_numpy(rng.standard_normal(x1.shape).astype(np.float32))
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
    if with_index:
        return fr, tf, tm, t, x0, x1, xt, drop_v, idx, o * per, drop_t
    return fr, tf, tm, t, x0, x1, xt, drop_v


def onset_weights(events: list[list[int]], idx, offsets, n_frames: int, weight: float,
                  before: int = 2, after: int = 6) -> torch.Tensor:
    """Per-latent-frame loss weights [B, 1, F]: 1 + `weight` from `before` frames ahead of each
    event onset to `after` frames past it (the attack the picture must place), 1 elsewhere."""
    w = np.ones((len(idx), 1, n_frames), np.float32)
    for b, (i, off) in enumerate(zip(idx, offsets)):
        for e in events[i]:
            f = round(e / codec.HOP) - int(off)
            lo, hi = max(0, f - before), min(n_frames, f + after + 1)
            if lo < hi:
                w[b, 0, lo:hi] += weight
    return torch.from_numpy(w)


def event_strengths(latent: np.ndarray, events: list[int], after: int = 10) -> list[float]:
    """A marker strength (0.2..1) for each event of a clip from its clean latent [C, F]: the
    loudest frame within `after` frames of the onset, relative to the clip's loudest event,
    1 at the top and 0.2 at 24 dB or more below it (an editor marks a soft step weaker)."""
    if not events:
        return []
    z = np.asarray(latent, np.float64) * codec.LOG_STD + codec.LOG_MEAN       # ln power
    loud = np.log(np.exp(z).mean(axis=0) + 1e-12) * (10 / np.log(10))       # dB per frame
    peaks = []
    for e in events:
        f = max(0, min(len(loud) - 1, round(e / codec.HOP)))
        peaks.append(loud[f: f + after + 1].max())
    rel = np.array(peaks) - max(peaks)
    return [float(v) for v in np.clip(1.0 + rel / 30.0, 0.2, 1.0)]


@dataclass
class MarkerAugment:
    """How training turns a clip's true event times into the markers an editor would give.
    `drop`: share of rows without markers (channel 1 = 0: the picture-only model keeps
    training); `jitter_ms`: Gaussian error of each marker (clipped at 3 sigma); `miss`: chance
    that a marker is left out; `extra`: chance that a row gets a marker with no event (an
    editor's stray mark); `partial`: chance that markers cover only part of the crop."""
    drop: float = 0.3
    jitter_ms: float = 4.0
    miss: float = 0.05
    extra: float = 0.1
    partial: float = 0.1


def event_tracks(step: int, seed: int, events: list[list[int]], strengths: list[list[float]],
                 offsets, n_frames: int, aug: MarkerAugment,
                 drop: np.ndarray | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """The event tracks [B, F, 2] of a batch (engine/events.event_track, as the engine draws
    them) and which rows were given markers. From a generator of their own (seed, step, 23),
    so the rest of the batch is exactly what a run without markers draws. `drop`: a share of
    rows without markers per row instead of `aug.drop` (the same draws either way)."""
    rng = np.random.Generator(np.random.PCG64([seed, step, 23]))
    out = np.zeros((len(events), n_frames, EVENT_CHANNELS), np.float32)
    given = np.zeros(len(events), bool)
    for r, (ev, st, off) in enumerate(zip(events, strengths, offsets)):
        # every draw happens for every row, so one row's choices never shift another's
        keep = rng.random() >= (aug.drop if drop is None else drop[r])
        jit = np.clip(rng.normal(0.0, aug.jitter_ms, len(ev)), -3 * aug.jitter_ms, 3 * aug.jitter_ms)
        missed = rng.random(len(ev)) < aug.miss
        add = rng.random() < aug.extra
        extra_at, extra_s = rng.uniform(0, n_frames * codec.HOP), rng.uniform(0.3, 1.0)
        part = rng.random() < aug.partial
        a, b = np.sort(rng.integers(0, n_frames + 1, 2))
        if not keep:
            continue
        lo, hi = (int(a), int(b)) if part and b - a >= 20 else (0, n_frames)
        t = np.array(ev, np.float64) + jit * codec.SR / 1000.0 - int(off) * codec.HOP
        s = np.array(st, np.float64)
        t, s = t[~missed], s[~missed]
        if add:
            t, s = np.append(t, extra_at), np.append(s, extra_s)
        # markers are given only inside [lo, hi) frames; those outside are not the editor's
        inside = (t >= lo * codec.HOP) & (t < hi * codec.HOP)
        out[r] = event_track(t[inside], s[inside], n_frames, codec.HOP, (lo, hi))
        given[r] = True
    return torch.from_numpy(out), given


def mismatch_pictures(vis: torch.Tensor, given: np.ndarray, step: int, seed: int,
                      share: float) -> torch.Tensor:
    """Rows with markers get, with probability `share`, the visual features of the next row
    (another clip, its motion elsewhere): the loss then rewards following the markers over the
    picture. Drawn from a generator of its own (seed, step, 29)."""
    rng = np.random.Generator(np.random.PCG64([seed, step, 29]))
    swap = (rng.random(len(given)) < share) & given
    if not swap.any() or len(given) < 2:
        return vis
    rows = torch.from_numpy(np.nonzero(swap)[0])
    out = vis.clone()
    out[rows] = vis[(rows + 1) % len(given)]
    return out


def drop_pictures(vis: torch.Tensor, uncond: torch.Tensor, given: np.ndarray, step: int,
                  seed: int, share: float) -> torch.Tensor:
    """Rows with markers lose their picture (the learned unconditional vector) with probability
    `share`: the markers alone must then place the events, as on real footage whose motion
    says little. Drawn from a generator of its own (seed, step, 31)."""
    rng = np.random.Generator(np.random.PCG64([seed, step, 31]))
    drop = (rng.random(len(given)) < share) & given
    if not drop.any():
        return vis
    return torch.where(torch.from_numpy(drop)[:, None, None], uncond.expand_as(vis), vis)


class CaptionEncoder:
    """Features of captions written during training (caption swap), from the same text graph
    the table was computed with, each text encoded once."""

    def __init__(self, export_dir: Path):
        self.export_dir = export_dir
        self.cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        new = sorted({t for t in texts if t not in self.cache})
        if new:
            f, m = caption_features(self.export_dir / "text_encoder.int8.onnx",
                                    self.export_dir / "tokenizer.json", new)
            for t, fi, mi in zip(new, f, m):
                self.cache[t] = (torch.from_numpy(fi.astype(np.float32)),
                                 torch.from_numpy(mi.astype(np.float32)))
        return [self.cache[t] for t in texts]


class Sources:
    """One or two rendered sets; with two, `frac` of every batch comes from the second (e.g.
    extra clips of the sparse one-shot classes), both drawn deterministically per step.
    `caption_swap` > 0 rewrites that share of the (kept) captions with another wording of the
    same classes (captions.paraphrase), from a generator of its own so that 0 leaves the
    batches exactly as before."""

    def __init__(self, dirs: list[Path], export_dir: Path, frac: float, drop_visual: float = 0.15,
                 caption_swap: float = 0.0, t_loc: float = 0.0):
        self.sets = []
        for d in dirs:
            meta = json.loads((d / "meta.json").read_text())
            self.sets.append((np.load(d / "latents.npy", mmap_mode="r"),
                              np.load(d / "frames.npy", mmap_mode="r"),
                              *text_table(d, export_dir), [c["events"] for c in meta["clips"]],
                              meta["clips"]))
        self.strengths: list[list[list[float]]] | None = None
        self.frac = frac
        self.drop_visual = drop_visual
        self.caption_swap = caption_swap
        self.t_loc = t_loc
        if caption_swap > 0:
            self.pools = pools()
            self.encode = CaptionEncoder(export_dir)

    def _swap(self, key: int, seed: int, b: list, idx, drop_t, clips) -> None:
        rng = np.random.Generator(np.random.PCG64([seed, key, 17]))
        rows, texts = [], []
        for r, i in enumerate(idx):
            if rng.random() < self.caption_swap and not drop_t[r] and clips[i]["cls"] in self.pools:
                rows.append(r)
                texts.append(paraphrase(clips[i]["caption"], clips[i]["cls"], rng, self.pools))
        for r, (f, m) in zip(rows, self.encode(texts)):
            b[1][r], b[2][r] = f, m

    def with_strengths(self) -> None:
        """Marker strengths of every clip's events (event_strengths), computed once."""
        self.strengths = [[event_strengths(st[0][i], st[6][i]) for i in range(len(st[6]))]
                          for st in self.sets]

    def draw(self, step: int, seed: int, batch: int, crop: int):
        n2 = round(batch * self.frac) if len(self.sets) > 1 else 0
        parts = []
        for j, nb in ((0, batch - n2), (1, n2)):
            if nb == 0:
                continue
            lat, frm, feats, masks, clip_cap, unc, events, clips = self.sets[j]
            key = step if j == 0 else step + 10 ** 7
            *b, idx, off, drop_t = draw_batch(key, seed, nb, crop, lat, frm, feats, masks,
                                              clip_cap, unc, with_index=True,
                                              drop_visual=self.drop_visual, t_loc=self.t_loc)
            if self.caption_swap > 0:
                self._swap(key, seed, b, idx, drop_t, clips)
            st = ([self.strengths[j][i] for i in idx] if self.strengths is not None
                  else [[] for _ in idx])
            parts.append((b, [events[i] for i in idx], off, st))
        cat = [torch.cat([p[0][k] for p in parts]) if k != 7 else
               np.concatenate([p[0][k] for p in parts]) for k in range(8)]
        events = [e for p in parts for e in p[1]]
        offs = np.concatenate([p[2] for p in parts])
        self.last_strengths = [s for p in parts for s in p[3]]
        return cat, events, offs


def init_from(model: FoleyTiny, state: dict) -> None:
    """Load a checkpoint's weights; a model with the event input may start from one without
    it (the event encoder then keeps its zero-output initialisation), nothing else may differ."""
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:          # shapes differ: another configuration
        raise SystemExit(f"--init does not fit this model: {str(exc).splitlines()[1:3]}") from None
    bad = [k for k in missing if not k.startswith("denoiser.events.")] + list(unexpected)
    if bad:
        raise SystemExit(f"--init does not fit this model: {bad[:5]}")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=Path("runs/foley-tiny"))
    ap.add_argument("--data", type=Path, default=DATA / "train")
    ap.add_argument("--export-dir", type=Path, default=Path("runs/export"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=200, help="latent frames per training example")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--max-minutes", type=float, default=1e9)
    ap.add_argument("--threads", type=int, default=2)
    # Fine-tuning (defaults keep the original recipe):
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint's EMA weights (fresh optimiser, step 0)")
    ap.add_argument("--extra-data", type=Path, default=None,
                    help="second rendered set mixed into every batch (see --extra-frac)")
    ap.add_argument("--extra-frac", type=float, default=0.5)
    ap.add_argument("--onset-weight", type=float, default=0.0,
                    help="extra loss weight on the latent frames around event onsets")
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--drop-visual", type=float, default=0.15,
                    help="probability of replacing the visual condition by the learned "
                         "unconditional vector (trains the prompt-only branch that separate "
                         "visual guidance uses)")
    ap.add_argument("--caption-swap", type=float, default=0.0,
                    help="share of captions rewritten with another wording of the same class "
                         "(captions.py); tried for unseen prompts, no gain measured (MODEL_CARD)")
    ap.add_argument("--t-loc", type=float, default=0.0,
                    help="location of the logit-normal training time distribution (0: centred; "
                         "negative: more steps near the noise end, where events get placed)")
    # Spotting markers (an event track input; engine/events.py). Defaults: no such input.
    ap.add_argument("--events", action="store_true",
                    help="give the denoiser the event track input and train it on markers made "
                         "from each clip's true event times (MarkerAugment)")
    ap.add_argument("--marker-drop", type=float, default=MarkerAugment.drop,
                    help="share of rows trained without markers (picture-only generation)")
    ap.add_argument("--marker-jitter-ms", type=float, default=MarkerAugment.jitter_ms)
    ap.add_argument("--marker-miss", type=float, default=MarkerAugment.miss)
    ap.add_argument("--marker-extra", type=float, default=MarkerAugment.extra)
    ap.add_argument("--marker-mismatch", type=float, default=0.0,
                    help="share of rows with markers whose picture is another row's clip: the "
                         "markers are then the only right timing, as on real footage where "
                         "the picture's motion is not where the sounds are")
    ap.add_argument("--extra-marker-drop", type=float, default=None,
                    help="share of the --extra-data rows trained without markers (default: "
                         "--marker-drop); 0 for clips whose picture cannot show every event")
    ap.add_argument("--marker-drop-visual", type=float, default=0.0,
                    help="share of rows with markers trained without their picture (the "
                         "unconditional vector): the markers alone must place the events")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop after this step (the learning-rate schedule stays that of "
                         "--steps): to end a phase where a recipe switches settings")
    ap.add_argument("--event-lr", type=float, default=None,
                    help="learning rate of the new event encoder (default: --lr)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    a.run.mkdir(parents=True, exist_ok=True)

    src = Sources([a.data] + ([a.extra_data] if a.extra_data else []), a.export_dir, a.extra_frac,
                  a.drop_visual, a.caption_swap, a.t_loc)
    cfg = Config(frame_size=src.sets[0][1].shape[2],
                 event_channels=EVENT_CHANNELS if a.events else 0)
    aug = MarkerAugment(a.marker_drop, a.marker_jitter_ms, a.marker_miss, a.marker_extra)
    if a.events:
        src.with_strengths()
    model = FoleyTiny(cfg)
    ema = FoleyTiny(cfg)
    if a.init is not None and not (a.run / "ckpt.pt").exists():
        init_from(model, torch.load(a.init, weights_only=True)["ema"])
    ema.load_state_dict(model.state_dict())
    new = [p for n, p in model.named_parameters() if n.startswith("denoiser.events.")]
    old = [p for n, p in model.named_parameters() if not n.startswith("denoiser.events.")]
    groups = [{"params": old, "scale": 1.0}]
    if new:
        groups.append({"params": new, "scale": (a.event_lr or a.lr) / a.lr})
    opt = torch.optim.AdamW(groups, lr=a.lr, weight_decay=0.01, betas=(0.9, 0.99))
    step = 0
    ck = a.run / "ckpt.pt"
    if ck.exists():
        s = torch.load(ck, weights_only=True)
        model.load_state_dict(s["model"])
        ema.load_state_dict(s["ema"])
        opt.load_state_dict(s["opt"])
        step = s["step"]
        torch.set_rng_state(s["torch_rng"])
        print(f"resumed at step {step}", flush=True)
    config = {**cfg.to_dict(), **{k: str(v) for k, v in vars(a).items()}}
    (a.run / "config.json").write_text(json.dumps(config, indent=1))
    t_start = time.time()
    log = open(a.run / "train.log", "a")  # noqa: SIM115 - appended to for the whole run
    losses = []
    end = min(a.steps, a.stop_at) if a.stop_at else a.steps
    while step < end:
        (fr, tf, tm, t, x0, x1, xt, drop_v), events, offs = src.draw(step, a.seed, a.batch, a.crop)

        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.5 * (1 + math.cos(math.pi * step / a.steps)) * 0.9 + 0.1)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("scale", 1.0)
        vis = model.visual(fr)                                                      # [B,T,D]
        dv = torch.from_numpy(drop_v)[:, None, None]
        vis = torch.where(dv, model.uncond_visual.expand_as(vis), vis)
        ev = None
        if a.events:
            drop = None
            if a.extra_marker_drop is not None and len(src.sets) > 1:
                n2 = round(a.batch * a.extra_frac)       # Sources.draw: the last rows
                drop = np.array([aug.drop] * (len(events) - n2) + [a.extra_marker_drop] * n2)
            ev, given = event_tracks(step, a.seed, events, src.last_strengths, offs, x1.shape[2],
                                     aug, drop)
            if a.marker_mismatch > 0:
                vis = mismatch_pictures(vis, given, step, a.seed, a.marker_mismatch)
            if a.marker_drop_visual > 0:
                vis = drop_pictures(vis, model.uncond_visual, given, step, a.seed,
                                    a.marker_drop_visual)
        v = model.denoiser(xt, t, tf, tm, vis, ev)
        if a.onset_weight > 0:
            w = onset_weights(events, range(len(events)), offs, x1.shape[2], a.onset_weight)
            loss = ((v - (x1 - x0)) ** 2 * w).mean() / w.mean()
        else:
            loss = F.mse_loss(v, x1 - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        losses.append(loss.item())
        if step % 10 == 0:
            el = time.time() - t_start
            msg = f"step {step} loss {np.mean(losses):.4f} lr {lr:.2e} elapsed {el:.0f}s"
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
            losses = []
        stop = (time.time() - t_start) / 60 > a.max_minutes
        if step % a.ckpt_every == 0 or step == end or stop:
            tmp = a.run / "ckpt.tmp"
            torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                        "step": step, "cfg": cfg.to_dict(), "torch_rng": torch.get_rng_state()}, tmp)
            os.replace(tmp, ck)
            if step % 500 == 0:
                torch.save({"ema": ema.state_dict(), "step": step, "cfg": cfg.to_dict()},
                           a.run / f"ema_{step:06d}.pt")
        if stop:
            print(f"time limit reached at step {step}", flush=True)
            break


if __name__ == "__main__":
    main()
