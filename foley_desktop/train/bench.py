"""Speed benchmark of the shipped package (prints figures; not a test). No torch.

    python -m foley_desktop.train.bench [--package resources/models/foley-tiny] [--threads 2]

1. Denoiser latency per step at batch 2 (cond + uncond), 800 latent frames (8 s), per variant.
2. End to end through the engine: 8 s of audio from the 8 s demo clip, INT8, default steps.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from foley_desktop.engine.package import load_package

from .paths import PACKAGE_DIR, REPO


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", type=Path, default=PACKAGE_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--prompt", default="footsteps on gravel",
                    help="a training caption is used as is; another wording also pays for "
                         "the prompt anchor lookup and one more text-encoder run")
    ap.add_argument("--steps", type=int, default=None, help="default: the package's")
    ap.add_argument("--guidance", type=float, default=None)
    ap.add_argument("--visual-guidance", type=float, default=None,
                    help="separate visual guidance (three batch rows per step)")
    a = ap.parse_args(argv)
    pkg = load_package(a.package)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 64, 800)).astype(np.float32),
             "t": np.array([0.5, 0.5], np.float32),
             "text_features": rng.standard_normal((2, 32, 384)).astype(np.float32),
             "text_mask": np.ones((2, 32), np.float32),
             "visual": rng.standard_normal((2, 200, 128)).astype(np.float32)}
    for prec in pkg.graphs["denoiser"].variants:
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        s = ort.InferenceSession(str(pkg.graph_file("denoiser", prec)), so,
                                 providers=["CPUExecutionProvider"])
        s.run(None, feeds)
        ts = []
        for _ in range(a.repeats * 2):
            t0 = time.perf_counter()
            s.run(None, feeds)
            ts.append(time.perf_counter() - t0)
        print(f"denoiser {prec}: {np.median(ts) * 1000:.1f} ms/step median, "
              f"{min(ts) * 1000:.1f} ms min (batch 2, 800 frames, {a.threads} threads)")
    from foley_desktop.engine.generate import Engine, GenerateRequest, generate
    eng = Engine(pkg, precision="auto", provider="cpu", threads=a.threads)
    demo = REPO / "resources/demo/footsteps_gravel.mp4"
    req = GenerateRequest(video=demo, start=0, end=8 * 48000, prompt=a.prompt, seeds=[0],
                          steps=a.steps, guidance=a.guidance, visual_guidance=a.visual_guidance)
    generate(req, engine=eng)   # warm-up (session init, first-run allocations)
    walls = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        res = generate(req, engine=eng)
        walls.append(time.perf_counter() - t0)
    vg = f", visual guidance {res.visual_guidance:g}" if res.visual_guidance is not None else ""
    print(f"engine generate, 8 s clip -> 8 s audio, {eng.variant}, {res.steps} steps{vg}: "
          f"{np.median(walls):.2f} s median, {min(walls):.2f} s min; prompt read as "
          f"{res.prompt_used!r}; last timings {res.timings}")


if __name__ == "__main__":
    main()
