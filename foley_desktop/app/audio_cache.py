"""Lane audio kept on disk: a float32 copy for playback (memory-mapped) and the waveform overview.

An hour of stereo at 48 kHz is 1.4 GB of float32: playback must not hold it in memory. One
streaming decode (`media.iter_audio`, a few MB at a time) writes the samples to
`<cache>/audio/<key>.<channels>ch.f32` (interleaved) and the overview's peaks to
`<key>.overview.npy`; later opens of the same file (same path, size and mtime) decode nothing.
The mixer reads the memory map as a [channels, n] view, so the OS pages in only what plays.
Plain numpy, no Qt: the window runs `load_lane_audio` as a worker job.

The overview is progressive: while decoding, `partial(overview)` receives what is ready (at
most every `PARTIAL_S` seconds), so an hour-long clip shows its first minutes at once instead
of after the whole decode (~10 s here). The overview file is written last and atomically: it is
the completion marker, so a decode that was interrupted (closed, killed) is never taken for a
finished one and is simply done again.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from foley_desktop.app.overview import BIN, Overview
from foley_desktop.fsutil import atomic_write
from foley_desktop.jobs import CancelToken, ProgressMeter, check

BLOCK = BIN * 4096  # samples per decoded block (262144: 2 MB of stereo float32)
PARTIAL_S = 0.5  # seconds between partial overviews sent to the timeline


def cache_key(path: str | os.PathLike) -> str:
    st = os.stat(path)
    ident = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(ident.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _cached(folder: Path, key: str) -> tuple[Overview, np.ndarray] | None:
    ov_path = folder / f"{key}.overview.npy"
    pcm = sorted(folder.glob(f"{key}.*ch.f32"))
    if not ov_path.exists() or not pcm:
        return None
    try:
        peaks = np.load(ov_path, allow_pickle=False)
        channels = int(pcm[0].name.split(".")[-2][:-2])
        size = pcm[0].stat().st_size
        n = size // (4 * channels)
        bed = (np.memmap(pcm[0], np.float32, "r", shape=(n, channels)).T if n
               else np.zeros((channels, 0), np.float32))
    except (OSError, ValueError):
        return None  # damaged cache: decode again
    return Overview(peaks[0], peaks[1]), bed


def load_lane_audio(path: str | os.PathLike, cache_dir: str | os.PathLike, *, progress=None,
                    cancel: CancelToken | None = None,
                    partial: Callable[[Overview], None] | None = None) -> tuple[Overview, np.ndarray]:
    """(overview, bed): bed is a read-only float32 [channels, n] memory map of the audio.

    `partial` (called on this worker thread) gets growing overviews while the file decodes;
    each one's `expected_end` is the clip's length, so the timeline can show what is pending.
    """
    from foley_desktop.media import iter_audio, probe

    folder = Path(cache_dir) / "audio"
    folder.mkdir(parents=True, exist_ok=True)
    key = cache_key(path)
    hit = _cached(folder, key)
    if hit is not None:
        return hit
    info = probe(path)
    meter = ProgressMeter(progress, "waveform", max(1, info.duration_samples))
    # Peaks go into buffers sized from the probed length (grown if the decode runs longer), so
    # a partial overview is a view, not a copy of everything so far.
    mins = np.zeros(info.duration_samples // BIN + 2, np.float32)
    maxs = np.zeros_like(mins)
    filled = 0
    carry = np.zeros(0, np.float32)
    done = 0
    channels = None
    last_partial = -PARTIAL_S  # the first block is sent at once: something to draw early
    pcm_tmp = folder / f"{key}.partial"
    with atomic_write(pcm_tmp) as fh:
        for block in iter_audio(path, BLOCK, cancel=cancel):
            check(cancel)
            channels = block.shape[0]
            fh.write(np.ascontiguousarray(block.T).tobytes())
            data = np.concatenate([carry, block.mean(axis=0)])
            n = len(data) // BIN
            if n:
                if filled + n + 1 > len(mins):
                    mins = np.resize(mins, 2 * (filled + n + 1))
                    maxs = np.resize(maxs, len(mins))
                b = data[: n * BIN].reshape(n, BIN)
                mins[filled:filled + n] = b.min(axis=1)
                maxs[filled:filled + n] = b.max(axis=1)
                filled += n
            carry = data[n * BIN:]
            done += block.shape[1]
            meter.update(done)
            if partial is not None and time.monotonic() - last_partial >= PARTIAL_S:
                partial(Overview(mins[:filled], maxs[:filled],
                                 expected_end=info.duration_samples))
                last_partial = time.monotonic()
    if len(carry):
        mins[filled], maxs[filled] = carry.min(), carry.max()
        filled += 1
    if not filled:
        filled = 1
        mins[0] = maxs[0] = 0.0
    peaks = np.stack([mins[:filled], maxs[:filled]]).astype(np.float32)
    os.replace(pcm_tmp, folder / f"{key}.{channels or 1}ch.f32")
    with atomic_write(folder / f"{key}.overview.npy") as fh:
        np.save(fh, peaks, allow_pickle=False)
    hit = _cached(folder, key)
    assert hit is not None
    return hit
