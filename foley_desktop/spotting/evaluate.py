"""Score auto-spot on real footage against event times annotated from the picture.

    python -m foley_desktop.spotting.evaluate [--split dev|heldout|all] [--json]
    python -m foley_desktop.spotting.evaluate --calibrate     # choose thresholds on dev only

For every clip of resources/spotting/real_eval.json (media fetched by
scripts/fetch_real_footage.sh) it prints onset F1 at +-40 and +-100 ms of: auto-spot; naive
frame-difference peaks; random onsets at the annotated density (mean over 20 fixed seeds); and
the clip's own audio track where it has one (spotting/onsets on it). Clips where nothing should
be spotted (talking heads, silent motion) report events per 10 s instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from foley_desktop.errors import FoleyError
from foley_desktop.fsutil import atomic_write
from foley_desktop.media import probe, read_audio
from foley_desktop.media.timebase import seconds_to_samples

from . import detect
from .onsets import detect_onsets, onset_f1

ANNOTATIONS = detect.PARAMS_FILE.parent / "real_eval.json"
TOLS = (0.04, 0.1)
# Times are floats made from frame numbers and fps: an estimate exactly one 10 fps frame off
# lands on the +-100 ms boundary, and rounding must not decide whether it counts.
SLACK = 1e-6
RANDOM_SEEDS = 20


def media_root() -> Path:
    base = Path(os.environ.get("FOLEY_MEDIA_DIR", Path.home() / ".cache/foley-desktop/media"))
    return base / "root"


@dataclass
class Clip:
    id: str
    path: Path
    start: float
    end: float
    split: str
    events: np.ndarray
    kinds: list[str]
    roi: tuple[int, int, int, int] | None

    @property
    def duration(self) -> float:
        return self.end - self.start


def load_clips(split: str = "all", root: Path | None = None) -> tuple[list[Clip], list[str]]:
    """(clips whose media are present, ids of clips whose media are missing)."""
    root = media_root() if root is None else root
    data = json.loads(ANNOTATIONS.read_text(encoding="utf-8"))
    clips, missing = [], []
    for c in data["clips"]:
        if split != "all" and c["split"] != split:
            continue
        p = root / c["path"]
        if not p.exists():
            missing.append(c["id"])
            continue
        clips.append(Clip(c["id"], p, float(c["start"]), float(c["end"]), c["split"],
                          np.array([e["t"] for e in c["events"]], np.float64),
                          [e["kind"] for e in c["events"]],
                          tuple(c["roi"]) if c.get("roi") else None))
    return clips, missing


def clip_candidates(clip: Clip) -> detect.Candidates:
    return detect.candidates(clip.path, seconds_to_samples(round(clip.start, 6)),
                             seconds_to_samples(round(clip.end, 6)), clip.roi)


def frame_difference_peaks(c: detect.Candidates, min_gap_s: float = 0.2) -> np.ndarray:
    """The naive baseline: peaks of the mean absolute frame difference above mean + 1 std."""
    fd = c.frame_diff
    if len(fd) < 3:
        return np.zeros(0)
    thr = fd.mean() + fd.std()
    idx = [i for i in range(1, len(fd) - 1)
           if fd[i] >= thr and fd[i] >= fd[i - 1] and fd[i] > fd[i + 1]]
    kept: list[int] = []
    for i in sorted(idx, key=lambda i: -fd[i]):
        if all(abs(c.times_s[i] - c.times_s[j]) >= min_gap_s for j in kept):
            kept.append(i)
    return np.sort(c.times_s[kept]) if kept else np.zeros(0)


def random_f1(clip: Clip, tol: float) -> float:
    scores = []
    for seed in range(RANDOM_SEEDS):
        rng = np.random.default_rng(seed)
        est = np.sort(rng.uniform(clip.start, clip.end, len(clip.events)))
        scores.append(onset_f1(clip.events, est, tol + SLACK))
    return float(np.mean(scores))


def track_onsets(clip: Clip) -> np.ndarray | None:
    info = probe(clip.path)
    if info.audio is None:
        return None
    a0 = seconds_to_samples(round(clip.start, 6))
    audio = read_audio(clip.path, a0, seconds_to_samples(round(clip.end, 6)), mono=True)[0]
    return detect_onsets(audio) + clip.start


def _per10(n: int, clip: Clip) -> float:
    return round(10.0 * n / clip.duration, 2)


def score_clip(clip: Clip, c: detect.Candidates, params: dict) -> dict:
    auto = np.array([t for t, _, _ in detect.select(c, params)])
    kinds = [k for _, k, _ in detect.select(c, params)]
    fdiff = frame_difference_peaks(c)
    track = track_onsets(clip)
    row: dict = {"id": clip.id, "split": clip.split, "n_events": len(clip.events),
                 "n_auto": len(auto), "seconds": round(clip.duration, 2)}
    if len(clip.events) == 0:
        row["per10s"] = {"auto": _per10(len(auto), clip), "frame_diff": _per10(len(fdiff), clip),
                         "track": None if track is None else _per10(len(track), clip)}
        return row
    for tol in TOLS:
        key = f"f1_{round(tol * 1000)}ms"
        row[key] = {"auto": round(onset_f1(clip.events, auto, tol + SLACK), 3),
                    "frame_diff": round(onset_f1(clip.events, fdiff, tol + SLACK), 3),
                    "random": round(random_f1(clip, tol), 3),
                    "track": None if track is None else round(onset_f1(clip.events, track,
                                                                       tol + SLACK), 3)}
    # Kind agreement on the events auto-spot found (nearest within 100 ms).
    agree = total = 0
    for t, k in zip(clip.events, clip.kinds, strict=True):
        if len(auto):
            j = int(np.argmin(np.abs(auto - t)))
            if abs(auto[j] - t) <= 0.1 + SLACK:
                total += 1
                agree += kinds[j] == k
    row["kind_agreement"] = f"{agree}/{total}"
    return row


def summarise(rows: list[dict]) -> dict:
    out = {}
    for split in ("dev", "heldout"):
        ev = [r for r in rows if r["split"] == split and r["n_events"]]
        neg = [r for r in rows if r["split"] == split and not r["n_events"]]
        s: dict = {}
        if ev:
            for m in ("auto", "frame_diff", "random"):
                s[f"mean_f1_100ms_{m}"] = round(float(np.mean([r["f1_100ms"][m] for r in ev])), 3)
                s[f"mean_f1_40ms_{m}"] = round(float(np.mean([r["f1_40ms"][m] for r in ev])), 3)
            s["clips_below_frame_diff"] = [r["id"] for r in ev
                                           if r["f1_100ms"]["auto"] < r["f1_100ms"]["frame_diff"]]
        if neg:
            s["max_auto_per10s_on_negatives"] = max(r["per10s"]["auto"] for r in neg)
        out[split] = s
    return out


def calibrate(clips: list[Clip], cands: dict[str, detect.Candidates]) -> dict:
    """Thresholds maximising mean dev F1 at +-100 ms with at most 1 event per 10 s on the dev
    clips where nothing happens (ties go to the higher, more conservative thresholds)."""
    base = detect.load_params()
    best = None
    for stop in np.round(np.arange(0.4, 4.01, 0.1), 2):
        for stride in np.round(np.arange(0.04, 0.61, 0.02), 2):
            p = {**base, "stop": float(stop), "stride": float(stride)}
            f1s, worst_neg = [], 0.0
            for cl in clips:
                est = np.array([t for t, _, _ in detect.select(cands[cl.id], p)])
                if len(cl.events):
                    f1s.append(onset_f1(cl.events, est, 0.1 + SLACK))
                else:
                    worst_neg = max(worst_neg, 10 * len(est) / cl.duration)
            ok = worst_neg <= 1.0
            key = (ok, round(float(np.mean(f1s)), 4) if f1s else 0.0, stop + stride)
            if best is None or key > best[0]:
                best = (key, p, worst_neg)
    (ok, f1, _), p, worst = best
    return {"params": p, "dev_mean_f1_100ms": f1, "dev_max_per10s_on_negatives": round(worst, 2),
            "chosen_on": [c.id for c in clips],
            "how": "grid search over the stop and stride thresholds on the dev clips only"}


def _fmt(v) -> str:
    return "  -  " if v is None else f"{v:5.2f}"


def print_table(rows: list[dict], summary: dict, missing: list[str], out=sys.stdout) -> None:
    print("clip                              split    n  |  F1 +-40 ms: auto fdiff  rand track"
          " |  F1 +-100 ms: auto fdiff  rand track", file=out)
    for r in rows:
        if r["n_events"]:
            a, b = r["f1_40ms"], r["f1_100ms"]
            print(f"{r['id']:33s} {r['split']:7s} {r['n_events']:2d}  |  "
                  f"{_fmt(a['auto'])} {_fmt(a['frame_diff'])} {_fmt(a['random'])} {_fmt(a['track'])}"
                  f"  |  {_fmt(b['auto'])} {_fmt(b['frame_diff'])} {_fmt(b['random'])} "
                  f"{_fmt(b['track'])}   (auto found {r['n_auto']}, kinds {r['kind_agreement']})",
                  file=out)
    for r in rows:
        if not r["n_events"]:
            p = r["per10s"]
            print(f"{r['id']:33s} {r['split']:7s}  0  |  events per 10 s: auto {p['auto']:.2f}, "
                  f"frame diff {p['frame_diff']:.2f}, track onsets "
                  f"{'-' if p['track'] is None else format(p['track'], '.2f')}", file=out)
    for split, s in summary.items():
        if s:
            print(f"{split}: " + ", ".join(f"{k} {v}" for k, v in s.items()), file=out)
    if missing:
        print("missing media (run scripts/fetch_real_footage.sh): " + ", ".join(missing), file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m foley_desktop.spotting.evaluate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("dev", "heldout", "all"), default="all")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--calibrate", action="store_true",
                    help="choose the detector's thresholds on the dev clips and write "
                         "resources/spotting/detector.json")
    args = ap.parse_args(argv)
    try:
        if args.calibrate:
            clips, missing = load_clips("dev")
            if missing:
                raise FoleyError("calibration needs every dev clip; missing: " + ", ".join(missing))
            cands = {c.id: clip_candidates(c) for c in clips}
            result = calibrate(clips, cands)
            with atomic_write(detect.PARAMS_FILE, "w") as f:
                f.write(json.dumps(result, indent=1) + "\n")
            print(json.dumps(result, indent=1))
            return 0
        clips, missing = load_clips(args.split)
        params = detect.load_params()
        rows = [score_clip(c, clip_candidates(c), params) for c in clips]
        summary = summarise(rows)
        if args.json:
            print(json.dumps({"params": params, "clips": rows, "summary": summary,
                              "missing": missing}, indent=1))
        else:
            print_table(rows, summary, missing)
        return 0
    except FoleyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
