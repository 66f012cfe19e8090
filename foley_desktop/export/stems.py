"""Full-length stems (FX/Foley, BG, DX, MIX) and per-take files, as Broadcast WAV.

Every stem starts at the clip's first frame (sample 0 of the project) and lasts exactly the
clip's duration in samples, so it drops in at the clip's start in any NLE and stays in sync; a
segment's active take sits in the FX stem at exactly its start sample. Files are written in
blocks (an hour-long clip never sits in memory).

Headroom: the mix is brought down, as one fixed gain over the whole file, so that its true peak
(4x oversampled, as ITU-R BS.1770 measures it) stays at or below -1 dBTP; it is never raised.
The other stems are kept at unity so they sum to the mix before that gain, unless a 24-bit stem
would clip, in which case it gets the same treatment. Every gain applied is reported in the
result's notes and in the file's iXML NOTE.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np
import soxr

from foley_desktop.errors import ExportError, FoleyError
from foley_desktop.export.bwf import RIFF_LIMIT, Bext, BwfWriter, IXml, coding_history
from foley_desktop.jobs import CancelToken, ProgressMeter, check
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.project.model import Project, Segment, Take

BLOCK = 1 << 17  # ~2.7 s per block
TRUE_PEAK_CEILING_DB = -1.0
OVERSAMPLE = 4

# lane -> code in file names (post-production habit)
LANES = {"foley": "FX", "background": "BG", "dialogue": "DX", "mix": "MIX"}
FORMATS = {"wav24": ("PCM_24", "48k24"), "wav32f": ("FLOAT", "48k32f")}


def safe_name(text: str, limit: int = 40) -> str:
    """A file-name-safe form of `text`: letters, digits, '-', runs of the rest as '-'."""
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return (s[:limit].rstrip("-") or "untitled")


def clip_fps(project: Project) -> Fraction | None:
    fps = project.media_info.get("fps")
    return Fraction(fps) if fps else None


def clip_time_reference(project: Project) -> int:
    """The clip's start timecode in samples since midnight (0 when the source has none)."""
    tc = project.media_info.get("timecode")
    fps = clip_fps(project)
    if not tc or fps is None:
        return 0
    from foley_desktop.media.timebase import timecode_to_samples

    try:
        return timecode_to_samples(tc, fps, drop_frame=bool(project.media_info.get("drop_frame")))
    except ValueError:
        return 0


def stem_channels(project: Project) -> int:
    """Stems follow the clip: stereo for stereo (or more) audio, mono for mono or none."""
    return 2 if int(project.media_info.get("audio_channels", 0)) >= 2 else 1


def _fit(block: np.ndarray, channels: int) -> np.ndarray:
    """Mono spreads to every channel; extra channels beyond `channels` are dropped."""
    if block.shape[0] == channels:
        return block
    if block.shape[0] == 1:
        return np.repeat(block, channels, axis=0)
    if block.shape[0] > channels:
        return block[:channels] if channels > 1 else block.mean(axis=0, keepdims=True)
    return np.concatenate([block, np.repeat(block[-1:], channels - block.shape[0], axis=0)])


class _Reader:
    """Exactly-sized blocks from a media file's audio, zero-padded past its end."""

    def __init__(self, path: Path, total: int, channels: int, cancel: CancelToken | None) -> None:
        from foley_desktop.media.decode import iter_audio

        self._it = iter_audio(path, BLOCK, 0, total, cancel=cancel)
        self._buf = np.zeros((channels, 0), np.float32)
        self.channels = channels
        self.path = path

    def read(self, n: int) -> np.ndarray:
        while self._buf.shape[1] < n:
            try:
                piece = next(self._it)
            except StopIteration:
                pad = np.zeros((self.channels, n - self._buf.shape[1]), np.float32)
                self._buf = np.concatenate([self._buf, pad], axis=1)
                break
            except FoleyError as exc:
                raise ExportError(f"cannot read {self.path}: {exc}") from exc
            self._buf = np.concatenate([self._buf, _fit(piece, self.channels)], axis=1)
        out, self._buf = self._buf[:, :n], self._buf[:, n:]
        return out


