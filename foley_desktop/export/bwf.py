"""Broadcast WAV writer: `bext` and `iXML` chunks, 24-bit PCM or 32-bit float, RF64 past 4 GB.

Layout written: RIFF/WAVE, a 28-byte `JUNK` chunk reserved for `ds64`, `fmt `, (`fact` for
float), `bext`, `iXML`, `data`. Audio is streamed in blocks; on close the sizes are patched and,
when the file grew past the 32-bit limit (`rf64_threshold`, lowered by tests), the header turns
into RF64 (EBU Tech 3306): "RF64", the JUNK chunk becomes `ds64` with the 64-bit sizes, and the
32-bit size fields hold 0xFFFFFFFF. Reserving the JUNK chunk up front is what lets a file
switch to RF64 without rewriting its audio.

References for the formats: EBU Tech 3285 (bext), the iXML 1.61 specification, EBU Tech 3306.
"""

from __future__ import annotations

import datetime as _dt
import os
import struct
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from foley_desktop import __version__
from foley_desktop.errors import ExportError, FoleyError
from foley_desktop.fsutil import atomic_write
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.media.wav import encode_pcm24

RIFF_LIMIT = 0xFFFFFFFF
SUBTYPES = {"PCM_24": (1, 24), "FLOAT": (3, 32)}
_KSDATAFORMAT = {1: bytes.fromhex("0100000000001000800000aa00389b71"),
                 3: bytes.fromhex("0300000000001000800000aa00389b71")}


@dataclass
class Bext:
    """The `bext` fields we write (EBU Tech 3285 v1). Text is ASCII, cut to each field's size."""

    description: str = ""
    originator: str = "Foley Desktop"
    originator_reference: str = ""
    origination_date: str = ""  # "YYYY-MM-DD"; default: now
    origination_time: str = ""  # "HH:MM:SS"; default: now
    time_reference: int = 0  # first sample's position, in samples since midnight
    coding_history: str = ""

    def __post_init__(self) -> None:
        now = _dt.datetime.now()
        self.origination_date = self.origination_date or now.strftime("%Y-%m-%d")
        self.origination_time = self.origination_time or now.strftime("%H:%M:%S")
        if not self.originator_reference:
            # Unique per file: app tag, date-time, random serial (fits the 32-byte field).
            self.originator_reference = "FOLEYDSK" + now.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:10].upper()

    def pack(self) -> bytes:
        def text(s: str, n: int) -> bytes:
            return s.encode("ascii", "replace")[:n].ljust(n, b"\0")

        ref = int(self.time_reference)
        if not 0 <= ref < 1 << 64:
            raise ValueError(f"time reference out of range: {ref}")
        head = (text(self.description, 256) + text(self.originator, 32)
                + text(self.originator_reference, 32) + text(self.origination_date, 10)
                + text(self.origination_time, 8)
                + struct.pack("<IIH", ref & 0xFFFFFFFF, ref >> 32, 1)
                + b"\0" * 64  # UMID: none
                + b"\0" * 10  # loudness fields (version 2 only)
                + b"\0" * 180)
        history = self.coding_history.encode("ascii", "replace")
        if history and not history.endswith(b"\r\n"):
            history += b"\r\n"
        history += b"\0" * (len(history) % 2)  # even chunk size (see IXml.to_xml)
        return head + history


