"""Timeline files that place the clip and every exported take: OTIO, FCP7 XML and CMX 3600 EDL.

The OpenTimelineIO file is exact: every time is a whole number of samples at 48 kHz (OTIO keeps
rational times), with the clip's start timecode as the timeline's global start. FCP7 XML and EDL
count whole frames, so for them each take's start and end are rounded to the nearest frame of
the clip's rate (ends and starts round the same way, so takes that did not overlap still do
not). Those two go through the OpenTimelineIO adapters (otio-fcp-adapter,
otio-cmx3600-adapter); a CMX 3600 list holds a single track, so each Foley track gets its own
EDL.

Tracks: V1 the clip's picture, A1 the clip's own audio (when it has some), then "Foley N" tracks
holding the active takes (overlapping segments spill onto further tracks), then disabled
"Foley alt N" tracks with the alternate takes when those were exported.
"""

from __future__ import annotations

import math
from fractions import Fraction

from foley_desktop.errors import ExportError
from foley_desktop.export.stems import PlacedTake, clip_fps, clip_time_reference, safe_name
from foley_desktop.project.model import Project

SAMPLE_RATE = 48000
FORMATS = {"otio": ".otio", "fcp7xml": ".xml", "edl": ".edl"}


def _otio():
    try:
        import opentimelineio as otio
    except ImportError as exc:  # pragma: no cover - a dependency of the app
        raise ExportError("timeline export needs the opentimelineio package") from exc
    return otio


class _Clock:
    """Samples -> the time values of one output: samples (exact) or the nearest frame."""

    def __init__(self, fps: Fraction | None) -> None:
        self.fps = fps

    @property
    def rate(self) -> float:
        return float(self.fps) if self.fps else float(SAMPLE_RATE)

    def value(self, samples: int) -> int:
        if self.fps is None:
            return int(samples)
        return math.floor(Fraction(samples) * self.fps / SAMPLE_RATE + Fraction(1, 2))


def _pack(takes: list[PlacedTake]) -> list[list[PlacedTake]]:
    """Greedy lanes: each take on the first track where it does not overlap the one before."""
    lanes: list[list[PlacedTake]] = []
    for t in sorted(takes, key=lambda t: (t.start, t.start + t.length, t.index)):
        for lane in lanes:
            last = lane[-1]
            if last.start + last.length <= t.start:
                lane.append(t)
                break
        else:
            lanes.append([t])
    return lanes


def _track(otio, name: str, kind, items, clock: _Clock, enabled: bool = True):
    """A track from (name, start_samples, length_samples, url, media_start_samples, metadata)."""
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    rate = clock.rate
    track = otio.schema.Track(name=name, kind=kind)
    track.enabled = enabled
    pos = 0
    for clip_name, start, length, url, media_start, meta in items:
        s, e = clock.value(start), clock.value(start + length)
        s = max(s, pos)
        e = max(e, s + 1)
        if s > pos:
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(s - pos, rate))))
        m0 = clock.value(media_start)
        ref = otio.schema.ExternalReference(target_url=url,
                                            available_range=TR(RT(m0, rate), RT(e - s, rate)))
        clip = otio.schema.Clip(name=clip_name, media_reference=ref,
                                source_range=TR(RT(m0, rate), RT(e - s, rate)))
        clip.metadata["foley_desktop"] = meta
        # Spotting markers (and the prompt on the first) as clip markers, in the clip's media
        # time, so an NLE shows the spotted frames on the take; `offset` is marker minus start.
        for j, (offset, mkind) in enumerate(meta.get("markers", [])):
            label = f"{mkind}: {meta.get('prompt', '')}" if j == 0 else mkind
            clip.markers.append(otio.schema.Marker(
                name=label[:120], marked_range=TR(RT(clock.value(media_start + offset), rate),
                                                 RT(0, rate)),
                color=otio.schema.MarkerColor.YELLOW))
        track.append(clip)
        pos = e
    return track