@dataclass
class PlacedTake:
    """A take as it goes out: where it sits on the clip and the file it is exported to."""

    index: int  # 1-based number of the segment in time order
    segment: Segment
    take: Take
    active: bool
    audio: np.ndarray  # float32 [samples] == segment length, gain applied
    path: Path | None = None  # exported file (final name), set by the export
    # Silence before and after the take in its file (the export aligns take files to frames,
    # export/placement.py); 0 for a file that holds exactly the take (drag-out).
    head: int = 0
    tail: int = 0
    # Gain the file is written at, so it matches the FX stem when that was turned down.
    gain: float = 1.0

    @property
    def start(self) -> int:
        return self.segment.start

    @property
    def length(self) -> int:
        return self.segment.length

    @property
    def file_start(self) -> int:
        """The file's first sample on the clip."""
        return self.start - self.head

    @property
    def file_length(self) -> int:
        return self.head + self.length + self.tail


def load_takes(project: Project, which: str = "active") -> list[PlacedTake]:
    """Read the takes to export ("active", or "all" for alternates too), cut to their segment."""
    from foley_desktop.media.decode import read_audio

    placed = []
    for index, seg in enumerate(project.sorted_segments(), start=1):
        for take in seg.takes:
            active = take.id == seg.active_take
            if not active and which != "all":
                continue
            if not take.path.exists():
                raise ExportError(f"take {take.id} of segment {index} ({seg.prompt!r}) is missing: "
                                  f"{take.path}")
            try:
                audio = read_audio(take.path, 0, seg.length, mono=True)[0]
            except FoleyError as exc:
                raise ExportError(f"cannot read take {take.id} of segment {index}: {exc}") from exc
            audio = audio * np.float32(10 ** (seg.gain_db / 20))
            placed.append(PlacedTake(index, seg, take, active, audio.astype(np.float32)))
    return placed


@dataclass
class StemSources:
    """Which files feed which lane; decided once so the two passes read the same things."""

    kinds: list[str]
    original: Path | None  # the clip's audio, None when it has none
    dialogue: Path | None
    background: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def separated(self) -> bool:
        return self.dialogue is not None and self.background is not None


def plan_sources(project: Project, kinds: list[str]) -> StemSources:
    unknown = [k for k in kinds if k not in LANES]
    if unknown:
        raise ExportError(f"unknown stem(s): {', '.join(unknown)} (choose from {', '.join(LANES)})")
    has_audio = int(project.media_info.get("audio_channels", 0)) > 0
    dx = project.stems.get("dialogue")
    bg = project.stems.get("background")
    for label, p in (("dialogue", dx), ("background", bg)):
        if p is not None and not p.exists():
            raise ExportError(f"the separated {label} stem is missing: {p} (separate again)")
    src = StemSources(list(kinds), project.media if has_audio else None, dx, bg)
    needs_original = ("background" in kinds and bg is None) or ("mix" in kinds and not src.separated)
    if needs_original and has_audio and not project.media.exists():
        raise ExportError(f"the clip is missing: {project.media}")
    out = []
    for k in kinds:
        if k == "dialogue" and dx is None:
            src.notes.append("dialogue stem omitted: " + (
                "the clip's audio has not been separated (File > Separate, or "
                "`foley-desktop project separate P.foley`)" if has_audio else "the clip has no audio"))
            continue
        if k == "background" and bg is None:
            if not has_audio:
                src.notes.append("background stem omitted: the clip has no audio")
                continue
            src.notes.append("background stem = the clip's original audio (not separated)")
        out.append(k)
    src.kinds = out
    return src


class _TruePeak:
    """Running sample peak and 4x-oversampled true peak of a stream of blocks."""

    def __init__(self, channels: int) -> None:
        self._rs = soxr.ResampleStream(SAMPLE_RATE, SAMPLE_RATE * OVERSAMPLE, channels,
                                       dtype="float32", quality="HQ")
        self.sample_peak = 0.0
        self.true_peak = 0.0

    def add(self, block: np.ndarray, last: bool = False) -> None:
        if block.shape[1]:
            self.sample_peak = max(self.sample_peak, float(np.abs(block).max()))
        up = self._rs.resample_chunk(np.ascontiguousarray(block.T), last=last)
        if up.size:
            self.true_peak = max(self.true_peak, float(np.abs(up).max()))
        self.true_peak = max(self.true_peak, self.sample_peak)


def _lane(block: np.ndarray | None, what: str) -> np.ndarray:
    if block is None:   # StemSources.kinds promises what it has; this is its contract broken
        raise ExportError(f"no {what} audio to write: separate the clip first")
    return block


