"""Waveform overviews: min/max peaks per bin of a mono mix, and their painting.

An overview is computed once, off the GUI thread, from a file streamed by `media.iter_audio`
and cached on disk (see `app.audio_cache`), or from an array (a take). Painting reduces the bins under each pixel
column with numpy, so a one-hour clip paints as fast as an eight-second one.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen

from foley_desktop.app.overview import BIN, Overview

__all__ = ["BIN", "Overview", "paint_overview"]

# The data (min/max peaks per bin) is Qt-free, in app/overview.py; this module paints it.


def paint_overview(p: QPainter, rect: QRectF, ov: Overview, t0: float, spp: float,
                   color: QColor, clip_x: tuple[float, float] | None = None) -> None:
    """Draw `ov` into `rect` (x = 0 at rect.left() is time t0) as one vertical line per column."""
    width = int(rect.width())
    mins, maxs, first = ov.columns(t0, spp, width)
    if len(mins) == 0:
        return
    mid = rect.center().y()
    # Quiet production audio would be a flat line: show it normalised to its own peak.
    gain = min(1.0 / ov.peak, 8.0) * 0.95
    half = rect.height() / 2 - 1
    lo = mid - np.clip(maxs * gain, -1, 1) * half
    hi = mid - np.clip(mins * gain, -1, 1) * half
    hi = np.maximum(hi, lo + 1)  # a silent stretch still shows as a hairline
    x0 = rect.left() + first
    lines = [QLineF(x0 + i + 0.5, lo[i], x0 + i + 0.5, hi[i]) for i in range(len(mins))]
    if clip_x is not None:
        lines = [ln for ln in lines if clip_x[0] <= ln.x1() <= clip_x[1]]
    p.setPen(QPen(color, 1))
    p.drawLines(lines)