def build_timeline(project: Project, takes: list[PlacedTake], frames: bool = False):
    """The OTIO timeline; `frames=True` gives the frame-rounded one FCP7 XML and EDL need."""
    otio = _otio()
    fps = clip_fps(project)
    if frames and fps is None:
        raise ExportError("FCP7 XML and EDL need the clip's frame rate, and it has none")
    clock = _Clock(fps if frames else None)
    RT = otio.opentime.RationalTime
    tref = clip_time_reference(project)
    total = project.duration_samples
    tl = otio.schema.Timeline(name=project.name or project.clip_name)
    tl.global_start_time = RT(clock.value(tref), clock.rate)
    tl.metadata["foley_desktop"] = {"sample_rate": SAMPLE_RATE, "fps": project.media_info.get("fps"),
                                    "timecode": project.media_info.get("timecode"),
                                    "time_reference": tref, "exact": not frames}
    media_url = project.media.as_uri()
    clip_item = [(project.clip_name, 0, total, media_url, tref, {"kind": "clip"})]
    tl.tracks.append(_track(otio, "V1", otio.schema.TrackKind.Video, clip_item, clock))
    if int(project.media_info.get("audio_channels", 0)) > 0:
        tl.tracks.append(_track(otio, "A1 clip audio", otio.schema.TrackKind.Audio, clip_item, clock))

    def items(lane):
        out = []
        for t in lane:
            if t.path is None:
                raise ExportError("internal: take exported without a file")
            out.append((t.path.stem, t.start, t.length, t.path.as_uri(), tref + t.start,
                        {"segment": t.segment.id, "take": t.take.id, "seed": t.take.seed,
                         "prompt": t.take.params.get("prompt", t.segment.prompt),
                         "mode": t.take.mode, "start_samples": t.start,
                         "length_samples": t.length, "active": t.active,
                         **({"markers": [(m.time - t.start, m.kind)
                                         for m in t.segment.markers_inside()]}
                            if t.segment.markers_inside() else {}),
                         **({"sources": sorted({s["file"] for s in t.take.sources})}
                            if t.take.sources else {})}))
        return out

    for i, lane in enumerate(_pack([t for t in takes if t.active]), start=1):
        tl.tracks.append(_track(otio, f"Foley {i}", otio.schema.TrackKind.Audio, items(lane), clock))
    for i, lane in enumerate(_pack([t for t in takes if not t.active]), start=1):
        tl.tracks.append(_track(otio, f"Foley alt {i}", otio.schema.TrackKind.Audio, items(lane),
                                clock, enabled=False))
    return tl


def timeline_files(project: Project, takes: list[PlacedTake], fmt: str) -> dict[str, str]:
    """{file name: text} for one format (EDL: one file per Foley track)."""
    otio = _otio()
    clip = safe_name(project.clip_name)
    try:
        if fmt == "otio":
            return {f"{clip}.otio": otio.adapters.write_to_string(build_timeline(project, takes), "otio_json")}
        if fmt == "fcp7xml":
            tl = build_timeline(project, takes, frames=True)
            return {f"{clip}_fcp7.xml": otio.adapters.write_to_string(tl, "fcp_xml")}
        if fmt == "edl":
            return _edls(otio, project, takes, clip)
    except ExportError:
        raise
    except Exception as exc:  # an adapter refusing the timeline: say which format
        raise ExportError(f"cannot write the {fmt} timeline: {exc}") from exc
    raise ExportError(f"unknown timeline format {fmt!r} (choose from {', '.join(FORMATS)})")


def _edls(otio, project: Project, takes: list[PlacedTake], clip: str) -> dict[str, str]:
    """One CMX 3600 list per Foley track; record times are the clip's timecode."""
    full = build_timeline(project, takes, frames=True)
    rate = float(clip_fps(project))
    start = full.global_start_time.value
    out = {}
    for track in full.tracks:
        if not track.name.startswith("Foley ") or track.name.startswith("Foley alt"):
            continue
        t = track.clone()
        # CMX record times count from midnight: lead with the clip's start timecode as a gap.
        if start:
            RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
            t.insert(0, otio.schema.Gap(source_range=TR(RT(0, rate), RT(start, rate))))
        tl = otio.schema.Timeline(name=f"{project.clip_name} {track.name}")
        tl.tracks.append(t)
        # The adapter writes the first track only, and insists on one video track being
        # present: the picture goes second, so it passes that check without being listed.
        tl.tracks.append(full.tracks[0].clone())
        text = otio.adapters.write_to_string(tl, "cmx_3600", rate=rate)
        out[f"{clip}_{track.name.replace(' ', '')}.edl"] = text
    if not out:
        raise ExportError("no EDL written: the project has no active takes")
    return out
