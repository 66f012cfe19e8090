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
stack whenever it has not ticked for 25 ms and prints where those stalls were spent.
Audio plays through the default output device when there is one (picture only if not); with
--virtual-audio through the JACK dummy device of tests/playback_sink.py (jackd2 and
libasound2-plugins needed), so the audio callback competes with the GUI as on a real machine.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

DEFAULT_CLIP = (Path.home() / ".cache/foley-desktop/media/root/usr/share/forensics-samples/"
                "original-files/movie2/movie-hello.mp4")


class Watchdog(threading.Thread):
    """Samples the GUI thread's stack while its heartbeat is late (where the stall is spent)."""

    def __init__(self, gui_ident: int, late_s: float = 0.025) -> None:
        super().__init__(daemon=True)
        self.gui_ident, self.late_s = gui_ident, late_s
        self.beat = time.perf_counter()
        self.stacks: collections.Counter[str] = collections.Counter()
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.wait(0.005):
            if time.perf_counter() - self.beat > self.late_s:
                frame = sys._current_frames().get(self.gui_ident)
                if frame is not None:
                    lines = traceback.format_stack(frame)[-6:]
                    self.stacks["".join(lines)] += 1


# With --shuttle, the keys pressed while playing: (seconds into the run, action).
SHUTTLE_KEYS = [(2.0, "shuttle_fwd"), (2.5, "shuttle_fwd"), (3.0, "shuttle_back"),
                (3.8, "shuttle_back"), (4.6, "shuttle_stop"), (4.8, "play"), (6.0, "play"),
                (6.2, "play")]


def play_once(app, win, seconds: float, watchdog: Watchdog | None,
              shuttle: bool = False) -> dict:
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer

    win.stop()
    win.transport.seek(0)
    shown: set[int] = set()
    win.preview.frameShown.connect(shown.add)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
        if watchdog is not None:
            watchdog.beat = now

    probe = QTimer()
    probe.setInterval(2)
    probe.timeout.connect(tick)
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
    g = np.array(gaps[1:]) * 1000
    at = float(np.cumsum(g)[int(g.argmax())] - g.max()) / 1000  # when the longest began
    return {"longest": float(g.max()), "at": at, "p99": float(np.percentile(g, 99)),
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

    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow

    app = create_app()
    win = MainWindow()
    win._skip_save_prompt = True
    win.resize(1440, 900)
    win.show()
    if not win.open_path(args.clip):
        print("cannot open", args.clip, getattr(win, "last_error", ""))
        return 2
    t0 = time.monotonic()
    while (win.preview.view.image is None or "original" not in win.canvas.overviews
           or "original" not in win.playback.mixer.beds) and time.monotonic() - t0 < 60:
        app.processEvents()
        time.sleep(0.005)
    print(f"clip: {Path(args.clip).name}, {win.doc.fps} fps, preview "
          f"{win.preview.size_[0]}x{win.preview.size_[1]}; {win.playback.reason}")
    watchdog = None
    if args.where:
        watchdog = Watchdog(threading.get_ident())
        watchdog.start()
    runs = []
    for i in range(args.runs):
        r = play_once(app, win, args.seconds, watchdog, args.shuttle)
        runs.append(r)
        print(f"run {i + 1}: longest stall {r['longest']:.1f} ms (at {r['at']:.2f} s), p99 {r['p99']:.1f} ms, "
              f"median {r['median']:.1f} ms over {r['ticks']} ticks; {r['frames']} frames shown "
              f"in {r['played_s']:.2f} s of clip; GUI thread busy {100 * r['gui_cpu']:.0f}%")
    win.close()
    longest = np.array([r["longest"] for r in runs])
    medians = np.array([r["median"] for r in runs])
    print(f"summary over {len(runs)} runs of {args.seconds:g} s: longest stall median "
          f"{np.median(longest):.1f} ms, max {longest.max():.1f} ms; median tick "
          f"{np.median(medians):.1f} ms (target: longest < 50 ms)")
    if watchdog is not None:
        watchdog.stop_flag.set()
        print("\nGUI thread during stalls (samples, most frequent first):")
        for stack, n in watchdog.stacks.most_common(5):
            print(f"--- {n} samples\n{stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
