"""What every long job shares: a cancellation token and progress reports.

Jobs (generate, separate, export, quantize, bench) are plain functions that take
``progress: ProgressFn | None`` and ``cancel: CancelToken | None``. The CLI prints progress,
the GUI forwards it through queued signals, tests record it. Nothing here knows about Qt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from foley_desktop.errors import Cancelled


class CancelToken:
    """Thread-safe flag a job polls between steps.

    Callbacks registered with `on_cancel` run once when cancel() is called, from the cancelling
    thread: the engine uses this to call ONNX Runtime's RunOptions.terminate so that a running
    graph stops promptly instead of at the next step.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for cb in callbacks:
            cb()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")

    def on_cancel(self, cb: Callable[[], None]) -> Callable[[], None]:
        """Register `cb`; returns a function that unregisters it. Runs at once if already cancelled."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(cb)
                return lambda: self._remove(cb)
        cb()
        return lambda: None

    def _remove(self, cb: Callable[[], None]) -> None:
        with self._lock:
            if cb in self._callbacks:
                self._callbacks.remove(cb)


@dataclass(frozen=True)
class Progress:
    """One progress report. `done`/`total` are in the job's own units (steps, samples …)."""

    stage: str
    done: float
    total: float
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, max(0.0, self.done / self.total))


ProgressFn = Callable[[Progress], None]


class ProgressMeter:
    """Turns (done, total) updates into `Progress` reports with an ETA from elapsed time."""

    def __init__(self, progress: ProgressFn | None, stage: str, total: float) -> None:
        self._progress = progress
        self.stage = stage
        self.total = float(total)
        self._t0 = time.monotonic()

    def update(self, done: float, stage: str | None = None) -> None:
        if self._progress is None:
            return
        elapsed = time.monotonic() - self._t0
        eta = None
        if 0 < done < self.total and elapsed > 0:
            eta = elapsed * (self.total - done) / done
        elif done >= self.total:
            eta = 0.0
        self._progress(Progress(stage or self.stage, float(done), self.total, eta))


def check(cancel: CancelToken | None) -> None:
    """Raise `Cancelled` if the token (which may be None) was cancelled."""
    if cancel is not None:
        cancel.raise_if_cancelled()
