"""Renders the paired training / evaluation sets to disk (memory-mapped shards).

Layout under DATA/<name>/: latents.npy float16 [N, 64, F], frames.npy uint8 [N, T, S, S, 3],
meta.json (caption, class, event samples per clip). Deterministic by seed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import codec
from .paths import DATA
from .scenes import FPS, SIZE, Scene
from .sounds import cached_bank, extra_sources

# One-shot classes with few events per clip: the shipped model puts extra bursts between their
# events. The fine-tune mixes in extra clips of these (render_set(..., names=SPARSE_CLASSES)).
SPARSE_CLASSES = ("dog_bark", "door_close", "door_open", "explosion", "glass_break", "impact",
                  "metal_hit", "water_drop")


def render_set(name: str, split: str, n: int, seconds: float, seed: int, aug: bool,
               keep_audio: bool = False, names: tuple[str, ...] | None = None,
               cross: bool = False) -> Path:
    """`cross`: Scene.make_cross clips (the picture shows another kind of event at the sound's
    times) of the event classes, in turn."""
    out = DATA / name
    if (out / "meta.json").exists():
        made = json.loads((out / "meta.json").read_text()).get("extra_sources", False)
        if split == "train" and made != extra_sources():
            raise SystemExit(f"{out} was rendered with FOLEY_EXTRA_SOURCES={int(made)}: "
                             "render into another FOLEY_TRAIN_DATA folder")
        return out
    out.mkdir(parents=True, exist_ok=True)
    scene = Scene(cached_bank(), split, seconds)
    pick = [c for c in scene.names if (names is None or c in names)
            and (not cross or scene.cls[c].kind == "event")]
    rng = np.random.Generator(np.random.PCG64(seed))
    n_lat = scene.n // codec.HOP
    lat = np.lib.format.open_memmap(out / "latents.npy", "w+", np.float16, (n, codec.N_BANDS, n_lat))
    frm = np.lib.format.open_memmap(out / "frames.npy", "w+", np.uint8, (n, scene.t, SIZE, SIZE, 3))
    aud = (np.lib.format.open_memmap(out / "audio.npy", "w+", np.float32, (n, scene.n))
           if keep_audio else None)
    meta = []
    t0 = time.time()
    for i in range(n):
        # Classes in turn so every class is equally represented.
        clip = (scene.make_cross(rng, pick[i % len(pick)], aug=aug) if cross else
                scene.make(rng, pick[i % len(pick)], aug=aug, mix_p=0.25 if aug else 0.0))
        lat[i] = codec.encode(clip.audio)[:, :n_lat]
        frm[i] = clip.frames
        if aud is not None:
            aud[i] = clip.audio
        meta.append({"caption": clip.caption, "cls": clip.cls, "events": clip.events})
        if i % 200 == 0:
            print(f"{name}: {i}/{n} {time.time() - t0:.0f}s", flush=True)
    lat.flush()
    frm.flush()
    (out / "meta.tmp").write_text(json.dumps({"fps": FPS, "size": SIZE, "seconds": seconds,
                                              "split": split, "seed": seed,
                                              "extra_sources": extra_sources(), "clips": meta}))
    (out / "meta.tmp").rename(out / "meta.json")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-clips", type=int, default=2400)
    ap.add_argument("--eval-clips", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--val-clips", type=int, default=0,
                    help="also render data/val: 8 s clips like data/eval but from TRAINING "
                         "recordings with another seed (seed + 7), for choosing inference "
                         "settings without looking at the held-out evaluation set")
    ap.add_argument("--sparse-clips", type=int, default=0,
                    help="also render data/train_sparse: 4 s training clips of the sparse one-shot "
                         "classes only (seed + 11), mixed into fine-tuning batches")
    ap.add_argument("--cross-clips", type=int, default=0,
                    help="also render data/train_cross: 4 s training clips whose picture shows "
                         "another kind of event at the sound's times (seed + 13), mixed into "
                         "the marker fine-tune so that the prompt, not the picture, decides "
                         "what is heard")
    a = ap.parse_args(argv)
    if a.cross_clips:
        render_set("train_cross", "train", a.cross_clips, 4.0, a.seed + 13, aug=True, cross=True)
    if a.sparse_clips:
        render_set("train_sparse", "train", a.sparse_clips, 4.0, a.seed + 11, aug=True,
                   names=SPARSE_CLASSES)
    if a.val_clips:
        render_set("val", "train", a.val_clips, 8.0, a.seed + 7, aug=False, keep_audio=True)
    render_set("eval", "eval", a.eval_clips, 8.0, a.seed + 1, aug=False, keep_audio=True)
    render_set("train", "train", a.train_clips, 4.0, a.seed, aug=True)


if __name__ == "__main__":
    main()
