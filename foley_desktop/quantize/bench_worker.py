"""One bench measurement of one variant, in a fresh process (so its peak RSS is its own).

    python -m foley_desktop.quantize.bench_worker '<json spec>'   -> one JSON line on stdout

The spec names the package, the variant, threads, provider, the input (clip, prompt, segment,
steps, seed) and where to save the first take's audio. The first end-to-end run records every
graph's real inputs (calibrate.Recorder); the stages are then timed alone on those inputs.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.engine.package import load_package
from foley_desktop.quantize.calibrate import Recorder
from foley_desktop.quantize.views import variant_view


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(spec: dict) -> dict:
    rss0 = rss_bytes()
    pkg = load_package(spec["package"])
    view, picked = variant_view(pkg, spec["variant"])
    t0 = time.perf_counter()
    engine = Engine(view, precision="auto", provider=spec["provider"], threads=spec["threads"])
    load_s = time.perf_counter() - t0
    rss_loaded = rss_bytes()
    req = GenerateRequest(video=Path(spec["video"]) if spec.get("video") else None,
                          start=spec["start"], end=spec["end"], prompt=spec["prompt"],
                          seeds=[spec["seed"]], steps=spec.get("steps"))
    # Warm-up run, recording each graph's real inputs for the stage timings.
    records: dict[str, list] = {}
    originals = dict(engine.sessions)
    for role, sess in originals.items():
        engine.sessions[role] = Recorder(sess, records.setdefault(role, []))
    for s in engine.streams.values():
        if s.encoder is not None:
            s.encoder = engine.sessions[s.stream.graph]
    first = generate(req, engine=engine)
    engine.sessions.update(originals)
    for s in engine.streams.values():
        if s.encoder is not None:
            s.encoder = originals[s.stream.graph]
    np.save(spec["audio_out"], first.takes[0].audio)

    rss_first = rss_bytes()
    e2e: list[float] = []
    stages: dict[str, list[float]] = {role: [] for role, r in records.items() if r}
    engine_timings: list[dict] = []
    for _ in range(spec["reps"]):
        t0 = time.perf_counter()
        res = generate(req, engine=engine)
        e2e.append(time.perf_counter() - t0)
        engine_timings.append(res.timings)
        for role, times in stages.items():
            feeds = records[role][len(records[role]) // 2]       # mid-trajectory for the denoiser
            for _ in range(spec.get("stage_reps", 3)):
                t0 = time.perf_counter()
                originals[role].run(feeds)
                times.append(time.perf_counter() - t0)
    same = bool(np.array_equal(res.takes[0].audio, first.takes[0].audio))
    others = [f"{r} {p}" for r, p in engine.variants.items() if p != spec["variant"]]
    label = spec["variant"] + (f" ({', '.join(others)})" if others else "")
    return {"variant": spec["variant"], "label": label, "graphs": picked,
            "provider": engine.provider, "fallback_reason": engine.fallback_reason,
            "threads": spec["threads"], "load_s": load_s, "end_to_end_s": e2e,
            "stage_s": stages, "denoiser_runs": len(records.get("denoiser", [])),
            "steps": first.steps, "engine_timings": engine_timings, "deterministic": same,
            "rss_before_load": rss0, "rss_after_load": rss_loaded, "rss_after_first_run": rss_first,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))  # noqa: T201 - read by the parent
