"""Timeline files that place the clip and every exported take, for each NLE's own import.

Formats (each written from the same frame plan, export/placement.py):
- `otio`: OpenTimelineIO JSON at the clip's frame rate (what `otioconvert` turns into the others);
  each take's exact sample position, gain and prompt ride along in its metadata.
- `fcp7xml`: Final Cut Pro 7 XML (xmeml v4), what Premiere Pro and Resolve import (fcp7.py).
- `fcpxml`: FCPXML 1.11 for Final Cut Pro 10.6+/11 and Resolve (fcpxml.py).
- `edl`: CMX 3600, one list per Foley track (a list holds one track) (edl.py).
- `aaf`: AAF with the takes linked to the BWF files, for Avid and Pro Tools (aaf.py).
- `kdenlive`: a Kdenlive project (MLT XML) that `melt` renders (mlt.py).

Tracks: V1 the clip's picture, A1 its audio (when it has some), "Foley N" with the active takes
(overlapping ones spill onto further tracks), then disabled "Foley alt N" with alternates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from foley_desktop.errors import ExportError
from foley_desktop.export.placement import Plan, build_plan
from foley_desktop.export.stems import PlacedTake, safe_name
from foley_desktop.media.timebase import SAMPLE_RATE
from foley_desktop.project.model import Project

if TYPE_CHECKING:
    import opentimelineio as otio

FORMATS = {"otio": ".otio", "fcp7xml": ".xml", "fcpxml": ".fcpxml", "edl": ".edl", "aaf": ".aaf",
           "kdenlive": ".kdenlive"}


def _otio():
    try:
        import opentimelineio as otio
    except ImportError as exc:  # pragma: no cover - a dependency of the app
        raise ExportError("timeline export needs the opentimelineio package") from exc
    return otio


def otio_timeline(plan: Plan) -> otio.schema.Timeline:
    """The OTIO timeline of a plan: every time a whole frame at the clip's rate."""
    otio = _otio()
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    rate = float(plan.rate.fps)
    tl = otio.schema.Timeline(name=plan.name)
    tl.global_start_time = RT(plan.tc0, rate)
    tl.metadata["foley_desktop"] = {
        "sample_rate": SAMPLE_RATE,
        "fps": f"{plan.rate.fps.numerator}/{plan.rate.fps.denominator}",
        "drop_frame": plan.rate.drop_frame, "timecode": plan.rate.timecode(plan.tc0),
        "time_reference": plan.tref,
        "take_files": "frame aligned: each take starts meta.head_samples into its file"}
    for track in plan.tracks:
        kind = otio.schema.TrackKind.Video if track.kind == "video" else otio.schema.TrackKind.Audio
        ot = otio.schema.Track(name=track.name, kind=kind)
        ot.enabled = track.enabled
        pos = 0
        for it in track.items:
            if it.record > pos:
                ot.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(it.record - pos, rate))))
            rng = TR(RT(it.source_tc, rate), RT(it.frames, rate))
            ref = otio.schema.ExternalReference(target_url=it.url, available_range=rng)
            clip = otio.schema.Clip(name=it.name if it.meta.get("kind") != "clip" else plan.clip_name,
                                    media_reference=ref, source_range=rng)
            clip.enabled = it.enabled
            clip.metadata["foley_desktop"] = dict(it.meta)
            # Markers in the clip's media time, so an NLE shows them on the take.
            # Named by their kind, coloured by whose they are (auto-spot cyan, the editor's
            # yellow, the prompt green), source, strength and prompt in the metadata.
            for m in it.markers:
                mk = otio.schema.Marker(name=m.name, marked_range=TR(RT(it.source_tc + m.frame, rate),
                                                                    RT(0, rate)),
                                        color=getattr(otio.schema.MarkerColor, m.color))
                mk.metadata["foley_desktop"] = {**m.info(), "comment": m.comment}
                clip.markers.append(mk)
            ot.append(clip)
            pos = it.end
        tl.tracks.append(ot)
    return tl


def build_timeline(project: Project, placed_takes: list[PlacedTake]) -> otio.schema.Timeline:
    """The OTIO timeline for a project whose takes were exported (frame aligned, with paths)."""
    return otio_timeline(build_plan(project, placed_takes))


def timeline_files(project: Project, takes: list[PlacedTake], fmt: str,
                   bits: int = 24) -> dict[str, str | bytes]:
    """{file name: text or bytes} for one format (EDL: one file per Foley track); `bits`:
    the take files' sample format (24-bit PCM or 32-bit float), for AAF's descriptors."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown timeline format {fmt!r} (choose from {', '.join(FORMATS)})")
    plan = build_plan(project, takes, bits=bits)
    clip = safe_name(project.clip_name)
    try:
        if fmt == "otio":
            otio = _otio()
            return {f"{clip}.otio": otio.adapters.write_to_string(otio_timeline(plan), "otio_json")}
        if fmt == "fcp7xml":
            from foley_desktop.export.fcp7 import fcp7_xml

            return {f"{clip}_fcp7.xml": fcp7_xml(plan)}
        if fmt == "fcpxml":
            from foley_desktop.export.fcpxml import fcpxml

            return {f"{clip}.fcpxml": fcpxml(plan)}
        if fmt == "edl":
            from foley_desktop.export.edl import edls

            return {f"{clip}_{name}.edl": text for name, text in edls(plan).items()}
        if fmt == "aaf":
            from foley_desktop.export.aaf import aaf_bytes

            return {f"{clip}.aaf": aaf_bytes(plan)}
        from foley_desktop.export.mlt import kdenlive_xml

        return {f"{clip}.kdenlive": kdenlive_xml(plan)}
    except ExportError:
        raise
    except Exception as exc:  # a library refusing the timeline: say which format
        raise ExportError(f"cannot write the {fmt} timeline: {exc}") from exc
