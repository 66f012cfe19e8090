"""Library takes: real recordings from the editor's sound library placed on a segment's markers.

A sound editor with a library does this by hand: find a few recordings of the right sound, cut
them into single hits, and lay one hit on every spotted frame, never the same hit twice in a row
(the "machine-gun" effect gives it away), a little pitch and level variation, louder where the
action is harder. Sustained sounds (rain, fire, room tone) are instead laid as one bed as long
as the segment, looped with crossfades where the recording is shorter.

`render_takes` does exactly that for one segment and a list of seeds. It never invents audio:
every sample of a take comes from a listed recording, and the take's `sources` say which file,
from which offset, placed where, at what gain and pitch, so an editor can find the original.
Hits are aligned by their attack (the first sample that reaches a tenth of the hit's peak), so
the sound starts on the marker's sample, not on the onset detector's 10 ms grid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

from foley_desktop.engine.post import finish
from foley_desktop.errors import FoleyError, GenerationError, MediaError
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.spotting.markers import Marker

if TYPE_CHECKING:
    from foley_desktop.library.index import LibraryIndex, SoundHit

MAX_FILE_S = 120            # longer recordings: only their first two minutes are cut into hits
PRE_ROLL = int(0.004 * SR)  # keep 4 ms before the attack so the transient is not cut
MAX_HIT_S = 1.6             # a hit ends at the next onset in its file, or after this
MIN_HIT = int(0.02 * SR)
FADE_IN = int(0.002 * SR)
FADE_OUT = int(0.025 * SR)
BED_XFADE_S = 0.75          # loop crossfade for beds (equal power: uncorrelated material)
PITCH_SEMITONES = 0.7       # +- random pitch per placed hit
GAIN_JITTER_DB = 1.5        # +- random level per placed hit
MIN_STRENGTH_DB = -24.0     # a marker of strength 0 still sounds, 24 dB down
MAX_SOURCES = 4             # recordings a segment's hits are drawn from (the best matches)
MAX_SLICES = 32
SCORE_MARGIN = 0.08         # sources within this of the best match's search score are used
CHOKE_FADE = int(0.01 * SR)
HIT_PEAK = 10 ** (-6 / 20)  # every hit levelled to this peak before its marker's gain


@dataclass
class Slice:
    """One hit cut from a recording: audio at 48 kHz and where its attack lies."""

    path: Path
    offset: int           # first sample of the slice in the recording (48 kHz)
    audio: np.ndarray     # float32 mono
    attack: int           # attack sample inside `audio`
    credit: str | None = None


@dataclass
class LibraryTake:
    seed: int
    audio: np.ndarray                 # float32 [end - start]
    kind: str                         # "hits" or "bed"
    sources: list[dict] = field(default_factory=list)
    post: dict = field(default_factory=dict)
    query: str = ""


def load_mono(path: Path, cache: dict | None = None) -> np.ndarray:
    """A recording as float32 mono at 48 kHz (first MAX_FILE_S seconds), through PyAV."""
    from foley_desktop.media.decode import read_audio

    key = str(path)
    if cache is not None and key in cache:
        return cache[key]
    try:
        audio = read_audio(path, 0, None, sr=SR, mono=True)[0]
    except MediaError as exc:
        raise GenerationError(f"cannot read library sound {path}: {exc}") from None
    audio = np.asarray(audio[: MAX_FILE_S * SR], np.float32)
    if not np.isfinite(audio).all():
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    if cache is not None:
        cache[key] = audio
    return audio


def attack_of(x: np.ndarray) -> int:
    """First sample reaching a tenth of the peak: where a listener hears the hit start."""
    a = np.abs(x)
    peak = float(a.max()) if len(a) else 0.0
    if peak <= 0:
        return 0
    return int(np.argmax(a >= 0.1 * peak))


def cut_hits(path: Path, audio: np.ndarray, onsets_s: Sequence[float],
             credit: str | None = None) -> list[Slice]:
    """The recording cut at its onsets into single hits (tails trimmed at -45 dB, faded)."""
    n = len(audio)
    if n < MIN_HIT:
        return []
    onsets = sorted({min(n - 1, max(0, round(float(t) * SR))) for t in onsets_s})
    if not onsets:
        onsets = [attack_of(audio)]
    file_peak = float(np.abs(audio).max())
    out = []
    for i, on in enumerate(onsets):
        nxt = onsets[i + 1] if i + 1 < len(onsets) else n
        # The detector reports onsets on a 10 ms grid: look from 15 ms before for the attack.
        a = max(0, onsets[i - 1] if i else 0, on - int(0.015 * SR))
        b = min(nxt, on + int(MAX_HIT_S * SR), n)
        seg = audio[a:b]
        if len(seg) < MIN_HIT:
            continue
        peak = float(np.abs(seg).max())
        # Skip the quiet rustle between hits: a slice 30 dB under the file's loudest is not a hit.
        if peak <= 0 or peak < file_peak * 10 ** (-30 / 20):
            continue
        att = attack_of(seg)
        start = max(0, att - PRE_ROLL)
        # Tail: up to the last 10 ms block still above -45 dB relative to the hit's peak.
        env = np.abs(seg[start:])
        blk = int(0.01 * SR)
        nb = len(env) // blk
        if nb:
            levels = env[: nb * blk].reshape(nb, blk).max(axis=1)
            loud = np.nonzero(levels >= peak * 10 ** (-45 / 20))[0]
            end = start + (int(loud[-1]) + 1) * blk if len(loud) else len(seg)
        else:
            end = len(seg)
        piece = seg[start:end].astype(np.float32, copy=True)
        if len(piece) < MIN_HIT:
            continue
        # Hits from different recordings come at different levels: level them by peak so the
        # marker's strength, not the file it came from, sets how loud a hit is.
        piece *= np.float32(HIT_PEAK / peak)
        fi, fo = min(FADE_IN, PRE_ROLL), min(FADE_OUT, len(piece) // 2)
        piece[:fi] *= np.linspace(0.0, 1.0, fi, endpoint=False, dtype=np.float32)
        piece[len(piece) - fo:] *= np.linspace(1.0, 0.0, fo, dtype=np.float32)
        out.append(Slice(path=path, offset=a + start, audio=piece, attack=att - start,
                         credit=credit))
    return out


def _pitch(x: np.ndarray, semitones: float) -> np.ndarray:
    """Resampling pitch shift (like a sampler): up also shortens, as a lighter object would."""
    factor = 2 ** (semitones / 12)
    if abs(factor - 1) < 1e-4:
        return x
    return soxr.resample(x.astype(np.float64), SR * factor, SR, quality="HQ").astype(np.float32)


def strength_db(strength: float) -> float:
    return max(MIN_STRENGTH_DB, 20 * math.log10(max(strength, 1e-6)))


def place_hits(slices: list[Slice], markers: list[Marker], start: int, end: int, seed: int
               ) -> tuple[np.ndarray, list[dict]]:
    """Lay one slice per marker inside [start, end): round-robin over a seeded order of the
    slices, never the same slice twice running, random pitch and gain, level from strength."""
    rng = np.random.default_rng([seed, 0x11B])
    out = np.zeros(end - start, np.float32)
    order = list(rng.permutation(len(slices)))
    sources = []
    last = -1
    k = 0
    inside = sorted((m for m in markers if start <= m.time < end), key=lambda m: m.time)
    for j, m in enumerate(inside):
        idx = order[k % len(order)]
        k += 1
        if idx == last and len(order) > 1:
            idx = order[k % len(order)]
            k += 1
        last = idx
        s = slices[idx]
        semis = float(rng.uniform(-PITCH_SEMITONES, PITCH_SEMITONES)) if len(slices) else 0.0
        jitter = float(rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB))
        gain_db = strength_db(m.strength) + jitter
        hit = _pitch(s.audio, semis) * np.float32(10 ** (gain_db / 20))
        attack = round(s.attack / 2 ** (semis / 12))
        at = m.time - start - attack          # where the slice's first sample goes
        if j + 1 < len(inside):
            # Choke: a hit's tail stops (10 ms fade) as the next one starts, as one foot or
            # one hand cannot ring on through its next hit; the next attack stays clear.
            stop = inside[j + 1].time - start - PRE_ROLL - at
            if 0 < stop < len(hit):
                fo = min(CHOKE_FADE, stop)
                hit = hit[:stop].copy()
                hit[stop - fo:] *= np.linspace(1.0, 0.0, fo, dtype=np.float32)
        a, b = max(0, at), min(len(out), at + len(hit))
        if b > a:
            out[a:b] += hit[a - at: b - at]
        sources.append({"file": str(s.path), "offset_s": round(s.offset / SR, 4),
                        "length_s": round(len(s.audio) / SR, 4), "at": int(m.time),
                        "gain_db": round(gain_db, 2), "pitch_semitones": round(semis, 3),
                        **({"credit": s.credit} if s.credit else {})})
    return out, sources


def lay_bed(path: Path, audio: np.ndarray, length: int, seed: int, credit: str | None = None
            ) -> tuple[np.ndarray, list[dict]]:
    """A sustained recording as long as `length`: from a seeded offset, looped with
    equal-power crossfades when the recording is shorter than the segment."""
    rng = np.random.default_rng([seed, 0xBED])
    n = len(audio)
    if n < MIN_HIT:
        raise GenerationError(f"library sound {path} is too short to lay as a bed")
    xf = min(int(BED_XFADE_S * SR), n // 4)
    out = np.zeros(length, np.float32)
    sources = []
    pos = 0
    first = True
    offset = int(rng.integers(0, max(1, n - min(n, length)))) if n > length else \
        int(rng.integers(0, max(1, n // 2)))
    while pos < length:
        piece = audio[offset:]
        take = min(len(piece), length - pos + (0 if first else xf))
        piece = piece[:take].astype(np.float32, copy=True)
        if not first and xf:
            ramp = np.linspace(0.0, 1.0, xf, dtype=np.float32)
            fin, fout = np.sin(ramp * np.pi / 2), np.cos(ramp * np.pi / 2)
            m = min(xf, len(piece))
            at = pos - xf
            out[at: at + m] = out[at: at + m] * fout[:m] + piece[:m] * fin[:m]
            rest = piece[m:]
            out[pos: pos + len(rest)] = rest[: length - pos]
            placed_at, placed_len = at, len(piece)
            pos += len(rest)
        else:
            out[pos: pos + len(piece)] = piece
            placed_at, placed_len = pos, len(piece)
            pos += len(piece)
        sources.append({"file": str(path), "offset_s": round(offset / SR, 4),
                        "length_s": round(placed_len / SR, 4), "at_offset": int(placed_at),
                        "gain_db": 0.0, "pitch_semitones": 0.0,
                        **({"credit": credit} if credit else {})})
        first = False
        offset = 0 if n <= length else int(rng.integers(0, max(1, n - xf * 2)))
        if pos < length and len(piece) <= xf:   # guard: no progress possible
            break
    # Edges: 10 ms fades so the bed starts and stops without a click.
    f = min(int(0.01 * SR), length // 2)
    out[:f] *= np.linspace(0, 1, f, dtype=np.float32)
    out[length - f:] *= np.linspace(1, 0, f, dtype=np.float32)
    return out, sources


@dataclass
class PinnedSound:
    """A recording the editor chose for a segment, analysed now if the index lacks it."""

    path: Path
    onsets_s: list[float]
    continuous: bool
    credit: str | None = None
    score: float = 1.0


def pinned_hits(paths: Sequence[str], library: LibraryIndex | None = None
                ) -> Sequence[SoundHit | PinnedSound]:
    """The pinned recordings as render inputs: the index's entry when it has one (onsets,
    credit), else a fresh analysis of the file. A missing file is a one-line error."""
    from foley_desktop.library.features import analyse_file
    from foley_desktop.library.metadata import SkipFile

    out: list[SoundHit | PinnedSound] = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise GenerationError(f"pinned sound {path} is missing (relink the library folder "
                                  "or pin another sound)")
        hit: SoundHit | PinnedSound | None = library.info(path) if library is not None else None
        if hit is None:
            try:
                f = analyse_file(path)
            except (FoleyError, SkipFile) as exc:
                raise GenerationError(f"pinned sound {path}: {exc}") from None
            hit = PinnedSound(path, list(f.onsets_s), bool(f.continuous))
        out.append(hit)
    return out


def pick_sources(hits: Iterable[Any]) -> list:
    """The recordings a take draws from: the best match and those scoring nearly as well (a
    wolf's howl ranked fourth for "a dog woofs" is not a bark to lay on a marker)."""
    hits = list(hits)
    if not hits:
        return []
    top = float(getattr(hits[0], "score", 1.0))
    return [h for h in hits if float(getattr(h, "score", 1.0)) >= top - SCORE_MARGIN][:MAX_SOURCES]


def is_continuous(hits: Iterable[Any]) -> bool:
    """A prompt asks for a bed when most of its best matches are sustained recordings."""
    top = list(hits)[:MAX_SOURCES]
    return bool(top) and sum(1 for h in top if h.continuous) * 2 > len(top)


# The rule of library mode without markers (`needs_markers`) and what each surface tells the
# editor to do about it: the engine's own words name both ways; the app passes its keys
# (ui/window_jobs.py, from ui/shortcuts.py), `generate --mode library` its flag and
# `generate --project` the project command (app/generate.py).
NO_MARKERS = "library mode lays single sounds (steps, hits) on markers, and this segment has none"
SPOT_IT_ANYWHERE = "spot it first (in the app Auto-spot or M while it plays; on the command line --markers)"


class NeedsMarkers(GenerationError):
    """A library segment with no markers whose sounds are single events (`needs_markers`);
    `segment_id` names the segment when a project's segment was refused (else None); `short`
    is the message without the segment's name (for the window, where it is selected)."""

    def __init__(self, message: str, segment_id: str | None = None, short: str = "") -> None:
        super().__init__(message)
        self.segment_id = segment_id
        self.short = short or message


def needs_markers(hits: Iterable[Any], markers: Iterable[Marker], start: int, end: int,
                  continuous: bool | None = None) -> bool:
    """True when a library take of `hits` (ranked search results, or pinned recordings) cannot
    be made for the segment [start, end): no marker inside it, and the sounds are single
    events, laid one per marker (most of the best matches sustained, or `continuous` True,
    makes a bed, which needs none). False without hits: "nothing matches" is said on its own.
    The one test behind the engine (`render_takes`), `generate --mode library` and the
    window's and `generate --project`'s plan (app/generate.py), so all refuse alike and the
    last two before any work."""
    hits = list(hits)
    if not hits or any(start <= m.time < end for m in markers):
        return False
    return not (is_continuous(hits) if continuous is None else continuous)


def no_markers_error(fix: str = SPOT_IT_ANYWHERE, segment_id: str | None = None,
                     where: str = "") -> NeedsMarkers:
    """The refusal `needs_markers` calls for, in one line: `where` (e.g. "segment 2.000 s: ")
    before the rule, `fix` (what to do, in the surface's own words) after it."""
    return NeedsMarkers(f"{where}{NO_MARKERS}: {fix}", segment_id, f"{NO_MARKERS}: {fix}")


def render_takes(hits: Sequence[Any], markers: list[Marker], start: int, end: int, seeds: Sequence[int], *,
                 query: str = "", loudness_lufs: float | None = None, continuous: bool | None = None,
                 progress: ProgressFn | None = None, cancel: CancelToken | None = None
                 ) -> list[LibraryTake]:
    """One take per seed for the segment [start, end) from the ranked library `hits` (objects
    with `path`, `onsets_s`, `continuous`, `credit`: library.index.SoundHit). With markers inside
    the segment the take is hits cut from the best matches, laid on the markers; without them,
    sustained matches become a bed as long as the segment (`continuous` forces one or the
    other), and single sounds ask for markers."""
    if end <= start:
        raise GenerationError("the segment is empty")
    hits = list(hits)
    if not hits:
        raise GenerationError(f"no library sound matches {query!r}: add a sound folder "
                              "(`foley-desktop library add DIR`) or change the description")
    inside = [m for m in markers if start <= m.time < end]
    # Markers say the editor wants single events: hits, cut from the best matches even when
    # those are sustained recordings (a dripping loop gives drips). Without markers, sustained
    # matches become a bed.
    if needs_markers(hits, inside, start, end, continuous):
        raise no_markers_error()
    bed = (not inside and is_continuous(hits)) if continuous is None else continuous
    meter = ProgressMeter(progress, "library", len(seeds) + 1)
    cache: dict = {}
    takes = []
    if bed:
        chosen = next((h for h in hits if h.continuous), hits[0])
        audio = load_mono(Path(chosen.path), cache)
        meter.update(1, "library: bed")
        for i, seed in enumerate(seeds):
            check(cancel)
            out, sources = lay_bed(Path(chosen.path), audio, end - start, int(seed),
                                   getattr(chosen, "credit", None))
            for s in sources:
                s["at"] = start + s.pop("at_offset")
            out, post = finish(out, loudness_lufs, dc=False)
            takes.append(LibraryTake(int(seed), out, "bed", sources, post, query))
            meter.update(2 + i)
        return takes
    picked = pick_sources(hits)
    per_source = []
    for h in picked:
        check(cancel)
        audio = load_mono(Path(h.path), cache)
        per_source.append(cut_hits(Path(h.path), audio, getattr(h, "onsets_s", []) or [],
                                   getattr(h, "credit", None)))
    # The pool takes hits from every chosen recording in turn, so one long take of 25 steps
    # does not crowd out the others.
    slices = [s for group in itertools.zip_longest(*per_source) for s in group
              if s is not None][:MAX_SLICES]
    if not slices:
        raise GenerationError(f"the library sounds found for {query!r} hold no usable hit")
    meter.update(1, "library: hits")
    for i, seed in enumerate(seeds):
        check(cancel)
        out, sources = place_hits(slices, inside, start, end, int(seed))
        out, post = finish(out, loudness_lufs, dc=False)
        takes.append(LibraryTake(int(seed), out, "hits", sources, post, query))
        meter.update(2 + i)
    return takes
