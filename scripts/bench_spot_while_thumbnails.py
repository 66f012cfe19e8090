"""Auto-spot's wall time in the app while the timeline's thumbnails are being made.

    QT_QPA_PLATFORM=offscreen python scripts/bench_spot_while_thumbnails.py CLIP
        [--start 37 --end 39] [--seek 37.7] [--runs 3] [--why]

Each run is a fresh process (so the thumbnails are made again) that opens the real main window
on CLIP and measures one of:

- solo: `spotting.detect.spot` called directly, no window (what `foley-desktop spot` does);
- during: auto-spot of [start, end) queued right after the clip opens, while the thumbnails
  are being made (what a new user does first);
- after: the same once every thumbnail is there.

With --seek, a paused seek to that time is made 0.5 s after auto-spot starts (the frame's
delay on screen is printed: it competes with the spot and the thumbnails for the CPU), and once
with nothing else running. --why prints, per run, how often each thread was seen in each state
with its nice value (/proc/PID/task/*/stat) and the innermost Python frames of the busiest
stacks (sys._current_frames), sampled every 0.25 s. Prints every run and the medians.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

DEFAULT_CLIP = (Path.home() / ".cache/foley-desktop/media/root/pypi/moviepy/moviepy-2.2.1/docs/"
                "_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4")


class Sampler:
    """Thread states, nice values and Python stacks of this process, every `interval` s."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.states: collections.Counter = collections.Counter()
        self.stacks: collections.Counter = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        pid = os.getpid()
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                top = traceback.extract_stack(frame)[-3:]
                where = " < ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                                   for f in reversed(top))
                self.stacks[(names.get(ident, "worker"), where)] += 1
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                except OSError:
                    continue
                name = stat[stat.find("(") + 1:stat.rfind(")")]
                fields = stat[stat.rfind(")") + 2:].split()
                self.states[(name, fields[0], int(fields[16]))] += 1  # state, nice

    def report(self) -> list[str]:
        out = ["  thread states (samples, name, state, nice):"]
        out += [f"    {n:4d} {k}" for k, n in self.states.most_common(14)]
        out.append("  busiest stacks:")
        out += [f"    {n:4d} {k[0]}: {k[1]}" for k, n in self.stacks.most_common(8)]
        return out


