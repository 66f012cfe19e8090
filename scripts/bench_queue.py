"""100 queued generation jobs with cancels in between, in the real window (offscreen).

Prints: jobs done / cancelled / failed, takes saved in the project file vs takes made, the
event loop's worst stall while the queue ran (a 10 ms timer's largest gap), threads and RSS
before and after (a leak shows as growth), and the wall time.

    QT_QPA_PLATFORM=offscreen python scripts/bench_queue.py [--jobs 100] [--cancel-every 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--cancel-every", type=int, default=4)
    ap.add_argument("--clip", help="video clip (default: a 10 s synthetic one)")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="foley-bench-queue-"))
    os.environ["FOLEY_DESKTOP_DATA"] = str(work / "data")
    os.environ["FOLEY_DESKTOP_CACHE"] = str(work / "cache")
    from PySide6.QtCore import QElapsedTimer, QTimer

    from foley_desktop.engine import testpkg
    from foley_desktop.project import io
    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings

    testpkg.build(work / "data" / "models" / "test-analytic", name="test-analytic", int8=False)
    clip = Path(args.clip) if args.clip else None
    if clip is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_long_clip import make_clip

        clip = make_clip(work / "clip.mkv", 10 / 60)
    app = create_app([])
    win = MainWindow(Settings(str(work / "settings.ini")))
    win._skip_save_prompt = True
    project = io.save(io.new_project(clip), work / "bench.foley")
    assert win.open_path(project), win.last_error
    dur = win.doc.duration
    ids = []
    for i in range(args.jobs):
        start = (i * 4800) % max(1, dur - 9600)
        ids.append(win.doc.add_segment(start, start + 9600, f"tap {i}", model="test-analytic").id)
    win.save()
    for _ in range(20):  # let the lane decode finish before measuring
        app.processEvents()
        time.sleep(0.05)
    threads0, rss0 = threading.active_count(), rss_mb()
    saves = []
    real_save = win.doc.save

    def timed_save(*a, **k):  # the window saves after every take, on the GUI thread
        t = time.perf_counter()
        try:
            return real_save(*a, **k)
        finally:
            saves.append(time.perf_counter() - t)

    win.doc.save = timed_save

    stall = {"max": 0, "last": None, "at": 0.0}
    clock = QElapsedTimer()
    clock.start()

    def tick():
        now = clock.elapsed()
        if stall["last"] is not None:
            gap = now - stall["last"] - 10
            if gap > stall["max"]:
                stall["max"], stall["at"] = gap, time.perf_counter() - t0
        stall["last"] = now

    ticker = QTimer()
    ticker.timeout.connect(tick)
    t0 = time.perf_counter()
    ticker.start(10)
    jobs = win.generate(ids)
    for k, j in enumerate(jobs):
        if args.cancel_every and k % args.cancel_every == args.cancel_every - 1:
            win.jobs.cancel(j.id)
    while any(j.state not in ("done", "failed", "cancelled") for j in jobs):
        app.processEvents()
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    ticker.stop()
    for _ in range(50):
        app.processEvents()
    states = [j.state for j in jobs]
    made = sum(len(win.doc.segment(i).takes) for i in ids)
    saved = sum(len(s.takes) for s in io.load(project).segments)
    threads1, rss1 = threading.active_count(), rss_mb()
    print(f"jobs: {states.count('done')} done, {states.count('cancelled')} cancelled, "
          f"{states.count('failed')} failed in {wall:.1f} s")
    print(f"takes: {made} made, {saved} in the saved project file")
    print(f"event loop: worst stall {stall['max']} ms, {stall['at']:.1f} s after the jobs were queued")
    if saves:
        print(f"saves on the GUI thread: {len(saves)}, median {1000 * sorted(saves)[len(saves) // 2]:.0f} ms, "
              f"slowest {1000 * max(saves):.0f} ms")
    print(f"threads: {threads0} before, {threads1} after; RSS {rss0:.0f} MB before, "
          f"{rss1:.0f} MB after (peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    win.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0 if saved == made and "failed" not in states else 1


if __name__ == "__main__":
    sys.exit(main())
