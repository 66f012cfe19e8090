"""Peak memory against clip length for the long-clip paths: probe, waveform overview (+ the
playback cache), separation and export. Memory should stay flat as the clip grows.

    python scripts/bench_long_clip.py                 # 1, 10, 30 and 60 minutes
    python scripts/bench_long_clip.py --minutes 1 10 --phases probe overview export

Clips are synthetic and small to make: 64x36 video at 5 fps and stereo 16-bit PCM at 48 kHz
in Matroska (noise bursts so separation and the waveform have something to do). Each phase runs
in a fresh subprocess; its peak RSS (ru_maxrss) is printed with the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

PHASES = ("probe", "overview", "separation", "export")


def make_clip(path: Path, minutes: float) -> Path:
    import av
    import numpy as np

    if path.exists():
        return path
    fps, sr, w, h = 5, 48000, 64, 36
    tmp = path.with_suffix(".part.mkv")
    rng = np.random.default_rng(0)
    with av.open(str(tmp), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "40"}
        a = c.add_stream("pcm_s16le", rate=sr)
        a.layout = "stereo"
        seconds = int(minutes * 60)
        img = np.zeros((h, w, 3), np.uint8)
        for s in range(seconds):
            for k in range(fps):
                img[:] = (s * 7 + k) % 256
                f = av.VideoFrame.from_ndarray(img, format="rgb24")
                f.pts = s * fps + k
                f.time_base = Fraction(1, fps)
                for p in v.encode(f):
                    c.mux(p)
            burst = rng.standard_normal((2, sr)).astype(np.float32) * (0.2 if s % 3 else 0.02)
            pcm = (np.clip(burst, -1, 1) * 32767).astype("<i2")
            af = av.AudioFrame.from_ndarray(pcm.T.reshape(1, -1).copy(), format="s16", layout="stereo")
            af.sample_rate = sr
            af.pts = s * sr
            af.time_base = Fraction(1, sr)
            for p in a.encode(af):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    os.replace(tmp, path)
    return path


def run_phase(phase: str, clip: str, work: str) -> dict:
    """Runs inside the child process."""
    t0 = time.perf_counter()
    extra = {}
    if phase == "probe":
        from foley_desktop.media import probe

        probe(clip)
    elif phase == "overview":
        from foley_desktop.app.audio_cache import load_lane_audio

        first = []
        _ov, bed = load_lane_audio(clip, work,
                                  partial=lambda p: first or first.append(time.perf_counter() - t0))
        # Time until the timeline can draw something (the first partial overview).
        extra["first_s"] = first[0] if first else time.perf_counter() - t0
        # Scrub: read one second at ten places through the memory map.
        n = bed.shape[1]
        for i in range(10):
            float(bed[:, i * n // 10: i * n // 10 + 48000].sum())
    elif phase == "separation":
        from foley_desktop.separation.job import separate

        separate(clip, Path(work) / "stems")
    elif phase == "export":
        from foley_desktop.export import export_project
        from foley_desktop.project import io
        from foley_desktop.project.model import Segment

        p = io.new_project(clip)
        p.segments.append(Segment("seg-1", 48000, 96000, "noise"))
        export_project(p, Path(work) / "export", stems=("background", "mix"), timelines=("otio",),
                       takes="none")
    return {"seconds": time.perf_counter() - t0,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30, 60])
    ap.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "foley-bench-long"))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_phase(*args.child)))
        return 0
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    print(f"{'minutes':>7} {'phase':>10} {'peak MB':>8} {'seconds':>8} {'first draw s':>12}")
    for minutes in args.minutes:
        t = time.perf_counter()
        clip = make_clip(root / f"clip-{minutes:g}min.mkv", minutes)
        print(f"{minutes:7g} {'(make)':>10} {'':>8} {time.perf_counter() - t:8.1f}", flush=True)
        for phase in args.phases:
            with tempfile.TemporaryDirectory(dir=root) as work:
                r = subprocess.run([sys.executable, __file__, "--child", phase, str(clip), work],
                                   capture_output=True, text=True, check=False)
                if r.returncode != 0:
                    print(f"{minutes:7g} {phase:>10} failed: {r.stderr.strip().splitlines()[-1:]}")
                    continue
                res = json.loads(r.stdout.strip().splitlines()[-1])
                first = f"{res['first_s']:12.2f}" if "first_s" in res else ""
                print(f"{minutes:7g} {phase:>10} {res['peak_mb']:8.0f} {res['seconds']:8.1f} {first}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
