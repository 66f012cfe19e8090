"""The play clock: position in samples, play/pause, J/K/L shuttle, frame stepping.

While playing, a precise QTimer ticks about twice per frame. The position comes from the audio
output when one is running (`clock_source()`: the sample being heard now, output latency
included), forwards, backwards and at shuttle speeds alike, so that picture follows sound;
otherwise from the monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from foley_desktop.media.timebase import SAMPLE_RATE, frame_to_samples, samples_to_frame

SHUTTLE = (1, 2, 4, 8)


class Transport(QObject):
    positionChanged = Signal(int)
    playingChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.position = 0
        self.duration = 0
        self.fps = Fraction(25)
        self.rate = 0  # 0 = stopped; negative plays backwards (J)
        self._t0 = 0.0
        self._p0 = 0
        self.clock_source: Callable[[], int | None] | None = None
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def follow(self, clock: Callable[[], int | None] | None) -> None:
        """Take the position from `clock` while playing (the audio device's: the sample being
        heard now), or from the wall clock (None)."""
        self.clock_source = clock

    @property
    def playing(self) -> bool:
        return self.rate != 0

    def set_media(self, duration: int, fps: Fraction) -> None:
        self.stop()
        self.duration = duration
        self.fps = fps
        self.seek(0)

    # ---- control
    def seek(self, t: int) -> None:
        t = max(0, min(self.last_frame_start, int(t)))
        self._p0, self._t0 = t, time.monotonic()
        if t != self.position:
            self.position = t
            self.positionChanged.emit(t)

    @property
    def last_frame_start(self) -> int:
        if self.duration <= 0:
            return 0
        return frame_to_samples(max(0, samples_to_frame(self.duration - 1, self.fps)), self.fps)

    def play(self, rate: int = 1) -> None:
        if self.duration <= 0:
            return
        if rate > 0 and self.position >= self.last_frame_start:
            self.seek(0)
        was = self.playing
        self.rate = rate
        self._p0, self._t0 = self.position, time.monotonic()
        interval = max(5, int(500 / float(self.fps)))
        self.timer.start(interval)
        if not was:
            self.playingChanged.emit(True)

    def stop(self) -> None:
        self.timer.stop()
        if self.playing:
            self.rate = 0
            self.playingChanged.emit(False)

    def toggle(self) -> None:
        self.stop() if self.playing else self.play(1)

    def shuttle(self, direction: int) -> None:
        """L (+1) / J (-1): start, or go faster in that direction; reversing starts at 1x."""
        if self.rate == 0 or (self.rate > 0) != (direction > 0):
            self.play(direction)
            return
        speed = abs(self.rate)
        nxt = SHUTTLE[min(len(SHUTTLE) - 1, SHUTTLE.index(speed) + 1)] if speed in SHUTTLE else 1
        self.play(direction * nxt)

    def step(self, frames: int) -> None:
        self.stop()
        f = samples_to_frame(self.position, self.fps) + frames
        self.seek(frame_to_samples(max(0, f), self.fps))

    # ---- clock
    def current_time(self) -> int:
        if self.clock_source is not None:
            # The audio clock, at any shuttle rate. Until the first sample is heard (before the
            # first block, then during the output latency) it would point before the start:
            # the picture holds the start frame instead, so it never runs ahead of the sound.
            t = self.clock_source()
            if t is None:
                return self._p0
            return max(t, self._p0) if self.rate > 0 else min(t, self._p0)
        return int(self._p0 + (time.monotonic() - self._t0) * SAMPLE_RATE * self.rate)

    def _tick(self) -> None:
        t = self.current_time()
        if t >= self.last_frame_start and self.rate > 0:
            self.seek(self.last_frame_start)
            self.stop()
            return
        if t <= 0 and self.rate < 0:
            self.seek(0)
            self.stop()
            return
        t = max(0, t)
        if t != self.position:
            self.position = t
            self.positionChanged.emit(t)
