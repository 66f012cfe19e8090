"""Where every exported file sits on an NLE's timeline, in frames: one plan for every format.

NLEs (and EDL, FCP7 XML, FCPXML, AAF composition tracks, MLT, Blender's sequencer) place a clip
on a whole frame. A take starts on any sample, so the export writes each take file *frame
aligned*: it begins on the first sample of the frame that contains the take's first sample
(silence before the take, less than a frame) and ends on a frame boundary (silence after).
Placed at its frame, the file puts the take's first sample exactly where it was in the project
(within half a sample at 29.97, where frames are not whole samples). Every timeline writer
reads this plan, so all formats agree with each other and with the BWF TimeReference.

Timecode: `tc0` is the clip's start timecode as a frame count since midnight (0 without one);
an item's `source_tc` is the timecode of its file's first frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foley_desktop.errors import ExportError
from foley_desktop.media.timebase import (
    SAMPLE_RATE,
    frame_to_samples,
    frames_to_timecode,
    nominal_fps,
    samples_to_frame,
    timecode_to_frames,
)

if TYPE_CHECKING:
    from foley_desktop.export.stems import PlacedTake
    from foley_desktop.project.model import Project


@dataclass(frozen=True)
class Rate:
    """The clip's frame rate and timecode flavour."""

    fps: Fraction
    drop_frame: bool = False

    @property
    def timebase(self) -> int:  # frames per timecode second (30 for 29.97)
        return nominal_fps(self.fps)

    @property
    def ntsc(self) -> bool:  # 23.976, 29.97, 59.94: the x1000/1001 rates
        return self.fps.denominator == 1001

    @property
    def frame_duration(self) -> Fraction:  # seconds
        return 1 / self.fps

    def frame_start(self, frame: int) -> int:
        """First sample of `frame` (nearest sample; 29.97 frames are not whole samples)."""
        return frame_to_samples(frame, self.fps)

    def frame_of(self, samples: int) -> int:
        """The frame containing sample `samples`."""
        return samples_to_frame(samples, self.fps)

    def frame_at_or_after(self, samples: int) -> int:
        f = self.frame_of(samples)
        return f if self.frame_start(f) >= samples else f + 1

    def timecode(self, frames: int) -> str:
        return frames_to_timecode(frames, self.fps, self.drop_frame)


def align_span(start: int, length: int, rate: Rate) -> tuple[int, int]:
    """(head, tail) silence in samples that make [start, start+length) whole frames."""
    f0 = rate.frame_of(start)
    f1 = rate.frame_at_or_after(start + length)
    if f1 <= f0:
        f1 = f0 + 1
    return start - rate.frame_start(f0), rate.frame_start(f1) - (start + length)


# Marker colours where a format has them: the auto-spot's proposals cyan, the editor's own (placed
# or corrected) yellow, as in the app; the take's prompt marker (a take without spotting markers)
# green. Names as OpenTimelineIO's MarkerColor, EDL LOC lines and Avid use them.
MARKER_COLORS = {"auto": "CYAN", "user": "YELLOW", "prompt": "GREEN"}
SOURCE_WORDS = {"auto": "auto-spot", "user": "editor", "prompt": "prompt"}


@dataclass
class Marker:
    """A marker on a take: a spotting marker (named by its kind; `source` "auto" or "user",
    its strength 0-1) or, on a take without any, its prompt (source "prompt")."""

    frame: int  # frames from the item's first frame
    name: str
    comment: str = ""
    source: str = "prompt"  # "auto" | "user" | "prompt"
    kind: str = ""  # footstep / hit / other ("" for the prompt marker)
    strength: float | None = None
    prompt: str = ""

    @property
    def color(self) -> str:
        return MARKER_COLORS[self.source]

    @property
    def label(self) -> str:
        """Name and details in one text, for formats with a single text per marker (EDL LOC
        lines, Kdenlive): "footstep (auto-spot, strength 0.50)"."""
        if self.source == "prompt":
            return self.name
        return f"{self.name} ({SOURCE_WORDS[self.source]}, strength {self.strength:.2f})"

    def info(self) -> dict:
        """What the marker is, for formats with metadata (OTIO) or tagged values (AAF)."""
        d: dict = {"source": self.source, "prompt": self.prompt}
        if self.source != "prompt":
            d.update(kind=self.kind, strength=self.strength)
        return d


def spotting_marker(frame: int, kind: str, strength: float, source: str, prompt: str) -> Marker:
    """A segment's spotting marker on a take: named by its kind, its source and strength (and
    the take's prompt) in the comment."""
    whose = "auto-spot" if source == "auto" else "editor's"
    comment = f"{whose} marker, strength {strength:.2f}; prompt: {prompt}"
    return Marker(frame, kind, comment[:200], source=source, kind=kind,
                  strength=round(float(strength), 4), prompt=prompt)


@dataclass
class Item:
    """One file on one track."""

    name: str
    path: Path  # absolute
    record: int  # first frame on the timeline (0 = the clip's first frame)
    frames: int  # length in frames (the whole file)
    source_tc: int  # the file's first frame as a timecode frame count
    channels: int
    samples: int  # the file's length in samples
    has_video: bool = False
    enabled: bool = True
    reel: str = ""  # unique short name (EDL reel, AAF tape)
    prompt: str = ""
    markers: list[Marker] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.record + self.frames

    @property
    def url(self) -> str:
        return self.path.as_uri()


@dataclass
class Track:
    name: str
    kind: str  # "video" | "audio"
    items: list[Item]
    enabled: bool = True
    role: str = ""  # "clip" | "foley" | "alt"


