"""Mapping between integer sample times (48 kHz) and timeline pixels, plus snapping.

Everything the timeline draws or hit-tests goes through `TimeScale`, so zoom and scroll are one
origin and one scale. Times stay integers; only pixels are floats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from foley_desktop.media.timebase import SAMPLE_RATE, frame_to_samples, samples_to_frame

# Zoomed all the way in, one frame spans this many pixels: single frames are easy to grab.
MAX_FRAME_PX = 120.0
SNAP_PX = 8.0


@dataclass
class TimeScale:
    fps: Fraction = Fraction(25)
    duration: int = SAMPLE_RATE * 10
    samples_per_px: float = 1000.0
    origin: int = 0  # sample time at x = 0 of the lanes' area
    width_px: int = 800

    # -- mapping
    def x_of(self, t: int) -> float:
        return (t - self.origin) / self.samples_per_px

    def t_of(self, x: float) -> int:
        return round(self.origin + x * self.samples_per_px)

    @property
    def visible_end(self) -> int:
        return self.t_of(self.width_px)

    @property
    def frame_samples(self) -> float:
        return SAMPLE_RATE / float(self.fps)

    # -- zoom and scroll
    @property
    def min_samples_per_px(self) -> float:
        return self.frame_samples / MAX_FRAME_PX

    @property
    def max_samples_per_px(self) -> float:
        return max(self.min_samples_per_px, self.duration / max(1, self.width_px - 20))

    def fit(self) -> None:
        self.samples_per_px = self.max_samples_per_px
        self.origin = 0

    def zoom(self, factor: float, anchor_x: float) -> None:
        """Zoom by `factor` (>1 zooms in) keeping the time under `anchor_x` in place."""
        anchor_t = self.origin + anchor_x * self.samples_per_px
        spp = min(self.max_samples_per_px,
                  max(self.min_samples_per_px, self.samples_per_px / factor))
        self.samples_per_px = spp
        self.origin = round(anchor_t - anchor_x * spp)
        self.clamp()

    def clamp(self) -> None:
        span = self.width_px * self.samples_per_px
        self.origin = int(max(0, min(self.origin, self.duration - span * 0.9)))

    def scroll_to_show(self, t: int) -> None:
        """Page so that `t` is visible (the playhead following playback)."""
        if t < self.origin or t > self.visible_end:
            self.origin = int(t - self.width_px * self.samples_per_px * 0.1)
            self.clamp()

    # -- frames
    def snap_frame(self, t: int) -> int:
        """Nearest frame boundary."""
        f = samples_to_frame(t, self.fps)
        a, b = frame_to_samples(f, self.fps), frame_to_samples(f + 1, self.fps)
        return a if t - a <= b - t else b

    def snap(self, t: int, edges: Iterable[int] = ()) -> int:
        """Snap to another segment's edge within SNAP_PX, else to the nearest frame boundary."""
        tol = SNAP_PX * self.samples_per_px
        best = None
        for e in edges:
            d = abs(e - t)
            if d <= tol and (best is None or d < abs(best - t)):
                best = e
        if best is not None:
            return int(best)
        return max(0, min(self.duration, self.snap_frame(t)))

    def ruler_step(self, min_px: float = 90.0) -> tuple[int, int]:
        """(major, minor) tick spacing in whole frames, majors at least `min_px` apart.

        Frames, not seconds, so that every tick sits on a frame boundary and its timecode label
        is exact, also at 29.97 fps (a timecode second is `round(fps)` frames).
        """
        fpsr = max(1, round(float(self.fps)))
        px_per_frame = self.frame_samples / self.samples_per_px
        majors = [1, 2, 5, 10] + [fpsr * s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600,
                                                       1800, 3600)]
        for major in majors:
            if major * px_per_frame >= min_px:
                break
        for minor in (1, 2, 5, 10, fpsr, fpsr * 5, fpsr * 10, fpsr * 60):
            if major % minor == 0 and minor * px_per_frame >= 6:
                return major, minor
        return major, major
