#!/usr/bin/env python3
"""Issue #23's done-when, end to end as an editor runs it: do the takes' hits land on the
picture of real clips, with auto-spot alone and with the annotated (editor-corrected) markers?

For every clip of resources/spotting/real_eval.json with events, the real CLI is run
(`foley-desktop generate CLIP --start --end --markers auto|T1,T2,..|none [--spot-roi]
[--mode library]`), the written WAV is read back with soundfile, its onsets are detected
(spotting.onsets) and matched against the annotated event times (onset F1 at +-40 / +-100 ms).
Conditions: model takes (shipped foley-tiny) with auto-spot markers, with the annotated
markers, and without markers; library takes with auto-spot markers and with the annotated
markers when a sound library is indexed (`--data DIR` points the app data folder at one,
e.g. one where `library add --starter` indexed the starter library).

    python scripts/eval_spot_to_take.py [--seeds 2] [--split all|dev|heldout] [--json OUT]

Prints a table per clip and the means per split; nothing here chooses anything, so the
held-out rows are as blind as the detector and the model they run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from foley_desktop.spotting.evaluate import load_clips
from foley_desktop.spotting.onsets import detect_onsets, onset_f1

# The prompt an editor would type for each kind of annotated event.
PROMPTS = {"footstep": "footsteps on gravel", "hit": "a heavy impact", "other": "keyboard typing"}
TOLS = (0.04, 0.1)


def run_take(clip, markers: str, mode: str, seed: int, out: Path, env: dict) -> np.ndarray | None:
    kind = max(set(clip.kinds), key=clip.kinds.count)
    cmd = [sys.executable, "-m", "foley_desktop", "generate", str(clip.path),
           "--start", f"{clip.start:.3f}", "--end", f"{clip.end:.3f}",
           "--prompt", PROMPTS[kind], "--markers", markers, "--seed", str(seed),
           "--mode", mode, "-o", str(out)]
    if clip.roi and markers == "auto":
        cmd += ["--spot-roi", ",".join(str(int(v)) for v in clip.roi)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        print(f"  {clip.id} {mode} {markers[:12]}: {r.stderr.strip().splitlines()[-1]}",
              file=sys.stderr)
        return None
    audio, sr = soundfile.read(out, dtype="float32")
    return detect_onsets(audio, sr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--split", default="all", choices=["all", "dev", "heldout"])
    ap.add_argument("--data", type=Path, help="the app data folder (FOLEY_DESKTOP_DATA) holding an indexed library")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--conditions", default="model/auto,model/annotated,model/none,library/auto,"
                    "library/annotated", help="MODE/MARKERS pairs to run (comma-separated)")
    a = ap.parse_args(argv)
    env = dict(os.environ)
    if a.data:
        env["FOLEY_DESKTOP_DATA"] = str(a.data)
    clips, missing = load_clips(a.split)
    if missing:
        print(f"media missing for {', '.join(missing)} (scripts/fetch_real_footage.sh)",
              file=sys.stderr)
    clips = [c for c in clips if len(c.events)]
    conditions = [tuple(c.split("/")) for c in a.conditions.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            truth = clip.events - clip.start
            annotated = ",".join(f"{t:.3f}" for t in clip.events)
            row: dict = {"id": clip.id, "split": clip.split, "events": len(truth)}
            for mode, cond in conditions:
                markers = annotated if cond == "annotated" else cond
                scores = []
                for seed in range(1, a.seeds + 1):
                    est = run_take(clip, markers, mode, seed, Path(tmp) / "t.wav", env)
                    if est is None:
                        break
                    scores.append([onset_f1(truth, est, tol + 1e-6) for tol in TOLS])
                row[f"{mode}/{cond}"] = (np.mean(scores, axis=0).round(3).tolist()
                                         if scores else None)
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for split in ("dev", "heldout"):
        part = [r for r in rows if r["split"] == split]
        for mode, cond in conditions:
            k = f"{mode}/{cond}"
            vals = [r[k] for r in part if r[k] is not None]
            if vals:
                summary[f"{split} {k}"] = np.mean(vals, axis=0).round(3).tolist()
    print("\nmean onset F1 [+-40 ms, +-100 ms] per split and condition")
    for k, v in summary.items():
        print(f"  {k:28s} {v}")
    if a.json:
        a.json.write_text(json.dumps({"clips": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
