#!/usr/bin/env python3
"""INT8 against FP32 for the HunyuanVideo-Foley denoiser at the published width.

    python scripts/bench_hunyuan_int8.py [--workdir DIR] [--triple 2 --single 4] [--frames 400]
        [--reps 3] [--threads 1,2] [--json]

Needs the train extra (torch). Steps:

1. a random checkpoint with the reference's names and shapes at the published XXL width
   (hidden 1536, 12 heads) but a chosen depth (default 2 triple + 4 single blocks: 0.58 B
   parameters, a 2.3 GB float32 graph, so external data as at full size), bf16 as published;
2. the project's converter (`convert.export_denoiser`, the same code as `convert hunyuan`),
   with its check against PyTorch, and every INT8 recipe the project ships
   (`stream.to_int8`) plus onnxruntime's `quantize_dynamic` (per-tensor and per-channel) as
   references;
3. one denoiser evaluation per variant at batch 2 (the two guidance halves) x --frames latent
   frames (400 = 8 s), 77 text tokens, 8 SigLIP2 tokens per second and the reference's number
   of Synchformer tokens, each in a fresh process (so its peak RSS is its own), interleaved:
   every repetition runs every variant at every thread count before the next repetition, so
   that the load of a shared machine falls on all of them alike. Each process times two
   evaluations and keeps the second (the first also sizes onnxruntime's arena).

Prints a table of medians (time, speedup vs FP32 at the same thread count, the median of the
per-repetition ratios FP32 / variant ("paired": each pair ran back to back, so a shared
machine's load disturbs it least), peak RSS, file size, relative L2 of the velocity vs FP32)
and with --json one JSON object whose keys include `speedup_int8_vs_fp32`,
`speedup_int8_vs_fp32_paired`, `size_ratio_int8_vs_fp32`, `memory_ratio_int8_vs_fp32` and
`rel_l2_int8_vs_fp32` (the shipped INT8 recipe against FP32 at 1 thread).

Run time on a 2-core machine: 1-4 min to write and convert, 1-4 min more for onnxruntime's
reference quantisations, then 1-3 min per repetition at the default size (FP32 dominates);
the ranges are a shared machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHIPPED = "int8"          # the recipe `convert hunyuan --precision int8` writes


def write_checkpoint(cfg, path: Path, seed: int = 0) -> int:
    """Random bf16 weights under the reference's names: matrices N(0, 0.02^2) (a trained
    transformer's scale), norm scales 1, biases N(0, 0.02^2). Returns the parameter count."""
    import torch

    from foley_desktop.convert.hunyuan_model import HunyuanFoleyDenoiser

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in HunyuanFoleyDenoiser(cfg).state_dict().items()}
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, s in shapes.items():
        if "norm" in k and len(s) == 1:
            state[k] = torch.ones(s, dtype=torch.bfloat16)
        else:
            state[k] = (torch.randn(s, generator=g) * 0.02).to(torch.bfloat16)
    torch.save(state, path)
    return sum(int(np.prod(s)) for s in shapes.values())


