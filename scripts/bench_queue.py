"""100 queued generation jobs with cancels in between, in the real window (offscreen).

Prints: jobs done / cancelled / failed, takes saved in the project file vs takes made, the
event loop's worst stall while the queue ran (a 10 ms timer's largest gap beyond 10 ms), the
background project saves (count, seconds each on the saver thread), threads (Python's and the
process's OS threads) and RSS before and after (a leak shows as growth), and the wall time.

    QT_QPA_PLATFORM=offscreen python scripts/bench_queue.py [--jobs 100] [--cancel-every 4]
        [--rounds 1] [--why] [--profile]
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


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--cancel-every", type=int, default=4)
    ap.add_argument("--clip", help="video clip (default: a 10 s synthetic one)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="queue that many times, a new project each time, in the same window "
                         "(RSS and threads after each: a leak grows from round to round)")
    ap.add_argument("--why", action="store_true",
                    help="print where the GUI thread was during the longest stalls")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the GUI thread while the queue runs (top functions by own time)")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="foley-bench-queue-"))
    os.environ["FOLEY_DESKTOP_DATA"] = str(work / "data")
    os.environ["FOLEY_DESKTOP_CACHE"] = str(work / "cache")

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
    gui_saves = []
    real_save = win.doc.save

    def timed_save(*a, **k):  # a save on the GUI thread (none per take: they run in the background)
        t = time.perf_counter()
        try:
            return real_save(*a, **k)
        finally:
            gui_saves.append(time.perf_counter() - t)

    win.doc.save = timed_save
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stall_watch import StallWatch

    ok = True
    baseline = None
    for rnd in range(1, args.rounds + 1):
        project = io.save(io.new_project(clip), work / f"bench-{rnd}.foley")
        assert win.open_path(project), win.last_error
        dur = win.doc.duration
        ids = []
        for i in range(args.jobs):
            start = (i * 4800) % max(1, dur - 9600)
            ids.append(win.doc.add_segment(start, start + 9600, f"tap {i}",
                                           model="test-analytic").id)
        real_save()
        for _ in range(20):  # let the lane decode finish before measuring
            app.processEvents()
            time.sleep(0.05)
        if baseline is None:
            baseline = threading.active_count(), os_threads(), rss_mb()
        gui_saves.clear()
        win.doc.save_times.clear()
        watch = StallWatch(10, why=args.why)
        prof = None
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        watch.start()
        jobs = win.generate(ids)
        for k, j in enumerate(jobs):
            if args.cancel_every and k % args.cancel_every == args.cancel_every - 1:
                win.jobs.cancel(j.id)
        queue_ms = (time.perf_counter() - t0) * 1000  # the user's click: before the first beat
        while any(j.state not in ("done", "failed", "cancelled") for j in jobs):
            app.processEvents()
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        watch.stop()
        if prof is not None:
            import pstats

            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        for _ in range(50):
            app.processEvents()
        win.doc.flush_saves()  # what closing the window does: wait for the last save
        states = [j.state for j in jobs]
        made = sum(len(win.doc.segment(i).takes) for i in ids)
        saved = sum(len(s.takes) for s in io.load(project).segments)
        ok = ok and saved == made and "failed" not in states
        print(f"round {rnd}: jobs: {states.count('done')} done, {states.count('cancelled')} "
              f"cancelled, {states.count('failed')} failed in {wall:.1f} s")
        print(f"takes: {made} made, {saved} in the saved project file")
        print(f"event loop: worst stall {watch.worst_ms():.0f} ms (10 ms timer); queueing the "
              f"jobs and the cancels took {queue_ms:.0f} ms")
        if args.why:
            print(watch.report())
        saves = win.doc.save_times
        if saves:
            print(f"background saves: {len(saves)} for {made} takes, median "
                  f"{1000 * sorted(saves)[len(saves) // 2]:.0f} ms, slowest "
                  f"{1000 * max(saves):.0f} ms (on the saver thread)")
        print(f"saves on the GUI thread: {len(gui_saves)}")
        print(f"threads: Python {baseline[0]} before, {threading.active_count()} now; OS "
              f"{baseline[1]} before, {os_threads()} now; RSS {baseline[2]:.0f} MB before, "
              f"{rss_mb():.0f} MB now (peak "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    win.close()
    print(f"after closing the window: threads Python {threading.active_count()}, OS "
          f"{os_threads()}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
