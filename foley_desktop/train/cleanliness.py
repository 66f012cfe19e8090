"""Cleanliness of generated audio, next to the real reference clips: clipping, DC, loudness and
speech-like sound (the evaluation issue's "no clipping, no DC, no babble, sane loudness").

Measured twice where it matters: on the decoder's raw output (what the model makes) and after
the engine's finishing stage (`engine.post.finish` without a loudness target: DC removal, and
a take over the -1 dBTP ceiling turned down as a whole; what a take holds). Speech is judged
by Silero VAD, the trained detector the separation stage ships (`separation/vad.py`), as the
share of its 32 ms chunks above 0.5. The crowd class is reported
apart: its real recordings are people talking, so speech there is the prompt, not babble.
"""
from __future__ import annotations

import math

import numpy as np

from foley_desktop.engine import post

SPEECH_CLASSES = ("crowd",)   # classes whose real audio is talking


def speech_share(audio: np.ndarray, threshold: float = 0.5) -> float:
    """Share of 32 ms chunks that Silero VAD calls speech (a fresh detector state per clip)."""
    from foley_desktop.separation.vad import VoiceActivity
    p = VoiceActivity().process(np.asarray(audio, np.float32))
    return float(np.mean(p > threshold)) if len(p) else 0.0


def _db(x: float) -> float | None:
    return round(20 * math.log10(x), 2) if x > 0 else None   # None: silence (JSON has no -inf)


def _summary(values: list[float]) -> dict:
    v = np.array([x for x in values if math.isfinite(x)], np.float64)
    if not len(v):
        return {"min": None, "median": None, "max": None}
    return {"min": round(float(v.min()), 2), "median": round(float(np.median(v)), 2),
            "max": round(float(v.max()), 2)}


def _block(clips: list[np.ndarray], classes: list[str]) -> dict:
    peaks = [float(np.abs(a).max()) if len(a) else 0.0 for a in clips]
    done = [post.finish(a) for a in clips]
    finished = [f for f, _ in done]
    gains = [r.get("gain_db", 0.0) for _, r in done]
    tps = [r["true_peak_dbtp"] for _, r in done]                # measured by finish already
    talk = [speech_share(a) for a in clips]
    other = [s for s, c in zip(talk, classes) if c not in SPEECH_CLASSES]
    crowd = [s for s, c in zip(talk, classes) if c in SPEECH_CLASSES]
    return {
        "peak_dbfs_max": _db(max(peaks)),
        "clipped_samples": int(sum(int(np.sum(np.abs(a) >= 1.0)) for a in clips)),
        "dc_max": round(max(abs(float(np.mean(a))) for a in clips), 6),
        "finished_true_peak_dbtp_max": round(max(tps), 2),
        "finished_dc_max": round(max(abs(float(np.mean(f))) for f in finished), 6),
        "finished_gain_db_min": round(min(gains), 2),
        "finished_clips_turned_down": int(sum(g < 0 for g in gains)),
        "loudness_lufs": _summary([post.integrated_loudness(a) for a in clips]),
        "finished_loudness_lufs": _summary([post.integrated_loudness(f) for f in finished]),
        "speech_share_mean": round(float(np.mean(other)), 4) if other else None,
        "speech_share_max": round(float(np.max(other)), 4) if other else None,
        "clips_with_speech_over_10pct": int(sum(s > 0.1 for s in other)),
        "speech_share_mean_crowd": round(float(np.mean(crowd)), 4) if crowd else None,
    }


def report(generated: list[np.ndarray], references: list[np.ndarray], classes: list[str]) -> dict:
    """Figures for the generated clips and, measured the same way, their real references."""
    return {"generated": _block(generated, classes), "reference_audio": _block(references, classes),
            "speech_detector": "Silero VAD, share of 32 ms chunks with p > 0.5; crowd apart",
            "finished": "engine.post.finish without a loudness target: DC removal, one gain "
                        "down to -1 dBTP where the take is over it"}
