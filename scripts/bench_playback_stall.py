"""Longest stall of the GUI event loop while the real window plays a clip (target: < 50 ms).

    QT_QPA_PLATFORM=offscreen python scripts/bench_playback_stall.py [CLIP] [--seconds 8]
        [--runs 3] [--where]

Opens the real main window on CLIP (default: the 720p movie-hello clip of the test media),
waits until the first frame and the waveform are there, then plays SECONDS of it from the
start, RUNS times (with --shuttle pressing L, L, J, J, K and Space on the way). A 2 ms QTimer
records the gap between its ticks: a gap much longer than its interval is the loop being
blocked. Prints, per run, the longest gap, the 99th percentile and the median, and how many
distinct frames the preview showed; then the median and maximum
of the runs' longest gaps. With --where a watchdog thread samples the GUI thread's Python
stack whenever it has not ticked for 25 ms and prints where those stalls were spent
(scripts/stall_watch.py).
Audio plays through the default output device when there is one (picture only if not); with
--virtual-audio through the JACK dummy device of tests/playback_sink.py (jackd2 and
libasound2-plugins needed), so the audio callback competes with the GUI as on a real machine.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stall_watch import StallWatch, open_clip_window

DEFAULT_CLIP = (Path.home() / ".cache/foley-desktop/media/root/usr/share/forensics-samples/"
                "original-files/movie2/movie-hello.mp4")


# With --shuttle, the keys pressed while playing: (seconds into the run, action).
SHUTTLE_KEYS = [(2.0, "shuttle_fwd"), (2.5, "shuttle_fwd"), (3.0, "shuttle_back"),
                (3.8, "shuttle_back"), (4.6, "shuttle_stop"), (4.8, "play"), (6.0, "play"),
                (6.2, "play")]


def play_once(app, win, seconds: float, where: bool = False, shuttle: bool = False):
    """One run: its figures, and the StallWatch that timed it (its report says where)."""
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer

    win.stop()
    win.transport.seek(0)
    shown: set[int] = set()
    win.preview.frameShown.connect(shown.add)
    probe = StallWatch(2, why=where, threshold_ms=25)
    probe.start()
    started = time.perf_counter()
    cpu0 = time.thread_time()
    win.toggle_play()
    if shuttle:
        for at, name in SHUTTLE_KEYS:
            QTimer.singleShot(int(at * 1000), win.actions_[name].trigger)
    loop = QEventLoop()  # not app.exec/quit: quitting the app closes its windows
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    elapsed = time.perf_counter() - started
    gui_cpu = time.thread_time() - cpu0
    probe.stop()
    end_pos = win.transport.position
    win.stop()
    win.preview.frameShown.disconnect(shown.add)
    g = np.array(probe.gaps[1:]) * 1000
    at = float(np.cumsum(g)[int(g.argmax())] - g.max()) / 1000  # when the longest began
    return probe, {"longest": float(g.max()), "at": at, "p99": float(np.percentile(g, 99)),
            "median": float(np.median(g)), "ticks": len(g), "frames": len(shown),
            "played_s": end_pos / 48000, "elapsed": elapsed, "gui_cpu": gui_cpu / elapsed,
            "audio": win.transport.clock_source is not None or win.playback.available}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP))
    ap.add_argument("--seconds", type=float, default=8.0, help="how long each run plays")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--where", action="store_true", help="sample the GUI stack during stalls")
    ap.add_argument("--shuttle", action="store_true",
                    help="also press L, L, J, J, K, Space... while playing (restarts the audio)")
    ap.add_argument("--virtual-audio", action="store_true",
                    help="play through the virtual device of tests/playback_sink.py (jackd)")
    args = ap.parse_args()

    sink = None
    if args.virtual_audio:
        # Before anything loads PortAudio: ALSA reads its configuration once.
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        import playback_sink

        reason = playback_sink.available()
        if reason:
            print("no virtual audio device:", reason)
            return 2
        sink = playback_sink.VirtualSink(tempfile.mkdtemp(prefix="foley-bench-audio-"),
                                         connect_capture=False).start()
        os.environ.update(sink.env())
        # Registered before sounddevice's own exit handler, so it runs after PortAudio closed.
        atexit.register(sink.stop)

    tmp = Path(tempfile.mkdtemp(prefix="foley-bench-"))
    os.environ.setdefault("FOLEY_DESKTOP_SETTINGS", str(tmp / "settings.ini"))
    os.environ.setdefault("FOLEY_DESKTOP_CACHE", str(tmp / "cache"))

    import numpy as np

    opened = open_clip_window(args.clip, playback=True)
    if opened is None:
        return 2
    app, win = opened
    print(f"clip: {Path(args.clip).name}, {win.doc.fps} fps, preview "
          f"{win.preview.size_[0]}x{win.preview.size_[1]}; {win.playback.reason}")
    runs, reports = [], []
    for i in range(args.runs):
        probe, r = play_once(app, win, args.seconds, args.where, args.shuttle)
        runs.append(r)
        reports.append(probe.report())
        print(f"run {i + 1}: longest stall {r['longest']:.1f} ms (at {r['at']:.2f} s), p99 {r['p99']:.1f} ms, "
              f"median {r['median']:.1f} ms over {r['ticks']} ticks; {r['frames']} frames shown "
              f"in {r['played_s']:.2f} s of clip; GUI thread busy {100 * r['gui_cpu']:.0f}%")
    win.close()
    longest = np.array([r["longest"] for r in runs])
    medians = np.array([r["median"] for r in runs])
    print(f"summary over {len(runs)} runs of {args.seconds:g} s: longest stall median "
          f"{np.median(longest):.1f} ms, max {longest.max():.1f} ms; median tick "
          f"{np.median(medians):.1f} ms (target: longest < 50 ms)")
    if args.where:
        for i, report in enumerate(reports):
            print(f"\nrun {i + 1}, the GUI thread during its longest stalls:\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
