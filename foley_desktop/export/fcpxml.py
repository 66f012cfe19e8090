"""FCPXML 1.11 for Final Cut Pro (10.6 and later, 11) and DaVinci Resolve's FCPXML import.

Times are FCPXML's exact rationals ("30030/30000s"), all whole frames of the clip's rate. The
clip is the primary storyline's one asset-clip; each Foley track is a lane of connected
asset-clips below it (lane -1, -2 …), alternates further down with enabled="0". A connected
clip's offset is in its parent's time, which starts at the parent's own start (the clip's
timecode): offset = (clip timecode + record frame) × frame duration. Assets link the files by
URL (media-rep, the 1.9+ form); markers carry the prompt and the spotting markers (FCPXML has
no marker colour: each is named by its kind, with its source, strength and prompt in its note).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

from foley_desktop.export.placement import Item, Plan
from foley_desktop.media.timebase import SAMPLE_RATE


def _t(frames: int, fd: Fraction) -> str:
    """`frames` × frame duration as FCPXML time: "Ns" when whole seconds, else "A/Bs"."""
    value = frames * fd.numerator
    if value % fd.denominator == 0:
        return f"{value // fd.denominator}s"
    return f"{value}/{fd.denominator}s"


def _sub(parent: ET.Element, tag: str, **attrib: object) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})


def fcpxml(plan: Plan) -> str:
    rate = plan.rate
    fd = rate.frame_duration
    tc_format = "DF" if rate.drop_frame else "NDF"
    root = ET.Element("fcpxml", version="1.11")
    res = _sub(root, "resources")
    _sub(res, "format", id="r1", frameDuration=_t(1, fd), width=plan.width, height=plan.height)
    assets: dict[str, str] = {}

    def asset(it: Item) -> str:
        if it.url in assets:
            return assets[it.url]
        aid = assets[it.url] = f"r{len(assets) + 2}"
        attrs = {"id": aid, "name": it.path.stem, "start": _t(it.source_tc, fd),
                 "duration": _t(it.frames, fd), "hasAudio": 1 if it.channels else 0}
        if it.has_video:
            attrs.update(hasVideo=1, format="r1", videoSources=1)
        if it.channels:
            attrs.update(audioSources=1, audioChannels=it.channels, audioRate=SAMPLE_RATE)
        a = _sub(res, "asset", **attrs)
        _sub(a, "media-rep", kind="original-media", src=it.url)
        return aid

    clip = plan.video_track.items[0]
    clip_ref = asset(clip)
    lanes = []  # (lane number, track)
    n = 0
    for track in plan.tracks:
        if track.role in ("foley", "alt"):
            n += 1
            lanes.append((-n, track))
    for _, track in lanes:
        for it in track.items:
            asset(it)

    lib = _sub(root, "library")
    event = _sub(lib, "event", name="Foley Desktop")
    project = _sub(event, "project", name=plan.name)
    duration = max([plan.frames] + [it.end for t in plan.tracks for it in t.items])
    seq = _sub(project, "sequence", format="r1", duration=_t(duration, fd),
               tcStart=_t(plan.tc0, fd), tcFormat=tc_format, audioLayout="stereo", audioRate="48k")
    spine = _sub(seq, "spine")
    attrs = {"ref": clip_ref, "offset": _t(plan.tc0, fd), "name": plan.clip_name,
             "start": _t(clip.source_tc, fd), "duration": _t(clip.frames, fd), "format": "r1",
             "tcFormat": tc_format}
    if plan.clip_channels:
        attrs["audioRole"] = "dialogue"
    primary = _sub(spine, "asset-clip", **attrs)
    for lane, track in lanes:
        for it in track.items:
            c = _sub(primary, "asset-clip", ref=asset(it), lane=lane,
                     offset=_t(plan.tc0 + it.record, fd), name=it.path.stem,
                     start=_t(it.source_tc, fd), duration=_t(it.frames, fd), tcFormat=tc_format,
                     audioRole="effects", **({} if track.enabled and it.enabled else {"enabled": 0}))
            for m in it.markers:
                attrs = {"start": _t(it.source_tc + m.frame, fd), "duration": _t(1, fd), "value": m.name}
                if m.comment:
                    attrs["note"] = m.comment
                _sub(c, "marker", **attrs)
    xml = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + xml + "\n"