@dataclass
class IXml:
    """The iXML fields we write; `note` carries model, variant, seed and prompt."""

    project: str = ""
    scene: str = ""
    take: str = ""
    note: str = ""
    timecode_rate: Fraction | None = None  # frame rate of the timecode, e.g. 30000/1001
    drop_frame: bool = False
    time_reference: int = 0  # samples since midnight, as in bext
    sample_rate: int = SAMPLE_RATE
    bit_depth: int = 24
    track_names: list[str] = field(default_factory=list)
    # What made the file (a take's recorded parameters, model, hash, app version): written as
    # iXML's free-text USER element, one "key: value" line each (`provenance_lines`).
    user: dict[str, Any] = field(default_factory=dict)

    def to_xml(self) -> bytes:
        root = ET.Element("BWFXML")

        def add(parent, tag, value):
            el = ET.SubElement(parent, tag)
            el.text = str(value)
            return el

        add(root, "IXML_VERSION", "1.61")
        add(root, "PROJECT", self.project)
        add(root, "SCENE", self.scene)
        add(root, "TAKE", self.take)
        add(root, "NOTE", self.note)
        speed = ET.SubElement(root, "SPEED")
        if self.timecode_rate is not None:
            rate = Fraction(self.timecode_rate)
            add(speed, "MASTER_SPEED", f"{rate.numerator}/{rate.denominator}")
            add(speed, "TIMECODE_RATE", f"{rate.numerator}/{rate.denominator}")
        add(speed, "TIMECODE_FLAG", "DF" if self.drop_frame else "NDF")
        add(speed, "FILE_SAMPLE_RATE", self.sample_rate)
        add(speed, "AUDIO_BIT_DEPTH", self.bit_depth)
        add(speed, "TIMESTAMP_SAMPLE_RATE", self.sample_rate)
        add(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI", int(self.time_reference) >> 32)
        add(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO", int(self.time_reference) & 0xFFFFFFFF)
        if self.track_names:
            tracks = ET.SubElement(root, "TRACK_LIST")
            add(tracks, "TRACK_COUNT", len(self.track_names))
            for i, name in enumerate(self.track_names, start=1):
                t = ET.SubElement(tracks, "TRACK")
                add(t, "CHANNEL_INDEX", i)
                add(t, "INTERLEAVE_INDEX", i)
                add(t, "NAME", name)
        if self.user:
            add(root, "USER", "\n".join(provenance_lines(self.user)))
        xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
        # Even length, padded inside the chunk: libsndfile's RF64 reader trips on pad bytes.
        return xml + b"\n" * (len(xml) % 2)


def provenance_lines(record: dict[str, Any]) -> list[str]:
    """A take's record as "key: value" lines (nested values flattened as key.sub), for iXML
    USER and export notes; long values are cut at 400 characters."""
    out = []
    for k, v in record.items():
        if isinstance(v, dict):
            out += [f"{k}.{line}" for line in provenance_lines(v)]
            continue
        text = "" if v is None else (", ".join(map(str, v)) if isinstance(v, (list, tuple))
                                     else str(v))
        out.append(f"{k}: {' '.join(text.split())[:400]}")
    return out


def coding_history(subtype: str, sr: int, channels: int) -> str:
    mode = {1: "mono", 2: "stereo"}.get(channels, "multichannel")
    bits = SUBTYPES[subtype][1]
    kind = "IEEE float" if subtype == "FLOAT" else "PCM"
    return f"A=PCM,F={sr},W={bits},M={mode},T=Foley Desktop {__version__} ({kind})"


def _chunk(ident: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return ident + struct.pack("<I", len(payload)) + payload + pad


def _fmt(fmt_tag: int, channels: int, sr: int, bits: int) -> bytes:
    block = channels * bits // 8
    if channels > 2:
        # WAVE_FORMAT_EXTENSIBLE with the channel mask left to the reader (0: no mapping).
        return struct.pack("<HHIIHHHHI16s", 0xFFFE, channels, sr, sr * block, block, bits, 22,
                           bits, 0, _KSDATAFORMAT[fmt_tag])
    if fmt_tag == 3:
        return struct.pack("<HHIIHHH", 3, channels, sr, sr * block, block, bits, 0)
    return struct.pack("<HHIIHH", 1, channels, sr, sr * block, block, bits)


def _encode(block: np.ndarray, subtype: str) -> bytes:
    """[channels, n] float -> interleaved little-endian bytes (24-bit clips to full scale)."""
    if subtype == "FLOAT":
        return np.ascontiguousarray(block.T).astype("<f4", copy=False).tobytes()
    return encode_pcm24(block)


class BwfWriter:
    """Streams one BWF file into an open binary file object (the caller makes it atomic)."""

    def __init__(self, fh: IO[bytes], channels: int, sr: int = SAMPLE_RATE, subtype: str = "PCM_24",
                 bext: Bext | None = None, ixml: IXml | None = None,
                 rf64_threshold: int = RIFF_LIMIT) -> None:
        if subtype not in SUBTYPES:
            raise ValueError(f"subtype must be one of {', '.join(SUBTYPES)}")
        if channels < 1:
            raise ValueError("channels must be >= 1")
        self.fh, self.channels, self.sr, self.subtype = fh, channels, sr, subtype
        self.fmt_tag, self.bits = SUBTYPES[subtype]
        self.rf64_threshold = rf64_threshold
        self.frames = 0
        self.rf64 = False
        head = bytearray(b"RIFF\0\0\0\0WAVE")
        head += _chunk(b"JUNK", b"\0" * 28)
        head += _chunk(b"fmt ", _fmt(self.fmt_tag, channels, sr, self.bits))
        self._fact_pos = None
        if self.fmt_tag == 3:
            self._fact_pos = len(head) + 8
            head += _chunk(b"fact", b"\0\0\0\0")
        if bext is not None:
            head += _chunk(b"bext", bext.pack())
        if ixml is not None:
            head += _chunk(b"iXML", ixml.to_xml())
        self._data_size_pos = len(head) + 4
        head += b"data\0\0\0\0"
        self._data_start = len(head)
        fh.write(head)

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[None, :]
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[0]}")
        self.fh.write(_encode(block, self.subtype))
        self.frames += block.shape[1]

    def close(self) -> None:
        """Pad and patch the sizes (RF64 if needed). Leaves the file object open."""
        data = self.frames * self.channels * self.bits // 8
        if data % 2:
            self.fh.write(b"\0")
        end = self._data_start + data + (data % 2)
        riff = end - 8
        self.rf64 = riff > self.rf64_threshold or data > self.rf64_threshold
        self.fh.seek(0)
        if self.rf64:
            self.fh.write(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE")
            # ds64: RIFF size, data size, sample count (frames), table length 0.
            self.fh.write(b"ds64" + struct.pack("<IQQQI", 28, riff, data, self.frames, 0))
            self.fh.seek(self._data_size_pos)
            self.fh.write(struct.pack("<I", 0xFFFFFFFF))
        else:
            self.fh.write(b"RIFF" + struct.pack("<I", riff))
            self.fh.seek(self._data_size_pos)
            self.fh.write(struct.pack("<I", data))
        if self._fact_pos is not None:
            self.fh.seek(self._fact_pos)
            self.fh.write(struct.pack("<I", min(self.frames, 0xFFFFFFFF)))
        self.fh.seek(end)


def write_bwf(path: str | os.PathLike, audio: np.ndarray, sr: int = SAMPLE_RATE, subtype: str = "PCM_24",
              bext: Bext | None = None, ixml: IXml | None = None,
              rf64_threshold: int = RIFF_LIMIT) -> Path:
    """Write `audio` (float, [samples] or [channels, samples]) as a BWF file, atomically."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    path = Path(path)
    try:
        with atomic_write(path) as fh:
            w = BwfWriter(fh, audio.shape[0], sr, subtype, bext, ixml, rf64_threshold)
            step = 1 << 18
            for i in range(0, audio.shape[1], step):
                w.write(audio[:, i:i + step])
            w.close()
    except FoleyError as exc:
        raise ExportError(str(exc)) from exc
    return path

