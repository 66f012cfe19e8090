"""The project's data: a clip, the segments marked on it and the takes generated for each.

Plain dataclasses with no I/O (see `io.py` for load/save, `schema.py` for the file format).
All times are integer samples at 48 kHz from the clip's first frame. In memory every path is
absolute; the project file stores them relative to its own folder (`io.py`).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foley_desktop.errors import ProjectError
from foley_desktop.spotting.markers import Marker

# Lanes of a full-length export. Foley comes from the segments; background and dialogue from
# separation (`Project.stems`); the mix is computed.
STEM_KINDS = ("dialogue", "background")
# How a segment's takes are made: by the model, or from recordings of the sound library
# placed on the segment's markers (library/render.py).
MODES = ("model", "library")


def new_id(prefix: str) -> str:
    """Short random id, unique enough within a project (and stable once saved)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Take:
    """One generated audio file for a segment (48 kHz, mono, float WAV in the cache folder)."""

    id: str
    path: Path
    seed: int
    model: str = ""
    version: str = ""
    variant: str = ""
    provider: str = ""
    created: str = field(default_factory=now_iso)
    # The model's training prompt it was conditioned on instead of the segment's (the
    # package's prompt anchors, engine/anchor.py); "" when the prompt was used as typed.
    prompt_used: str = ""
    mode: str = "model"
    # What made the take, as recorded by the application layer (app/params.GenParams.record):
    # mode, prompt, negative, literal prompt, steps, guidance, picture guidance, precision,
    # segment span, markers digest, pinned recordings, model name, version and manifest hash,
    # the app's version, the seed and provider, under "effective" what the engine used, and
    # "key", the hash that decides whether the segment still needs a take for a seed.
    params: dict[str, Any] = field(default_factory=dict)
    # Library takes: the recordings placed, one dict per placement (file, offset_s, length_s,
    # at (samples in the clip), gain_db, pitch, credit); empty for model takes.
    sources: list[dict[str, Any]] = field(default_factory=list)
    # How well the take's onsets match the segment's markers when it was made
    # (spotting.onsets.sync_score: f1_40ms, f1_100ms, precision, recall, n_onsets, n_markers).
    sync: dict[str, Any] | None = None


@dataclass
class Segment:
    """A time range of the clip with what the user asked to hear there."""

    id: str
    start: int
    end: int
    prompt: str
    negative: str | None = None
    seed: int | None = None  # base seed; variation i uses seed + i
    variations: int = 1
    steps: int | None = None
    guidance: float | None = None
    visual_guidance: float | None = None  # the picture's guidance apart from the prompt's
    model: str | None = None  # package name; None = the default package
    precision: str = "auto"
    gain_db: float = 0.0  # applied to the active take in stems and mix
    literal_prompt: bool = False  # True: never read the prompt as a training prompt
    # Spotting markers (clip times, so moving the segment leaves them on their frames); those
    # inside [start, end) are the ones its takes follow.
    markers: list[Marker] = field(default_factory=list)
    mode: str = "model"  # one of MODES
    # Model takes with markers, between them (engine/marker_gate.py): "auto" (quiet unless the
    # prompt asks for a bed), "quiet" or "keep"; saved only when not "auto".
    between_markers: str = "auto"
    # Auto-spot looks only here: (x, y, w, h) in pixels of the video frame (the clip's
    # display size); None = the whole picture. Saved only when set.
    spot_roi: tuple[int, int, int, int] | None = None
    # Library mode: recordings the editor chose for this segment (absolute paths), used instead
    # of searching the library with the prompt.
    pinned: list[str] = field(default_factory=list)
    takes: list[Take] = field(default_factory=list)
    active_take: str | None = None

    @property
    def length(self) -> int:
        return self.end - self.start

    def markers_inside(self) -> list[Marker]:
        return [m for m in self.markers if self.start <= m.time < self.end]

    def take(self, take_id: str) -> Take:
        for t in self.takes:
            if t.id == take_id:
                return t
        raise ProjectError(f"segment {self.id} has no take {take_id}")

    def active(self) -> Take | None:
        if self.active_take is None:
            return None
        return next((t for t in self.takes if t.id == self.active_take), None)


@dataclass
class Project:
    """A clip and its Foley segments.

    `media_info` is a small summary of the clip kept so a project opens (and exports its
    timeline) without probing: duration_samples (int), fps ("num/den" or None), timecode
    ("HH:MM:SS:FF" or None), drop_frame (bool), width, height, audio_channels (0 when the clip
    has no audio), container.
    """

    media: Path
    media_info: dict[str, Any]
    segments: list[Segment] = field(default_factory=list)
    stems: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    # Speech regions found by separation, (start, end) in samples: drawn on the timeline.
    speech: list[tuple[int, int]] = field(default_factory=list)
    name: str = ""
    created: str = field(default_factory=now_iso)
    # Where the project was loaded from / last saved to; None for a new, unsaved project.
    path: Path | None = None

    @property
    def duration_samples(self) -> int:
        return int(self.media_info["duration_samples"])

    @property
    def folder(self) -> Path | None:
        return None if self.path is None else self.path.parent

    @property
    def cache_dir(self) -> Path:
        """Folder next to the project file holding what the app generates (takes, stems)."""
        if self.path is None:
            raise ProjectError("save the project first: its takes are kept next to the file")
        return self.path.parent / f"{self.path.stem}.foley-cache"

    def segment(self, segment_id: str) -> Segment:
        for s in self.segments:
            if s.id == segment_id:
                return s
        raise ProjectError(f"no segment {segment_id!r} in the project")

    def segment_index(self, segment_id: str) -> int:
        for i, s in enumerate(self.segments):
            if s.id == segment_id:
                return i
        raise ProjectError(f"no segment {segment_id!r} in the project")

    def sorted_segments(self) -> list[Segment]:
        return sorted(self.segments, key=lambda s: (s.start, s.end, s.id))

    @property
    def clip_name(self) -> str:
        return self.name or self.media.stem

    # Loading and saving live in io.py; these two are the contract's spelling of them.
    @classmethod
    def load(cls, path) -> Project:
        from foley_desktop.project.io import load

        return load(path)

    def save(self, path=None) -> Path:
        from foley_desktop.project.io import save

        return save(self, path)
