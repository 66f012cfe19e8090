"""Final Cut Pro 7 XML (xmeml version 4), the interchange Premiere Pro and Resolve import.

Written directly (not through the OTIO adapter) so that the parts NLEs rely on are there:
drop-frame timecode as "01:00:10;00" with DF, one `rate` per item, a full `file` element the
first time a file appears (name, pathurl, rate, duration, timecode, media with
samplecharacteristics and channelcount) and a reference by id after that, `sourcetrack` on
audio items, `link` between the clip's picture and its sound, track names (Premiere's
MZ.TrackName attribute and a `name` element), alternate-take tracks disabled, and the prompt
and spotting markers as clip markers (xmeml has no marker colour: a spotting marker is named by
its kind, its source, strength and the prompt in its comment).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from foley_desktop.export.placement import Item, Plan, Rate, Track
from foley_desktop.media.timebase import SAMPLE_RATE


def _sub(parent: ET.Element, tag: str, text: object = None, **attrib: object) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = str(text)
    return el


def _rate(parent: ET.Element, rate: Rate) -> None:
    r = _sub(parent, "rate")
    _sub(r, "timebase", rate.timebase)
    _sub(r, "ntsc", "TRUE" if rate.ntsc else "FALSE")


def _timecode(parent: ET.Element, rate: Rate, frames: int) -> None:
    tc = _sub(parent, "timecode")
    _rate(tc, rate)
    _sub(tc, "string", rate.timecode(frames))
    _sub(tc, "frame", frames)
    _sub(tc, "displayformat", "DF" if rate.drop_frame else "NDF")


def _bool(flag: bool) -> str:
    return "TRUE" if flag else "FALSE"


class _Writer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rate = plan.rate
        self.files: dict[str, str] = {}  # url -> file id
        self.count = 0

    def next_id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}-{self.count}"

    def file(self, parent: ET.Element, it: Item) -> None:
        fid = self.files.get(it.url)
        if fid is not None:  # defined once, referenced after (xmeml's rule)
            _sub(parent, "file", id=fid)
            return
        fid = self.files[it.url] = f"file-{len(self.files) + 1}"
        f = _sub(parent, "file", id=fid)
        _sub(f, "name", it.path.name)
        _sub(f, "pathurl", it.url)
        _rate(f, self.rate)
        _sub(f, "duration", it.frames)
        _timecode(f, self.rate, it.source_tc)
        media = _sub(f, "media")
        if it.has_video:
            v = _sub(media, "video")
            sc = _sub(v, "samplecharacteristics")
            _rate(sc, self.rate)
            _sub(sc, "width", self.plan.width)
            _sub(sc, "height", self.plan.height)
        if it.channels:
            a = _sub(media, "audio")
            sc = _sub(a, "samplecharacteristics")
            _sub(sc, "depth", 24)
            _sub(sc, "samplerate", SAMPLE_RATE)
            _sub(a, "channelcount", it.channels)

    def clipitem(self, parent: ET.Element, it: Item, kind: str, enabled: bool, track_index: int,
                 item_id: str, links: list[tuple[str, str, int]]) -> None:
        c = _sub(parent, "clipitem", id=item_id)
        _sub(c, "masterclipid", f"masterclip-{it.reel}")
        _sub(c, "name", it.name)
        _sub(c, "enabled", _bool(enabled))
        _sub(c, "duration", it.frames)
        _rate(c, self.rate)
        _sub(c, "start", it.record)
        _sub(c, "end", it.end)
        _sub(c, "in", 0)
        _sub(c, "out", it.frames)
        self.file(c, it)
        if kind == "audio":
            st = _sub(c, "sourcetrack")
            _sub(st, "mediatype", "audio")
            _sub(st, "trackindex", 1)
        for target, mediatype, tindex in links:
            ln = _sub(c, "link")
            _sub(ln, "linkclipref", target)
            _sub(ln, "mediatype", mediatype)
            _sub(ln, "trackindex", tindex)
            _sub(ln, "clipindex", 1)
        for m in it.markers:
            mk = _sub(c, "marker")
            _sub(mk, "name", m.name)
            _sub(mk, "comment", m.comment)
            _sub(mk, "in", m.frame)
            _sub(mk, "out", -1)

    def track(self, parent: ET.Element, track: Track, kind: str, index: int,
              ids: dict[int, str], links: dict[int, list]) -> None:
        t = _sub(parent, "track", **{"MZ.TrackName": track.name})
        _sub(t, "name", track.name)
        for n, it in enumerate(track.items):
            self.clipitem(t, it, kind, track.enabled and it.enabled, index,
                          ids.get(n) or self.next_id("clipitem"), links.get(n, []))
        _sub(t, "enabled", _bool(track.enabled))
        _sub(t, "locked", "FALSE")
        if kind == "audio":
            _sub(t, "outputchannelindex", 1)


def fcp7_xml(plan: Plan) -> str:
    w = _Writer(plan)
    root = ET.Element("xmeml", version="4")
    seq = _sub(root, "sequence", id="sequence-1")
    _sub(seq, "name", plan.name)
    _sub(seq, "duration", max([plan.frames] + [it.end for t in plan.tracks for it in t.items]))
    _rate(seq, plan.rate)
    _timecode(seq, plan.rate, plan.tc0)
    media = _sub(seq, "media")
    video = _sub(media, "video")
    fmt = _sub(video, "format")
    sc = _sub(fmt, "samplecharacteristics")
    _rate(sc, plan.rate)
    _sub(sc, "width", plan.width)
    _sub(sc, "height", plan.height)
    _sub(sc, "pixelaspectratio", "square")
    _sub(sc, "fielddominance", "none")
    audio = _sub(media, "audio")
    _sub(audio, "numOutputChannels", 2)
    afmt = _sub(audio, "format")
    asc = _sub(afmt, "samplecharacteristics")
    _sub(asc, "depth", 24)
    _sub(asc, "samplerate", SAMPLE_RATE)

    # The clip's picture and its own sound are one linked pair.
    vid, aid = "clipitem-clip-video", "clipitem-clip-audio"
    audio_tracks = plan.audio_tracks
    has_clip_audio = bool(audio_tracks) and audio_tracks[0].role == "clip"
    v_links = [(vid, "video", 1)] + ([(aid, "audio", 1)] if has_clip_audio else [])
    w.track(video, plan.video_track, "video", 1, {0: vid}, {0: v_links})
    for i, track in enumerate(audio_tracks, start=1):
        clip_track = track.role == "clip"
        w.track(audio, track, "audio", i, {0: aid} if clip_track else {},
                {0: v_links} if clip_track else {})
    xml = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + xml + "\n"
