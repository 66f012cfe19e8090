"""What the window keeps about takes between changes, without Qt.

`TakeAudio`: decoded take audio and the waveform drawn from it, for the takes the timeline
plays (the segments' active takes: `retain` lets the others go, so it holds what the mixer
needs and no more), with the takes being decoded now so a take is read once.
`Runs`: which generation run a finished take belongs to: the first take of a run becomes
active and all its takes undo as one step (`ui/document.RunTakes`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from foley_desktop.app.overview import Overview


class TakeAudio:
    def __init__(self) -> None:
        self._audio: dict[Path, np.ndarray] = {}
        self._overviews: dict[tuple[Path, int], Overview] = {}
        self._loading: set[Path] = set()
        self._lock = threading.Lock()

    def audio(self, path: str | Path) -> np.ndarray | None:
        path = Path(path)
        with self._lock:
            return self._audio.get(path)

    def start_loading(self, path: str | Path) -> bool:
        """True when `path` should be decoded now (not held, not already being decoded)."""
        path = Path(path)
        with self._lock:
            if path in self._audio or path in self._loading:
                return False
            self._loading.add(path)
            return True

    def loaded(self, path: str | Path, audio: np.ndarray | None) -> None:
        """A decode finished (`audio`) or failed (None)."""
        path = Path(path)
        with self._lock:
            self._loading.discard(path)
            if audio is None:
                return
            self._audio[path] = audio

    def overview(self, path: str | Path, start: int) -> Overview | None:
        """The take's waveform placed at `start` (computed once per take and position)."""
        path = Path(path)
        audio = self.audio(path)
        if audio is None:
            return None
        with self._lock:
            ov = self._overviews.get((path, start))
        if ov is None:
            ov = Overview.from_array(audio, start)
            with self._lock:
                self._overviews[(path, start)] = ov
        return ov

    def retain(self, paths) -> None:
        """Keep only these takes (and their waveforms at any position)."""
        keep = {Path(p) for p in paths}
        with self._lock:
            for p in [p for p in self._audio if p not in keep]:
                del self._audio[p]
            for k in [k for k in self._overviews if k[0] not in keep]:
                del self._overviews[k]

    def clear(self) -> None:
        with self._lock:
            self._audio.clear()
            self._overviews.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._audio)


class Runs:
    """Generation runs per segment: `start(seg)` when a job is submitted, `take(seg)` for each
    take that arrives -> (the run it belongs to, whether it is the run's first)."""

    def __init__(self) -> None:
        self._fresh: dict[str, object] = {}
        self._current: dict[str, object] = {}

    def start(self, seg_id: str) -> object:
        run = object()
        self._fresh[seg_id] = run
        return run

    def take(self, seg_id: str) -> tuple[object | None, bool]:
        run = self._fresh.pop(seg_id, None)
        first = run is not None
        if run is None:
            run = self._current.get(seg_id)
        self._current[seg_id] = run
        return run, first

    @property
    def waiting(self) -> bool:
        """A run was started whose first take has not arrived."""
        return bool(self._fresh)
