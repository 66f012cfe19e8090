"""The backend interface every separator implements, and the registry that names them."""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from foley_desktop.errors import FoleyError, ModelPackageError


class Separator(abc.ABC):
    """Streaming separation of 48 kHz audio into (dialogue, background).

    `process_block(block)` takes float32 `[channels, n]` blocks of any length and returns two
    arrays of the same channel count holding the separated audio `latency` samples behind the
    input: the first call's first `latency` output samples belong to time before the input
    began and are zeros. `flush()` ends the stream and returns the last `latency` samples.
    So the stems line up with the input after dropping `latency` samples from their start,
    which `separate_array` and the file job do. Memory stays bounded by the latency.
    """

    name: str = ""
    latency: int = 0
    detects_speech = False  # True: speech_probability() has the backend's own VAD output

    def __init__(self, channels: int) -> None:
        if channels < 1:
            raise FoleyError("audio with no channels cannot be separated")
        self.channels = channels

    @abc.abstractmethod
    def process_block(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        tail = np.zeros((self.channels, self.latency), np.float32)
        return self.process_block(tail)

    def speech_probability(self) -> np.ndarray:
        """Per-10 ms speech probabilities emitted since the last call (for speech regions)."""
        return np.zeros(0, np.float32)

    def pre_pass(self) -> PrePass | None:
        """A measurement this backend takes over the whole input before separating it (the
        default backend: the clip's level), or None. Whoever has the whole input (a file, an
        array) feeds it every block in order, calls `done()`, then streams the input through
        `process_block` as usual; without it the backend works causally."""
        return None


class PrePass(abc.ABC):
    """A first pass over the input: `add` every block in order (any sizes), then `done()`.
    Its memory must not grow with the input's length beyond a small summary."""

    @abc.abstractmethod
    def add(self, block: np.ndarray) -> None: ...

    @abc.abstractmethod
    def done(self) -> None: ...


def separate_array(sep: Separator, audio: np.ndarray, block: int = 48000,
                   pre_pass: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Run a whole (short) array through a separator; stems exactly as long as `audio`.

    `pre_pass`: give the separator its measurement over the whole array first when it takes
    one (as the file job does); False runs it as a live stream would (causally)."""
    audio = np.atleast_2d(np.asarray(audio, np.float32))
    pp = sep.pre_pass() if pre_pass else None
    if pp is not None:
        for i in range(0, audio.shape[1], block):
            pp.add(audio[:, i:i + block])
        pp.done()
    ds, bs = [], []
    for i in range(0, audio.shape[1], block):
        d, b = sep.process_block(audio[:, i:i + block])
        ds.append(d)
        bs.append(b)
    d, b = sep.flush()
    ds.append(d)
    bs.append(b)
    n, lat = audio.shape[1], sep.latency
    d = np.concatenate(ds, axis=1)[:, lat:lat + n]
    b = np.concatenate(bs, axis=1)[:, lat:lat + n]
    return d, b


BackendFactory = Callable[..., Separator]
_BACKENDS: dict[str, tuple[BackendFactory, str]] = {}


def register(name: str, help_text: str):
    def deco(factory: BackendFactory) -> BackendFactory:
        _BACKENDS[name] = (factory, help_text)
        return factory

    return deco


def backends() -> dict[str, str]:
    _load_builtin()
    return {name: help_text for name, (_, help_text) in _BACKENDS.items()}


def make_separator(name: str, channels: int, **options) -> Separator:
    _load_builtin()
    if name not in _BACKENDS:
        raise FoleyError(f"unknown separation backend {name!r} (have: {', '.join(_BACKENDS)})")
    return _BACKENDS[name][0](channels=channels, **options)


def _load_builtin() -> None:
    # Imported here so that importing the interface loads no model library.
    from foley_desktop.separation import (  # noqa: F401
        baseline,
        default,
        demucs,
        fusion_net,
        masknet,
        refine,
        tasnet,
    )


_SESSIONS: dict[str, object] = {}


def small_network(path: Path, what: str, mem_pattern: bool = True, threads: int = 1):
    """A small trained network's ONNX Runtime session, one thread on the CPU (it runs beside
    decoding and the GUI), loaded once per process; `what` names it in the error when the file
    is missing. `mem_pattern=False`: ONNX Runtime does not plan one block for all of a run's
    activations (for large activations: tasnet.session says why). `threads` > 1: that many
    threads, which sleep between runs instead of spinning (they share the CPU with others)."""
    key = f"{path}|{mem_pattern}|{threads}"
    if key not in _SESSIONS:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelPackageError(f"{what} missing: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        if threads > 1:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.enable_mem_pattern = mem_pattern
        _SESSIONS[key] = ort.InferenceSession(str(path), opts,
                                              providers=["CPUExecutionProvider"])
    return _SESSIONS[key]
