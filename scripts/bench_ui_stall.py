"""Longest stall of the GUI event loop while a generation runs (target: < 50 ms).

    QT_QPA_PLATFORM=offscreen python scripts/bench_ui_stall.py [CLIP] [--package NAME|PATH]
        [--seconds 4] [--variations 2] [--play] [--unsaved] [--why] [--profile]

Opens the real main window on CLIP, saves it as a project in a temp folder (so every finished
take is saved to the project file, as in real use; --unsaved skips that), marks a segment,
waits for the timeline's thumbnails, starts generating and, with --play, plays the clip at the
same time (picture decoding, playhead, repaints). A 2 ms QTimer records the gap between its
ticks; a gap longer than the interval is the loop being blocked. Without --package a small real
test package (engine.testpkg) is built in a temp folder, sized so the run takes a few seconds.
Prints the longest gap, the 99th percentile and the job's duration; --why adds where the GUI
thread was during the longest stalls (scripts/stall_watch.py), --profile a cProfile of it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CLIP = (Path.home() / ".cache/foley-desktop/media/root/usr/share/forensics-samples/"
                "original-files/movie2/movie-hello.mp4")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP))
    ap.add_argument("--package", default=None)
    ap.add_argument("--seconds", type=float, default=4.0, help="segment length")
    ap.add_argument("--variations", type=int, default=2)
    ap.add_argument("--play", action="store_true", help="play the clip while generating")
    ap.add_argument("--unsaved", action="store_true",
                    help="leave the project untitled (no project save after each take)")
    ap.add_argument("--why", action="store_true",
                    help="print where the GUI thread was during the longest stalls")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the GUI thread while the job runs (top functions by own time)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="foley-bench-"))
    os.environ.setdefault("FOLEY_DESKTOP_SETTINGS", str(tmp / "settings.ini"))
    os.environ.setdefault("FOLEY_DESKTOP_CACHE", str(tmp / "cache"))
    package = args.package
    if package is None:
        from foley_desktop.engine import testpkg

        package = str(testpkg.build(tmp / "pkg", name="bench-pkg", slow=60, steps=25))

    from PySide6.QtCore import QTimer

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stall_watch import StallWatch, open_clip_window

    opened = open_clip_window(args.clip, timeout_s=30)
    if opened is None:
        return 2
    app, win = opened
    seg = win.doc.add_segment(0, int(args.seconds * 48000), "footsteps on wet pavement",
                              model=package, variations=args.variations)
    win.canvas.set_selected([seg.id])
    if not args.unsaved:
        win.doc.save(tmp / "bench.foley")
    t0 = time.monotonic()
    while win._thumb_pending and time.monotonic() - t0 < 10:  # the timeline's first picture
        app.processEvents()
        time.sleep(0.005)

    probe = StallWatch(2, why=args.why)
    probe.start()
    t_click = time.perf_counter()
    (job,) = win.generate([seg.id])
    click_ms = (time.perf_counter() - t_click) * 1000  # the click itself, before the first beat
    started = time.monotonic()
    if args.play:
        win.toggle_play()

    def check():
        if job.state in ("done", "failed", "cancelled"):
            probe.stop()
            app.quit()

    watcher = QTimer()
    watcher.timeout.connect(check)
    watcher.start(20)
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(app.exec)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    else:
        app.exec()
    watcher.stop()
    elapsed = time.monotonic() - started
    win.close()
    if job.state != "done":
        print(f"generation {job.state}: {job.error}")
        return 1
    import numpy as np

    g = np.array(probe.gaps[1:]) * 1000
    take = seg.takes[0]
    print(f"generation: {elapsed:.2f} s, {len(seg.takes)} takes of {args.seconds:g} s "
          f"({take.provider}, {take.variant}){', while playing' if args.play else ''}")
    print(f"event loop: {len(g)} ticks, longest stall {g.max():.1f} ms, "
          f"p99 {np.percentile(g, 99):.1f} ms, median {np.median(g):.1f} ms (target < 50 ms); "
          f"the Generate call itself took {click_ms:.0f} ms")
    if args.why:
        print(probe.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