def child(args) -> dict:
    """One measurement in this process; returns the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="foley-bench-spot-"))
    os.environ.setdefault("FOLEY_DESKTOP_SETTINGS", str(tmp / "settings.ini"))
    os.environ.setdefault("FOLEY_DESKTOP_CACHE", str(tmp / "cache"))
    from foley_desktop.media.timebase import SAMPLE_RATE

    start, end = round(args.start * SAMPLE_RATE), round(args.end * SAMPLE_RATE)
    sampler = Sampler() if args.why else None
    if args.mode == "solo":
        from foley_desktop.spotting.detect import spot

        if sampler:
            sampler.start()
        t0 = time.perf_counter()
        markers = spot(Path(args.clip), start, end)
        res = {"spot_s": time.perf_counter() - t0, "markers": len(markers)}
        if sampler:
            sampler.stop()
            res["why"] = sampler.report()
        return res

    from PySide6.QtCore import QTimer

    from foley_desktop.media.timebase import samples_to_frame
    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow

    app = create_app()
    win = MainWindow()
    win._skip_save_prompt = True
    win.resize(1440, 900)
    win.show()
    res: dict = {}
    if sampler:
        sampler.start()
    t_open = time.perf_counter()
    if not win.open_path(args.clip):
        return {"error": f"cannot open {args.clip}"}

    def seek_to(seconds: float, key: str) -> None:
        target = samples_to_frame(round(seconds * SAMPLE_RATE), win.doc.fps)
        t0 = time.perf_counter()

        def shown(frame: int) -> None:
            if frame == target and key not in res:
                res[key] = time.perf_counter() - t0
        win.preview.frameShown.connect(shown)
        win.transport.seek(round(seconds * SAMPLE_RATE))

    def spot_now() -> None:
        seg = win.doc.add_segment(start, end)
        res["thumbs_pending_at_spot"] = len(win._thumb_pending)
        t0 = time.perf_counter()
        win.auto_spot([seg.id])
        (job,) = [j for j in win.jobs.jobs.values() if j.title.startswith("Auto-spot")]
        if args.seek is not None:
            QTimer.singleShot(500, lambda: seek_to(args.seek, "seek_busy_s"))

        def poll() -> None:
            if job.state in ("done", "failed", "cancelled"):
                res["spot_s"] = time.perf_counter() - t0
                res["state"] = job.state
                res["markers"] = len(job.result or [])
                if args.seek is not None and "seek_busy_s" in res:
                    # Once more with nothing else running (0.5 s off the first seek).
                    QTimer.singleShot(300, lambda: seek_to(args.seek + 0.5, "seek_idle_s"))
                finish()
            else:
                QTimer.singleShot(10, poll)

        def finish() -> None:  # once the thumbnails and the seeks are there too
            seeks = args.seek is None or "seek_idle_s" in res
            if thumbs_done_at[0] is not None and seeks:
                res["thumbs_done_s"] = thumbs_done_at[0]
                app.quit()
            else:
                QTimer.singleShot(20, finish)
        poll()

    thumbs_done_at: list = [None]

    def wait_open() -> None:
        waited = time.perf_counter() - t_open
        if win.doc.project is None or (args.mode == "after" and (
                win._thumb_pending or waited < 1.0)) or (
                args.mode == "during" and not win._thumb_pending and waited < 5.0):
            QTimer.singleShot(20, wait_open)
            return
        spot_now()

    def watch_thumbs() -> None:
        if win.doc.project is not None and not win._thumb_pending and \
                time.perf_counter() - t_open > 0.5 and thumbs_done_at[0] is None:
            thumbs_done_at[0] = time.perf_counter() - t_open
        QTimer.singleShot(20, watch_thumbs)

    QTimer.singleShot(0, wait_open)
    QTimer.singleShot(0, watch_thumbs)
    QTimer.singleShot(int(args.timeout * 1000), app.quit)
    app.exec()
    if sampler:
        sampler.stop()
        res["why"] = sampler.report()
    win.close()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP))
    ap.add_argument("--start", type=float, default=37.0, help="segment start, s")
    ap.add_argument("--end", type=float, default=39.0, help="segment end, s")
    ap.add_argument("--seek", type=float, default=None,
                    help="also time a paused seek to this time (s) during and after the spot")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="solo,during,after")
    ap.add_argument("--why", action="store_true", help="thread states and stacks per run")
    ap.add_argument("--timeout", type=float, default=400.0, help="per run, s")
    ap.add_argument("--mode", help=argparse.SUPPRESS)  # one run in this process
    args = ap.parse_args()
    if args.mode:
        print("RESULT " + json.dumps(child(args)))
        return 0

    modes = args.modes.split(",")
    figures: dict = {m: collections.defaultdict(list) for m in modes}
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    for run in range(args.runs):
        for mode in modes:  # interleaved: a change in the machine's load hits every mode
            cmd = [sys.executable, __file__, args.clip, "--mode", mode, "--start", str(args.start),
                   "--end", str(args.end), "--timeout", str(args.timeout)]
            if args.seek is not None:
                cmd += ["--seek", str(args.seek)]
            if args.why:
                cmd.append("--why")
            out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                 timeout=args.timeout + 60)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if not lines:
                print(f"run {run + 1} {mode}: failed\n{out.stderr[-2000:]}")
                continue
            res = json.loads(lines[-1][7:])
            why = res.pop("why", [])
            print(f"run {run + 1} {mode:6s} " + " ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()),
                flush=True)
            for line in why:
                print(line)
            for k, v in res.items():
                if isinstance(v, float):
                    figures[mode][k].append(v)
    print("medians:")
    for mode in modes:
        print(f"  {mode:6s} " + " ".join(f"{k}={statistics.median(v):.2f}s (n={len(v)})"
                                         for k, v in figures[mode].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
