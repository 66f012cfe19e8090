"""Minimal WAV writer: 24-bit PCM or 32-bit float, written atomically.

The full Broadcast WAV writer (bext, iXML) lives in `foley_desktop/export/`; this one serves
intermediate files (takes, stems before export, muxing) and tests.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from foley_desktop.fsutil import atomic_write
from foley_desktop.media.timebase import SAMPLE_RATE

SUBTYPES = ("PCM_24", "FLOAT")
# KSDATAFORMAT_SUBTYPE GUID tail shared by PCM (1) and IEEE float (3) in WAVE_FORMAT_EXTENSIBLE.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# Default speaker masks for 1-8 channels (front left/right, centre, LFE, back, side).
_MASKS = {1: 0x4, 2: 0x3, 3: 0x7, 4: 0x33, 5: 0x37, 6: 0x3F, 7: 0x13F, 8: 0x63F}


def _as_channels_first(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"audio must be [samples] or [channels, samples], got shape {a.shape}")
    return a


def encode_pcm24(audio: np.ndarray) -> bytes:
    """Interleaved little-endian 24-bit samples; values clipped to [-1, 1), NaN written as 0
    (a cast of NaN to int is undefined; ±inf clip to full scale)."""
    a = np.nan_to_num(_as_channels_first(audio).astype(np.float64), nan=0.0)
    q = np.clip(np.round(a * 8388608.0), -8388608, 8388607).astype("<i4")
    inter = q.T.reshape(-1)  # interleave: frame by frame
    return inter.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def wav_bytes(audio: np.ndarray, sr: int = SAMPLE_RATE, subtype: str = "PCM_24") -> bytes:
    if subtype not in SUBTYPES:
        raise ValueError(f"subtype must be one of {SUBTYPES}, not {subtype!r}")
    a = _as_channels_first(audio)
    channels, frames = a.shape
    if not np.all(np.isfinite(a)):
        raise ValueError("audio contains NaN or infinity")
    if subtype == "PCM_24":
        data, bits, tag = encode_pcm24(a), 24, 1
    else:
        data, bits, tag = np.ascontiguousarray(a.T, dtype="<f4").tobytes(), 32, 3
    block = channels * bits // 8
    if channels > 2:
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, sr, sr * block, block, bits, 22, bits,
                          _MASKS.get(channels, 0)) + struct.pack("<H", tag) + _GUID_TAIL
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, sr, sr * block, block, bits)
        if tag == 3:
            fmt += struct.pack("<H", 0)  # cbSize: non-PCM formats carry it
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if tag == 3 or channels > 2:
        chunks += b"fact" + struct.pack("<II", 4, frames)
    pad = b"\x00" if len(data) % 2 else b""
    chunks += b"data" + struct.pack("<I", len(data)) + data + pad
    if len(chunks) + 4 > 0xFFFFFFFF:
        raise ValueError("audio too long for a WAV file (4 GiB)")
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WAVE" + chunks


def write_wav(path: str | os.PathLike, audio: np.ndarray, sr: int = SAMPLE_RATE,
              subtype: str = "PCM_24") -> None:
    """Write [samples] or [channels, samples] float audio as a WAV file, atomically."""
    payload = wav_bytes(audio, sr, subtype)
    with atomic_write(path) as fh:
        fh.write(payload)