@dataclass
class Plan:
    name: str
    clip_name: str
    rate: Rate
    tc0: int  # the clip's start timecode in frames since midnight
    tref: int  # the same in samples (BWF TimeReference of the clip's first frame)
    frames: int  # the clip's length in frames
    width: int
    height: int
    clip_channels: int
    tracks: list[Track]
    bits: int = 24  # the take files' sample format: 24 (PCM) or 32 (float)

    @property
    def foley_tracks(self) -> list[Track]:
        return [t for t in self.tracks if t.role == "foley"]

    @property
    def audio_tracks(self) -> list[Track]:
        return [t for t in self.tracks if t.kind == "audio"]

    @property
    def video_track(self) -> Track:
        return next(t for t in self.tracks if t.kind == "video")


def clip_rate(media_info: dict) -> Rate | None:
    fps = media_info.get("fps")
    if not fps:
        return None
    rate = Fraction(fps)
    drop = bool(media_info.get("drop_frame"))
    if drop and nominal_fps(rate) % 30:
        drop = False  # only 29.97 / 59.94 have a drop-frame count
    return Rate(rate, drop)


def start_frames(media_info: dict, rate: Rate) -> int:
    tc = media_info.get("timecode")
    if not tc:
        return 0
    try:
        return timecode_to_frames(tc, rate.fps, rate.drop_frame)
    except ValueError:
        return 0


def pack(spans: list) -> list[list]:
    """Greedy lanes over objects with `.record`/`.end` frames: first track with no overlap."""
    lanes: list[list] = []
    for s in sorted(spans, key=lambda s: (s.record, s.end)):
        for lane in lanes:
            if lane[-1].end <= s.record:
                lane.append(s)
                break
        else:
            lanes.append([s])
    return lanes


def build_plan(project: Project, takes: Sequence[PlacedTake], require_rate: bool = True,
               bits: int = 24) -> Plan:
    """The plan for `takes` (PlacedTake, already frame aligned and with their file paths)."""
    from foley_desktop.export.stems import clip_time_reference

    rate = clip_rate(project.media_info)
    if rate is None:
        if require_rate:
            raise ExportError("timeline files need the clip's frame rate, and it has none")
        rate = Rate(Fraction(25))
    tc0 = start_frames(project.media_info, rate)
    tref = clip_time_reference(project)
    total = project.duration_samples
    frames = max(1, math.floor(Fraction(total) * rate.fps / SAMPLE_RATE + Fraction(1, 2)))
    channels = int(project.media_info.get("audio_channels", 0) or 0)
    media = Path(project.media).absolute()
    clip = Item(name=project.clip_name, path=media, record=0, frames=frames, source_tc=tc0,
                channels=channels, samples=total, has_video=True, reel="CLIP",
                meta={"kind": "clip"})
    tracks = [Track("V1", "video", [clip], role="clip")]
    if channels > 0:
        tracks.append(Track("A1 clip audio", "audio", [_copy(clip, has_video=False)], role="clip"))

    items = []
    for t in takes:
        if t.path is None:
            raise ExportError("internal: take exported without a file")
        if rate.frame_start(rate.frame_of(t.file_start)) != t.file_start:
            raise ExportError("internal: take file not frame aligned")
        record = rate.frame_of(t.file_start)
        nframes = rate.frame_of(t.file_start + t.file_length) - record
        prompt = t.take.params.get("prompt", t.segment.prompt)
        marks = []
        inside = t.segment.markers_inside()
        for m in inside:
            marks.append(spotting_marker(rate.frame_of(m.time) - record, m.kind, m.strength,
                                         m.source, prompt))
        if not inside:  # the prompt, on the take's first frame
            marks.append(Marker(rate.frame_of(t.start) - record, prompt[:120], prompt,
                                prompt=prompt))
        meta = {"segment": t.segment.id, "take": t.take.id, "seed": t.take.seed, "prompt": prompt,
                "mode": t.take.mode, "start_samples": t.start, "length_samples": t.length,
                "file_start_samples": t.file_start, "head_samples": t.head,
                "gain_db": round(20 * math.log10(t.gain), 3) if t.gain > 0 else None,
                "active": t.active}
        if inside:
            meta["markers"] = [(m.time - t.start, m.kind) for m in inside]
        if t.take.sources:
            meta["sources"] = sorted({s["file"] for s in t.take.sources})
        items.append(Item(name=t.path.name, path=Path(t.path).absolute(), record=record,
                          frames=nframes, source_tc=tc0 + record, channels=1,
                          samples=t.file_length, enabled=t.active, prompt=prompt,
                          markers=marks, meta=meta))
    # Reel names: unique per file across the project (EDL reels are 8 characters).
    for n, it in enumerate(sorted(items, key=lambda i: (i.record, not i.enabled, i.name)), start=1):
        it.reel = f"FX{n:03d}"
    for i, lane in enumerate(pack([it for it in items if it.enabled]), start=1):
        tracks.append(Track(f"Foley {i}", "audio", lane, role="foley"))
    for i, lane in enumerate(pack([it for it in items if not it.enabled]), start=1):
        tracks.append(Track(f"Foley alt {i}", "audio", lane, enabled=False, role="alt"))
    return Plan(name=project.name or project.clip_name, clip_name=project.clip_name, rate=rate,
                tc0=tc0, tref=tref, frames=frames,
                width=int(project.media_info.get("width") or 1920),
                height=int(project.media_info.get("height") or 1080), clip_channels=channels,
                tracks=tracks, bits=bits)


def _copy(item: Item, **changes: Any) -> Item:
    import dataclasses

    return dataclasses.replace(item, **changes)
