"""What a sound file says about itself: format, length, channels, rate, and its descriptions.

WAV/BWF/RF64 files are read chunk by chunk here (the audio data itself is not read): `fmt `,
`ds64`, `data`'s size, `bext` Description, `iXML` NOTE/DESCRIPTION and `LIST/INFO` title,
comment, keywords, genre. Other formats (FLAC, AIFF, OGG, MP3) are opened with libsndfile
(soundfile) for their parameters and with PyAV for their tags (Vorbis comments, ID3), both of
which the app already ships. Anything that cannot be read raises `SkipFile` with a reason for
the scan report; nothing here lets a third-party exception escape.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from foley_desktop.library.naming import UcsName, parse_ucs

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".bwf", ".rf64", ".w64", ".flac", ".aif", ".aiff", ".aifc",
                              ".ogg", ".oga", ".mp3"})
# Files larger than this are skipped as "huge": an editor's single effects are rarely past a
# few hundred MB; multi-GB files are field recordings or mistakes (a video renamed .wav).
MAX_BYTES = 2 << 30
MAX_TEXT = 4096  # longest description kept (iXML notes can carry whole logs)


class SkipFile(Exception):
    """This file is not indexed; `str(exc)` is the reason shown in the scan report."""


@dataclass
class SoundMeta:
    path: Path
    size: int
    mtime_ns: int
    format: str                 # "WAV", "RF64", "FLAC", "AIFF", "OGG", "MP3"
    duration_s: float
    channels: int
    sample_rate: int
    description: str = ""       # bext Description, else iXML note, else comment
    title: str = ""
    tags: list[str] = field(default_factory=list)   # keywords, genre, iXML/INFO extras
    ucs: UcsName | None = None


def read_metadata(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> SoundMeta:
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SkipFile("vanished (deleted or moved during the scan)") from None
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from None
    if path.is_dir():
        raise SkipFile("is a folder, not a file")
    if st.st_size == 0:
        raise SkipFile("empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise SkipFile(f"too large ({st.st_size / 2**30:.1f} GiB; the limit is "
                       f"{max_bytes / 2**30:.1f} GiB)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            fh.seek(0)
            if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
                meta = _read_wav(fh, path, st.st_size)
            else:
                meta = _read_other(path)
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from None
    meta.size, meta.mtime_ns = st.st_size, st.st_mtime_ns
    if not (meta.sample_rate > 0 and meta.channels > 0):
        raise SkipFile(f"no usable audio format (rate {meta.sample_rate}, channels {meta.channels})")
    if meta.duration_s <= 0:
        raise SkipFile("no audio samples")
    meta.ucs = parse_ucs(path.stem)
    meta.description = _clean(meta.description)[:MAX_TEXT]
    meta.title = _clean(meta.title)[:MAX_TEXT]
    meta.tags = [t for t in (_clean(t)[:256] for t in meta.tags) if t]
    return meta


def _clean(text: str) -> str:
    return " ".join(str(text).replace("\0", " ").split())


def _text(raw: bytes) -> str:
    raw = raw.split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # bext is ASCII by spec; old tools wrote code pages


# ---- WAV / BWF / RF64 -----------------------------------------------------------------------

def _read_wav(fh: BinaryIO, path: Path, size: int) -> SoundMeta:
    riff = fh.read(12)[:4]
    fmt = None
    data_size = data_pos = None
    ds64_data = None
    meta = SoundMeta(path, size, 0, "RF64" if riff != b"RIFF" else "WAV", 0.0, 0, 0)
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        hdr = fh.read(8)
        if len(hdr) < 8:
            break
        ident, n = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        body = pos + 8
        if ident == b"ds64" and n >= 24:
            _riff64, ds64_data = struct.unpack("<QQ", fh.read(16))
        elif ident == b"fmt ":
            if n < 16:
                raise SkipFile(f"broken WAV: fmt chunk of {n} bytes")
            tag, ch, sr, _bps, align, bits = struct.unpack("<HHIIHH", fh.read(16))
            fmt = (tag, ch, sr, align, bits)
        elif ident == b"data":
            data_pos = body
            data_size = ds64_data if (n == 0xFFFFFFFF and ds64_data is not None) else n
            # An unfinished recorder file says 0 or 0xFFFFFFFF: the data runs to the end.
            if n in (0, 0xFFFFFFFF) and ds64_data is None:
                data_size = size - body
            if data_pos + data_size > size:
                raise SkipFile(f"truncated: the data chunk declares {data_size:,} bytes, the file "
                               f"holds {size - data_pos:,}")
            n = data_size
        elif ident == b"bext" and n >= 256:
            meta.description = _text(fh.read(256))
        elif ident in (b"iXML", b"ixml"):
            _ixml(fh.read(min(n, 1 << 20)), meta)
        elif ident == b"LIST" and n >= 4:
            _info(fh.read(min(n, 1 << 20)), meta)
        if (ident == b"data" and fmt is not None and data_pos is not None and data_size is not None
                and data_pos + data_size >= size - 1):
            break
        pos = body + n + (n & 1)
    if fmt is None:
        raise SkipFile("broken WAV: no fmt chunk")
    if data_size is None:
        raise SkipFile("truncated WAV: no data chunk")
    tag, ch, sr, align, bits = fmt
    if tag not in (1, 3, 0xFFFE, 6, 7):
        raise SkipFile(f"WAV with compressed audio (format tag {tag:#x}) is not supported")
    if align <= 0:
        align = ch * max(1, bits // 8)
    meta.channels, meta.sample_rate = ch, sr
    meta.duration_s = (data_size // align) / sr if sr and align else 0.0
    return meta


def _ixml(raw: bytes, meta: SoundMeta) -> None:
    try:
        root = ET.fromstring(raw.rstrip(b"\0 \n\r\t"))
    except ET.ParseError:
        return  # a broken iXML chunk loses its text, not the file
    note = ""
    for tag in ("NOTE", "DESCRIPTION"):
        el = root.find(f".//{tag}")
        if el is not None and el.text and el.text.strip():
            note = el.text.strip()
            break
    if note and not meta.description.strip():
        meta.description = note
    elif note and note not in meta.description:
        meta.tags.append(note)
    for tag in ("SCENE", "PROJECT", "TAPE"):
        el = root.find(tag)
        if el is not None and el.text and el.text.strip():
            meta.tags.append(el.text.strip())


_INFO = {b"INAM": "title", b"ICMT": "comment", b"IKEY": "keywords", b"IGNR": "genre",
         b"ISBJ": "subject"}


def _info(raw: bytes, meta: SoundMeta) -> None:
    if raw[:4] != b"INFO":
        return
    pos = 4
    while pos + 8 <= len(raw):
        ident, n = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        value = _text(raw[pos + 8:pos + 8 + n]).strip()
        key = _INFO.get(ident)
        if value and key == "title":
            meta.title = value
        elif value and key == "comment" and not meta.description.strip():
            meta.description = value
        elif value and key:
            meta.tags.append(value)
        pos += 8 + n + (n & 1)


# ---- FLAC, AIFF, OGG, MP3 -------------------------------------------------------------------

_FORMATS = {"FLAC": "FLAC", "AIFF": "AIFF", "OGG": "OGG", "MPEG": "MP3", "MP3": "MP3",
            "W64": "W64", "WAV": "WAV", "WAVEX": "WAV", "RF64": "RF64"}


def _read_other(path: Path) -> SoundMeta:
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            meta = SoundMeta(path, 0, 0, _FORMATS.get(f.format, f.format), 0.0, f.channels,
                             f.samplerate)
            frames = f.frames
            tags = f.copy_metadata()
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        return _read_with_pyav(path, f"{exc}")
    if frames <= 0 or frames >= 1 << 62:
        # libsndfile reports no length for some streams (MP3 without a header): ask PyAV.
        return _read_with_pyav(path, "no length")
    meta.duration_s = frames / meta.sample_rate
    meta.title = tags.get("title", "")
    meta.description = tags.get("comment", "")
    # The genre says what a sound is; artist and album name people and records, not sounds.
    genre = tags.get("genre", "").strip()
    meta.tags = [genre] if genre and not _GENRE_NUMBER.match(genre) else []
    _pyav_tags(path, meta)
    return meta


def _read_with_pyav(path: Path, why: str) -> SoundMeta:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise SkipFile("not audio (no audio stream)")
            s = c.streams.audio[0]
            dur = None
            if s.duration is not None and s.time_base is not None:
                dur = float(s.duration * s.time_base)
            elif c.duration is not None:
                dur = c.duration / 1e6
            meta = SoundMeta(path, 0, 0, (c.format.name or "?").split(",")[0].upper(),
                             float(dur or 0.0), int(s.channels or 0), int(s.rate or 0))
            _apply_tags({**dict(c.metadata), **dict(s.metadata)}, meta)
            return meta
    except SkipFile:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types for one bad file
        first = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise SkipFile(f"not a readable audio file ({first})") from None


def _pyav_tags(path: Path, meta: SoundMeta) -> None:
    """Vorbis comments and ID3 frames libsndfile does not map (DESCRIPTION, KEYWORDS …)."""
    if meta.format not in ("OGG", "MP3", "FLAC"):
        return
    import av

    try:
        with av.open(str(path)) as c:
            tags = {**dict(c.metadata)}
            for s in c.streams.audio[:1]:
                tags.update(dict(s.metadata))
    except Exception as exc:  # noqa: BLE001 - tags are optional: the sound itself read fine
        log.debug("no tags read from %s (%s: %s)", path, type(exc).__name__, exc)
        return
    _apply_tags(tags, meta)


_GENRE_NUMBER = re.compile(r"^\(?\d+\)?$")


def _apply_tags(tags: dict, meta: SoundMeta) -> None:
    low = {str(k).lower(): str(v) for k, v in tags.items()
           if v and not str(k).lower().startswith(("id3v2_priv", "encoder", "encoded_by"))}
    meta.title = meta.title or low.get("title", "")
    for key in ("description", "comment", "comments"):
        if low.get(key, "").strip() and not meta.description.strip():
            meta.description = low[key]
    for key in ("genre", "keywords", "subject", "category"):
        v = low.get(key, "").strip()
        if v and not _GENRE_NUMBER.match(v) and v not in meta.tags:
            meta.tags.append(v)