def _blocks(project: Project, src: StemSources, takes: list[PlacedTake], channels: int,
            cancel: CancelToken | None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(start, {lane: block}) over the whole clip, every lane computed from the same reads."""
    total = project.duration_samples
    need_orig = src.original is not None and (
        ("background" in src.kinds and src.background is None) or
        ("mix" in src.kinds and not src.separated))
    orig = _Reader(src.original, total, channels, cancel) if need_orig and src.original else None
    dx = _Reader(src.dialogue, total, channels, cancel) if src.dialogue is not None and (
        "dialogue" in src.kinds or ("mix" in src.kinds and src.separated)) else None
    bg = _Reader(src.background, total, channels, cancel) if src.background is not None else None
    active = [t for t in takes if t.active]
    for b0 in range(0, total, BLOCK):
        check(cancel)
        n = min(BLOCK, total - b0)
        fx = np.zeros((1, n), np.float32)
        for t in active:
            lo, hi = max(b0, t.start), min(b0 + n, t.start + t.length)
            if lo < hi:
                fx[0, lo - b0:hi - b0] += t.audio[lo - t.start:hi - t.start]
        fx = _fit(fx, channels)
        o = orig.read(n) if orig else None
        d = dx.read(n) if dx else None
        g = bg.read(n) if bg else None
        out: dict[str, np.ndarray] = {}
        for k in src.kinds:
            if k == "foley":
                out[k] = fx
            elif k == "dialogue":
                out[k] = _lane(d, "dialogue")
            elif k == "background":
                out[k] = _lane(g if g is not None else o, "background")
            elif k == "mix":
                bed = ((_lane(d, "dialogue") + _lane(g, "background")) if src.separated
                       else (o if o is not None else 0))
                out[k] = fx + bed
        yield b0, out


def _gain_for(kind: str, tp: _TruePeak, subtype: str) -> float:
    ceiling = 10 ** (TRUE_PEAK_CEILING_DB / 20)
    needs_headroom = kind == "mix" or (subtype == "PCM_24" and tp.sample_peak >= 1.0)
    return ceiling / tp.true_peak if needs_headroom and tp.true_peak > ceiling else 1.0


def db(x: float) -> str:
    return "-inf" if x <= 0 else f"{20 * math.log10(x):+.1f}"


def _segment_lines(project: Project, takes: list[PlacedTake]) -> str:
    fps = clip_fps(project)
    from foley_desktop.media.timebase import samples_to_timecode

    lines = []
    for t in takes:
        if not t.active:
            continue
        where = samples_to_timecode(t.start, fps) if fps else f"{t.start} samples"
        lines.append(f"{t.index:02d} @{where} seed {t.take.seed} {t.take.model} {t.take.variant}: "
                     f"{t.segment.prompt}")
    return "; ".join(lines)


def _open_new(path: Path) -> IO[bytes]:
    return open(path, "w+b")  # closed by write_stems


def write_stems(project: Project, src: StemSources, takes: list[PlacedTake], subtype: str,
                targets: dict[str, Path], rf64_threshold: int = RIFF_LIMIT,
                progress: Callable | None = None, cancel: CancelToken | None = None,
                open_file: Callable[[Path], IO[bytes]] = _open_new) -> dict[str, float]:
    """Measure (pass 1) then write (pass 2) each lane in `src.kinds` to `targets[lane]`.

    Returns the gain applied to each lane. `open_file` opens a target for writing (the export
    passes its staging opener; tests may pass one that fails).
    """
    channels = stem_channels(project)
    total = project.duration_samples
    meter = ProgressMeter(progress, "measuring levels", 2 * total)
    peaks = {k: _TruePeak(channels) for k in src.kinds}
    for b0, blocks in _blocks(project, src, takes, channels, cancel):
        last = b0 + BLOCK >= total
        for k, blk in blocks.items():
            peaks[k].add(blk, last=last)
        meter.update(b0 + blocks[src.kinds[0]].shape[1] if src.kinds else total)
    gains = {k: _gain_for(k, peaks[k], subtype) for k in src.kinds}

    tref = clip_time_reference(project)
    fps = clip_fps(project)
    bits = 32 if subtype == "FLOAT" else 24
    seg_lines = _segment_lines(project, takes)
    writers = {}
    handles = {}
    try:
        for k in src.kinds:
            code = LANES[k]
            note = f"{code} stem of {project.clip_name}, {total} samples from the clip's first frame"
            if gains[k] != 1.0:
                note += f"; gain {db(gains[k])} dB for {TRUE_PEAK_CEILING_DB:g} dBTP headroom"
            if k in ("foley", "mix") and seg_lines:
                note += f"; Foley: {seg_lines}"
            fh = open_file(targets[k])
            handles[k] = fh
            writers[k] = BwfWriter(
                fh, channels, SAMPLE_RATE, subtype,
                bext=Bext(description=f"{code} stem: {project.clip_name}"[:256], time_reference=tref,
                          coding_history=coding_history(subtype, SAMPLE_RATE, channels)),
                ixml=IXml(project=project.name or project.clip_name, scene=project.clip_name,
                          take=code, note=note, timecode_rate=fps,
                          drop_frame=bool(project.media_info.get("drop_frame")),
                          time_reference=tref, bit_depth=bits,
                          track_names=[f"{code} L", f"{code} R"] if channels == 2 else [code]),
                rf64_threshold=rf64_threshold)
        meter.stage = "writing stems"
        for b0, blocks in _blocks(project, src, takes, channels, cancel):
            for k, blk in blocks.items():
                writers[k].write(blk * np.float32(gains[k]) if gains[k] != 1.0 else blk)
            meter.update(total + b0 + (blocks[src.kinds[0]].shape[1] if src.kinds else 0))
        for k in src.kinds:
            writers[k].close()
    finally:
        for fh in handles.values():
            fh.close()
    return gains


def take_file_name(clip: str, t: PlacedTake, tag: str, alt: int = 0) -> str:
    kind = f"alt{alt}_" if alt else ""
    return f"{safe_name(clip)}_{t.index:02d}_{safe_name(t.segment.prompt, 32)}_{kind}s{t.take.seed}_{tag}.wav"


def write_take(project: Project, t: PlacedTake, subtype: str, fh: IO[bytes],
               rf64_threshold: int = RIFF_LIMIT) -> float:
    """One take as its own BWF, stamped with its position on the clip.

    The file holds `t.head` samples of silence, the take at `t.gain`, then `t.tail` of silence;
    its TimeReference is the file's first sample. Returns the gain applied on top of `t.gain`
    (only when a 24-bit file would clip).
    """
    tref = clip_time_reference(project) + t.file_start
    audio = t.audio[None, :]
    if t.gain != 1.0:
        audio = audio * np.float32(t.gain)
    gain = 1.0
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if subtype == "PCM_24" and peak >= 1.0:
        tp = _TruePeak(1)
        tp.add(audio, last=True)
        gain = _gain_for("take", tp, subtype)
        audio = audio * np.float32(gain)
    tk = t.take
    # The prompt that made the take (recorded in it), not whatever the segment says now.
    prompt = tk.params.get("prompt", t.segment.prompt)
    negative = tk.params.get("negative", t.segment.negative)
    if tk.mode == "library":
        files = sorted({f"{Path(s['file']).name}" for s in tk.sources})
        credits = sorted({s["credit"] for s in tk.sources if s.get("credit")})
        note = (f"library take seed={tk.seed} prompt={prompt} sources={', '.join(files[:12])}"
                + (" …" if len(files) > 12 else "")
                + (f" credits={'; '.join(credits[:6])}" if credits else ""))
    else:
        note = (f"model={tk.model} version={tk.version} variant={tk.variant} "
                f"provider={tk.provider} seed={tk.seed} prompt={prompt}")
    if negative and tk.mode != "library":
        note += f" negative={negative}"
    if t.segment.markers_inside():
        note += f" markers={len(t.segment.markers_inside())}"
        if tk.sync:
            note += f" sync_f1_100ms={tk.sync['f1_100ms']:.2f}"
    if gain * t.gain != 1.0:
        note += f" gain={db(gain * t.gain)}dB"
    if t.head or t.tail:
        note += (f" take_starts_at_sample={t.head} take_length={t.length} (file aligned to frames;"
                 " silence before and after)")
    w = BwfWriter(fh, 1, SAMPLE_RATE, subtype,
                  bext=Bext(description=f"Foley take {t.index:02d}: {prompt}"[:256],
                            time_reference=tref,
                            coding_history=coding_history(subtype, SAMPLE_RATE, 1)),
                  ixml=IXml(project=project.name or project.clip_name, scene=project.clip_name,
                            take=f"{t.index:02d}", note=note, timecode_rate=clip_fps(project),
                            drop_frame=bool(project.media_info.get("drop_frame")),
                            time_reference=tref, bit_depth=32 if subtype == "FLOAT" else 24,
                            track_names=["FX"], user=dict(tk.params)),
                  rf64_threshold=rf64_threshold)
    if t.head:
        w.write(np.zeros((1, t.head), np.float32))
    w.write(audio)
    if t.tail:
        w.write(np.zeros((1, t.tail), np.float32))
    w.close()
    return gain
