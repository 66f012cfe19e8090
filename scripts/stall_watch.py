"""Measure the GUI event loop's stalls and say where the GUI thread was during each one.

Used by the GUI benchmarks (bench_ui_stall, bench_queue, bench_playback_stall,
bench_drag_out), which also open the real window through `open_clip_window`. A QTimer on the GUI thread beats every
`interval_ms`; the gap between two beats beyond the interval is a stall. With `why=True` a
watchdog thread wakes every 2 ms and, while the beat is overdue by more than `threshold_ms`,
records the GUI thread's Python stack (sys._current_frames). A stall whose samples all sit in
the event loop itself (`exec` / `processEvents`) was the thread waiting for the GIL or a core,
not running our code; otherwise the innermost project frames name the cause.
"""

from __future__ import annotations

import collections
import gc
import sys
import threading
import time
import traceback

from PySide6.QtCore import QTimer


class StallWatch:
    def __init__(self, interval_ms: int = 2, why: bool = False, threshold_ms: float = 20.0) -> None:
        self.interval = interval_ms / 1000
        self.gaps: list[float] = []  # seconds between beats
        self.stalls: list[tuple[float, float, list[str]]] = []  # (gap s, at s, stack samples)
        self._last = None
        self._t0 = time.perf_counter()
        self._samples: list[str] = []
        self._lock = threading.Lock()
        self._threshold = threshold_ms / 1000
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._beat)
        self._dog = threading.Thread(target=self._watch, daemon=True) if why else None
        self.gc_pauses: list[tuple[int, float]] = []  # (generation, seconds), any thread
        self._gc_t0 = 0.0

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            self.gc_pauses.append((info["generation"], time.perf_counter() - self._gc_t0))

    def start(self) -> None:
        gc.callbacks.append(self._gc)
        self._last = time.perf_counter()
        self.timer.start()
        if self._dog is not None:
            self._dog.start()

    def stop(self) -> None:
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        self.timer.stop()
        self._stop.set()
        if self._dog is not None:
            self._dog.join()

    def _beat(self) -> None:
        now = time.perf_counter()
        gap = now - self._last
        self._last = now
        self.gaps.append(gap)
        with self._lock:
            samples, self._samples = self._samples, []
        if gap - self.interval > self._threshold and len(self.gaps) > 1:
            # (The first gap holds whatever the caller did right after start(): timed apart.)
            self.stalls.append((gap, now - self._t0, samples))

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            if time.perf_counter() - self._last > self._threshold:
                frame = sys._current_frames().get(self._main)
                if frame is None:
                    continue
                stack = traceback.extract_stack(frame)[-6:]
                where = " < ".join(f"{f.name}({f.filename.rsplit('/', 1)[-1]}:{f.lineno})"
                                   for f in reversed(stack))
                with self._lock:
                    self._samples.append(where)

    def worst_ms(self) -> float:
        return max((g - self.interval for g in self.gaps[1:]), default=0.0) * 1000

    def gc_summary(self) -> str:
        """Garbage collections while watching: they stop every thread, the GUI's included."""
        if not self.gc_pauses:
            return "garbage collections: none"
        worst = max(self.gc_pauses, key=lambda p: p[1])
        full = sum(1 for g, _ in self.gc_pauses if g == 2)
        return (f"garbage collections: {len(self.gc_pauses)} ({full} full), longest "
                f"{worst[1] * 1000:.1f} ms (generation {worst[0]})")

    def report(self, top: int = 8) -> str:
        lines = [self.gc_summary()]
        for gap, at, samples in sorted(self.stalls, reverse=True)[:top]:
            lines.append(f"  stall {gap * 1000:.0f} ms at {at:.2f} s, {len(samples)} samples")
            for where, n in collections.Counter(samples).most_common(3):
                lines.append(f"    {n:3d}x {where}")
        return "\n".join(lines)


def open_clip_window(clip: str, playback: bool = False, timeout_s: float = 60.0):
    """The real main window, shown at 1440x900 on CLIP, once its first frame and waveform
    (and with `playback` the player's bed of the clip's audio) are there: (app, window), or
    None after printing why the clip did not open."""
    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow

    app = create_app()
    win = MainWindow()
    win._skip_save_prompt = True
    win.resize(1440, 900)
    win.show()
    if not win.open_path(clip):
        print("cannot open", clip, getattr(win, "last_error", ""))
        return None

    def loading() -> bool:
        return (win.preview.view.image is None or "original" not in win.canvas.overviews
                or (playback and "original" not in win.playback.mixer.beds))

    t0 = time.monotonic()
    while loading() and time.monotonic() - t0 < timeout_s:
        app.processEvents()
        time.sleep(0.005)
    return app, win
