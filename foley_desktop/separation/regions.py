"""Speech regions for the timeline, from Silero VAD probabilities.

Each probability covers one 32 ms chunk (vad.CHUNK samples at 48 kHz). A region opens when
the probability reaches ON and closes when it falls below OFF (hysteresis, so one word's
dips do not split it); regions shorter than MIN_SPEECH are dropped, gaps shorter than
MIN_GAP are bridged, and each region is widened by PAD so soft onsets and word endings fall
inside. Times are integer samples at 48 kHz, end exclusive.
"""

from __future__ import annotations

import os

import numpy as np

from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.separation import vad

ON, OFF = 0.5, 0.35
MIN_SPEECH = 12000  # 250 ms
MIN_GAP = 14400  # 300 ms
PAD = 2880  # 60 ms


def regions_from_probs(probs: np.ndarray, total: int) -> list[tuple[int, int]]:
    """Turn chunk probabilities into [(start, end)] sample regions within [0, total)."""
    raw: list[list[int]] = []
    active = False
    for i, p in enumerate(np.asarray(probs, np.float32)):
        t = i * vad.CHUNK - vad.FILTER_DELAY
        if not active and p >= ON:
            raw.append([t, t + vad.CHUNK])
            active = True
        elif active:
            if p < OFF:
                active = False
            else:
                raw[-1][1] = t + vad.CHUNK
    merged: list[list[int]] = []
    for r in raw:
        if merged and r[0] - merged[-1][1] < MIN_GAP:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    out = []
    for s, e in merged:
        if e - s < MIN_SPEECH:
            continue
        s, e = max(0, s - PAD), min(total, e + PAD)
        if e > s:
            out.append((int(s), int(e)))
    # Padding can make neighbours touch: join them.
    joined: list[tuple[int, int]] = []
    for s, e in out:
        if joined and s <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(e, joined[-1][1]))
        else:
            joined.append((s, e))
    return joined


def speech_regions(path: str | os.PathLike, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None) -> list[tuple[int, int]]:
    """Speech regions of a clip's audio (VAD only: much faster than a full separation)."""
    from foley_desktop.errors import NoStreamError
    from foley_desktop.media import audio_length, iter_audio, probe
    from foley_desktop.separation.default import analysis_channel

    info = probe(path)
    if info.audio is None:
        raise NoStreamError(f"{info.path.name} has no audio stream: no speech to find")
    total = audio_length(info)
    centre = analysis_channel(info.audio.channels)
    meter = ProgressMeter(progress, "speech regions", total)
    det = vad.VoiceActivity()
    probs = []
    done = 0
    for block in iter_audio(path, block=10 * vad.CHUNK * 32, cancel=cancel):
        check(cancel)
        a = block[centre] if centre is not None else block.mean(axis=0)
        probs.append(det.process(a))
        done += block.shape[1]
        meter.update(done)
    # Let the last partial chunk count: pad with silence up to a whole chunk.
    probs.append(det.process(np.zeros(vad.CHUNK + vad.FILTER_DELAY, np.float32)))
    return regions_from_probs(np.concatenate(probs) if probs else np.zeros(0), total)