def inputs(cfg, frames: int, seed: int = 1) -> dict[str, np.ndarray]:
    from foley_desktop.convert.hunyuan_model import sync_tokens_for_frames

    rng = np.random.default_rng(seed)
    mask = np.zeros((2, 77), np.float32)
    mask[0, :12] = 1   # a prompt and the negative prompt, padded to 77 as the engine does
    mask[1, :5] = 1
    return {"x": rng.standard_normal((2, cfg.audio_vae_latent_dim, frames)).astype(np.float32),
            "t": np.array([700.0, 700.0], np.float32),
            "text_features": rng.standard_normal((2, 77, cfg.condition_dim)).astype(np.float32),
            "text_mask": mask,
            "siglip2": rng.standard_normal((2, frames * 8 // 50, cfg.clip_dim)).astype(np.float32),
            "synchformer": rng.standard_normal((2, int(sync_tokens_for_frames(frames)),
                                                cfg.sync_feat_dim)).astype(np.float32)}


def graph_bytes(path: Path) -> int:
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def build(work: Path, triple: int, single: int, recipes: list[str]) -> dict[str, Path]:
    """Checkpoint, FP32 graph and the INT8 variants (skipping files already there)."""
    from dataclasses import replace

    from foley_desktop.convert import stream
    from foley_desktop.convert.config import variant_config
    from foley_desktop.convert.convert import export_denoiser

    cfg = replace(variant_config("xxl"), depth_triple_blocks=triple, depth_single_blocks=single)
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "hunyuanvideo_foley.pth"
    fp32 = work / "denoiser.fp32.onnx"
    timings = {}
    if not fp32.exists():
        t0 = time.perf_counter()
        n = write_checkpoint(cfg, ckpt)
        timings["checkpoint_s"] = time.perf_counter() - t0
        print(f"checkpoint: {n / 1e9:.2f} B parameters ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        t0 = time.perf_counter()
        report = {}
        export_denoiser(cfg, ckpt, fp32, report, sync_stream=True)
        print(f"converted ({time.perf_counter() - t0:.0f} s), check vs PyTorch "
              f"{report['checks']['denoiser']:.1e}", file=sys.stderr)
        ckpt.unlink()
    graphs = {"fp32": fp32}
    for r in recipes:
        dst = work / f"denoiser.{r}.onnx"
        graphs[r] = dst
        if dst.exists():
            continue
        t0 = time.perf_counter()
        if r.startswith("ort-"):
            _ort_dynamic(fp32, dst, per_channel=r.endswith("per-channel"))
        elif r == "int8-static":   # in a child, so that its peak memory is its own
            res = run_child({"static": str(fp32), "dst": str(dst), "cfg": [triple, single]})
            STATIC_INFO.update(res)
            print(f"int8-static: calibration + quantisation peak RSS "
                  f"{res['peak_rss_bytes'] / 2**30:.2f} GiB", file=sys.stderr)
        else:
            stream.to_int8(fp32, dst, recipe=r)
        print(f"{r}: written in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    np.savez(work / "inputs.npz", **inputs(cfg, FRAMES))
    return graphs


def _ort_dynamic(src: Path, dst: Path, per_channel: bool) -> None:
    """onnxruntime's own dynamic quantisation with the app's settings (S8 weights, 7-bit range),
    as the reference the project's recipes are compared with."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"], per_channel=per_channel,
                     reduce_range=True, weight_type=QuantType.QInt8, use_external_data_format=True,
                     extra_options={"MatMulConstBOnly": True})


# ---------------------------------------------------------------- one measurement (child)


def peak_rss() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: on Linux that
    survives exec, so a worker started from the converting parent would report the parent's peak."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(spec: dict) -> dict:
    import onnxruntime as ort

    feeds = dict(np.load(spec["inputs"]))
    so = ort.SessionOptions()
    so.intra_op_num_threads = spec["threads"]
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    t0 = time.perf_counter()
    sess = ort.InferenceSession(spec["graph"], so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        out = sess.run(None, feeds)[0]
        runs.append(time.perf_counter() - t0)
    if spec.get("out"):
        np.save(spec["out"], out)
    return {"load_s": load_s, "runs_s": runs, "step_s": runs[-1],
            "peak_rss_bytes": peak_rss()}


STATIC_INFO: dict = {}


def static_worker(spec: dict) -> dict:
    """`foley-desktop quantize --mode int8-static`'s quantizer on the > 2 GB graph, calibrated
    on 4 input sets (two timesteps x two noise draws; the real command records sampler states)."""
    from dataclasses import replace

    from foley_desktop.convert.config import variant_config
    from foley_desktop.quantize import static

    cfg = replace(variant_config("xxl"), depth_triple_blocks=spec["cfg"][0], depth_single_blocks=spec["cfg"][1])
    samples = []
    for seed, t in ((11, 900.0), (12, 500.0), (13, 250.0), (14, 50.0)):
        feeds = inputs(cfg, 100, seed)
        feeds["t"][:] = t
        samples.append(feeds)
    t0 = time.perf_counter()
    static.quantize(Path(spec["static"]), Path(spec["dst"]), samples, ops=("MatMul", "Gemm"))
    return {"seconds": time.perf_counter() - t0, "peak_rss_bytes": peak_rss(), "samples": len(samples)}


def run_child(spec: dict) -> dict:
    res = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                         text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"worker failed for {spec.get('graph', spec.get('static'))}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


FRAMES = 400


def main(argv=None) -> int:
    global FRAMES
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_hunyuan_int8"))
    ap.add_argument("--triple", type=int, default=2)
    ap.add_argument("--single", type=int, default=4)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--recipes", default=None,
                    help="comma-separated INT8 recipes (default: the project's and onnxruntime's)")
    ap.add_argument("--static", action="store_true",
                    help="also static INT8 (calibrated on 4 input sets of 100 frames; minutes, GBs)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(static_worker(spec) if "static" in spec else worker(spec)))
        return 0
    from foley_desktop.convert import stream

    FRAMES = args.frames
    recipes = args.recipes.split(",") if args.recipes else [*stream.INT8_RECIPES, "ort-per-tensor",
                                                             "ort-per-channel"]
    if args.static and "int8-static" not in recipes:
        recipes.append("int8-static")
    threads = [int(t) for t in args.threads.split(",")]
    t_start = time.perf_counter()
    graphs = build(args.workdir / f"d{args.triple}-{args.single}", args.triple, args.single, recipes)
    work = graphs["fp32"].parent
    inp = str(work / "inputs.npz")
    results: dict[tuple[str, int], list[dict]] = {}
    outputs: dict[str, Path] = {}
    for rep in range(args.reps):
        for th in threads:
            for name, g in graphs.items():
                out = None
                if name not in outputs and th == threads[0]:
                    out = work / f"out.{name}.npy"
                    outputs[name] = out
                r = run_child({"graph": str(g), "threads": th, "inputs": inp, "out": str(out) if out else None})
                results.setdefault((name, th), []).append(r)
                print(f"rep {rep + 1} threads {th} {name}: {r['step_s']:.2f} s, "
                      f"peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB", file=sys.stderr)
    ref = np.load(outputs["fp32"])
    table = []
    for (name, th), rs in results.items():
        step = statistics.median(r["step_s"] for r in rs)
        fp = statistics.median(r["step_s"] for r in results[("fp32", th)])
        rss = statistics.median(r["peak_rss_bytes"] for r in rs)
        rss32 = statistics.median(r["peak_rss_bytes"] for r in results[("fp32", th)])
        # FP32 and this variant ran back to back in each repetition: the ratio within a
        # repetition is what the shared machine's load disturbs least
        paired = statistics.median(a["step_s"] / b["step_s"] for a, b in zip(results[("fp32", th)], rs))
        table.append({"variant": name, "threads": th, "step_s": round(step, 3),
                      "speedup_vs_fp32": round(fp / step, 3), "paired_speedup": round(paired, 3),
                      "load_s": round(statistics.median(r["load_s"] for r in rs), 2),
                      "peak_rss_gib": round(rss / 2**30, 3), "rss_ratio": round(rss / rss32, 3),
                      "bytes": graph_bytes(graphs[name]),
                      "size_ratio": round(graph_bytes(graphs[name]) / graph_bytes(graphs["fp32"]), 4),
                      "rel_l2_vs_fp32": round(rel_l2(np.load(outputs[name]), ref), 5),
                      "all_steps_s": [round(r["step_s"], 3) for r in rs]})
    print("| variant | threads | one evaluation (median) | speedup vs FP32 | paired speedup | peak RSS | "
          "RSS ratio | file | size ratio | rel. L2 vs FP32 |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(table, key=lambda r: (r["threads"], r["variant"] != "fp32", r["variant"])):
        print(f"| {r['variant']} | {r['threads']} | {r['step_s']:.2f} s | {r['speedup_vs_fp32']:.2f}x | "
              f"{r['paired_speedup']:.2f}x | "
              f"{r['peak_rss_gib']:.2f} GiB | {r['rss_ratio']:.2f} | {r['bytes'] / 1e9:.2f} GB | "
              f"{r['size_ratio']:.3f} | {r['rel_l2_vs_fp32']:.4f} |")
    best = next(r for r in table if r["variant"] == SHIPPED and r["threads"] == threads[0])
    summary = {"speedup_int8_vs_fp32": best["speedup_vs_fp32"],
               "speedup_int8_vs_fp32_paired": best["paired_speedup"],
               "size_ratio_int8_vs_fp32": best["size_ratio"],
               "memory_ratio_int8_vs_fp32": best["rss_ratio"], "rel_l2_int8_vs_fp32": best["rel_l2_vs_fp32"],
               "shipped_recipe": SHIPPED, "threads": threads, "frames": args.frames, "batch": 2,
               "depth": [args.triple, args.single], "hidden": 1536, "reps": args.reps,
               "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
               "wall_s": round(time.perf_counter() - t_start), "table": table,
               **({"static_quantize": STATIC_INFO} if STATIC_INFO else {})}
    (work / "bench.json").write_text(json.dumps(summary, indent=2))
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
