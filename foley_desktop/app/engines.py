"""Loaded engines kept from one job to the next, a few at most.

An `Engine` holds a package's ONNX Runtime sessions (hundreds of MB for a large model), so the
cache keeps the `capacity` most recently used ones and lets the oldest go. It is shared by the
generation jobs' worker threads and the window's thread: one lock guards the table and loads
happen under a per-key lock, so two jobs asking for the same engine load it once and two
different engines load side by side.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Key = tuple[str, str, str]   # (model ref, precision, provider)


class EngineCache:
    def __init__(self, capacity: int = 2, factory: Callable[..., Any] | None = None) -> None:
        if capacity < 1:
            raise ValueError("an engine cache holds at least one engine")
        self.capacity = capacity
        self._factory = factory
        self._engines: OrderedDict[Key, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}

    def _make(self, key: Key):
        if self._factory is not None:
            return self._factory(*key)
        from foley_desktop.engine.generate import Engine

        return Engine(key[0], key[1], key[2])

    def get(self, model: str, precision: str, provider: str):
        """The engine for (model, precision, provider), loaded on first use (raises what
        loading raises; nothing is kept then)."""
        key = (str(model), precision or "auto", provider or "auto")
        with self._lock:
            if key in self._engines:
                self._engines.move_to_end(key)
                return self._engines[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._engines:   # loaded by another thread while this one waited
                    self._engines.move_to_end(key)
                    return self._engines[key]
            engine = self._make(key)
            with self._lock:
                self._engines[key] = engine
                self._engines.move_to_end(key)
                while len(self._engines) > self.capacity:
                    self._engines.popitem(last=False)
                self._loading.pop(key, None)
            return engine

    def __len__(self) -> int:
        with self._lock:
            return len(self._engines)

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._engines)

    def clear(self) -> None:
        """Let every engine go (their sessions and threads with them)."""
        with self._lock:
            self._engines.clear()
