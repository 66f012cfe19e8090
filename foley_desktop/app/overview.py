"""Waveform overviews as data: min/max peaks per bin of a mono mix (no Qt; the timeline
paints them, `ui/timeline/waveform.py`).

An overview is computed once, off the GUI thread, from a file streamed by `media.iter_audio`
and cached on disk (`app.audio_cache`), or from an array (a take). `columns` reduces the bins
under each pixel column with numpy, so a one-hour clip draws as fast as an eight-second one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BIN = 64  # samples per bin at 48 kHz: 1.3 ms, finer than one pixel at frame zoom is not needed


@dataclass
class Overview:
    mins: np.ndarray  # float32 [bins]
    maxs: np.ndarray
    offset: int = 0  # sample time of bin 0 on the timeline
    # While a long file is still decoding: where the finished overview will end (samples);
    # None once complete. The timeline marks [end, expected_end) as still being read.
    expected_end: int | None = None

    def __post_init__(self) -> None:
        self.peak = max(float(self.maxs.max(initial=0)), float(-self.mins.min(initial=0)), 1e-4)

    @property
    def complete(self) -> bool:
        return self.expected_end is None

    @classmethod
    def from_array(cls, audio: np.ndarray, offset: int = 0) -> Overview:
        mono = audio if audio.ndim == 1 else audio.mean(axis=0)
        n = (len(mono) + BIN - 1) // BIN
        pad = np.zeros(n * BIN, np.float32)
        pad[: len(mono)] = mono
        blocks = pad.reshape(n, BIN)
        return cls(blocks.min(axis=1), blocks.max(axis=1), offset)

    @property
    def end(self) -> int:
        return self.offset + len(self.mins) * BIN

    def columns(self, t0: float, spp: float, width: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Peaks for `width` pixel columns starting at time t0: (mins, maxs, first column)."""
        xs = np.arange(width + 1, dtype=np.float64)
        edges = np.floor((t0 + xs * spp - self.offset) / BIN).astype(np.int64)
        valid = (edges[:-1] >= 0) & (edges[:-1] < len(self.mins))
        if not valid.any():
            return np.zeros(0, np.float32), np.zeros(0, np.float32), 0
        first = int(np.argmax(valid))
        last = int(len(valid) - np.argmax(valid[::-1]))
        starts = np.clip(edges[first:last], 0, len(self.mins) - 1)
        return (np.minimum.reduceat(self.mins, starts), np.maximum.reduceat(self.maxs, starts),
                first)
