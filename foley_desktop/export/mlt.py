"""A Kdenlive project (MLT XML) with the clip and every take, that Kdenlive opens and `melt` renders.

MLT counts frames at the profile's rate, which is the clip's, so the frame aligned take files
land on their samples (MLT's frames at 29.97 are whole samples rounded down, within a sample of
ours). Layout as Kdenlive writes it: a profile, one producer per file, the `main_bin` playlist
(Kdenlive's project bin, with its document version), a black background track, then one tractor
per track holding a playlist of blanks and entries. Audio tracks are summed into the output by
`mix` transitions (sum=1), without which MLT plays only the top track. Alternate-take tracks are
there but muted (hide="both"), so a colleague can switch them on. The takes' markers are
Kdenlive clip markers in the category of their colour, their kind, source and strength as text.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from foley_desktop.export.placement import Item, Plan

KDENLIVE_DOC_VERSION = "1.1"
# Kdenlive's default marker categories by colour: 1 cyan (#3daee9), 3 green (#1cdc9a), 4 yellow
# (#c9ce3b).
KDENLIVE_MARKER_TYPES = {"CYAN": 1, "GREEN": 3, "YELLOW": 4}


def _sub(parent: ET.Element, tag: str, text: object = None, **attrib: object) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = str(text)
    return el


def _props(el: ET.Element, **props: object) -> None:
    for k, v in props.items():
        _sub(el, "property", v, name=k.replace("__", ":").replace("_dot_", "."))


def kdenlive_xml(plan: Plan) -> str:
    fps = plan.rate.fps
    end = max([plan.frames] + [it.end for t in plan.tracks for it in t.items])
    root = ET.Element("mlt", LC_NUMERIC="C", version="7.12.0", title=plan.name)
    w, h = plan.width, plan.height
    from math import gcd

    g = gcd(w, h) or 1
    _sub(root, "profile", description=f"{w}x{h} {float(fps):.3f} fps", width=w, height=h,
         progressive=1, sample_aspect_num=1, sample_aspect_den=1, display_aspect_num=w // g,
         display_aspect_den=h // g, frame_rate_num=fps.numerator, frame_rate_den=fps.denominator,
         colorspace=709)

    producers: dict[str, str] = {}
    bin_entries = []

    def producer(it: Item, audio_only: bool) -> str:
        key = f"{it.url}|{audio_only}"
        if key in producers:
            return producers[key]
        pid = producers[key] = f"producer{len(producers)}"
        p = _sub(root, "producer", id=pid, **{"in": 0, "out": it.frames - 1})
        _props(p, length=it.frames, eof="pause", resource=str(it.path),
               mlt_service="avformat-novalidate", audio_index=0 if it.channels else -1,
               video_index=-1 if audio_only else 0, kdenlive__id=len(producers),
               kdenlive__clipname=it.path.stem, kdenlive__clip_type=1 if audio_only else 0)
        if it.markers:
            # Kdenlive's clip markers: JSON on the bin clip, positions in the clip's frames; the
            # type is Kdenlive's marker category, i.e. its colour (KDENLIVE_MARKER_TYPES).
            _props(p, kdenlive__markers=json.dumps(
                [{"pos": m.frame, "comment": m.label, "type": KDENLIVE_MARKER_TYPES[m.color]}
                 for m in it.markers]))
        bin_entries.append((pid, it.frames))
        return pid

    # Producers first (MLT resolves ids in document order).
    track_specs = []
    for track in plan.tracks:
        audio_only = track.kind == "audio"
        pids = [producer(it, audio_only) for it in track.items]
        track_specs.append((track, pids))

    main_bin = _sub(root, "playlist", id="main_bin")
    _props(main_bin, kdenlive__docproperties_dot_version=KDENLIVE_DOC_VERSION,
           kdenlive__docproperties_dot_profile="", xml_retain=1)
    for pid, frames in bin_entries:
        _sub(main_bin, "entry", producer=pid, **{"in": 0, "out": frames - 1})

    black = _sub(root, "producer", id="black_track", **{"in": 0, "out": end - 1})
    _props(black, length=end, eof="continue", resource="black", aspect_ratio=1,
           mlt_service="color", set_dot_test_audio=0)

    tractors = []
    for n, (track, pids) in enumerate(track_specs):
        audio = track.kind == "audio"
        pl = _sub(root, "playlist", id=f"playlist{n}")
        _props(pl, kdenlive__track_name=track.name, **({"kdenlive__audio_track": 1} if audio else {}))
        pos = 0
        for it, pid in zip(track.items, pids, strict=True):
            if it.record > pos:
                _sub(pl, "blank", length=it.record - pos)
            _sub(pl, "entry", producer=pid, **{"in": 0, "out": it.frames - 1})
            pos = it.end
        # Kdenlive keeps a second, empty playlist per track (for same-track transitions).
        pl2 = _sub(root, "playlist", id=f"playlist{n}_b")
        if audio:
            _props(pl2, kdenlive__audio_track=1)
        tr = _sub(root, "tractor", id=f"tractor{n}", **{"in": 0, "out": end - 1})
        _props(tr, kdenlive__track_name=track.name, **({"kdenlive__audio_track": 1} if audio else {}))
        hide = "both" if not track.enabled else ("video" if audio else "audio")
        _sub(tr, "track", producer=f"playlist{n}", hide=hide)
        _sub(tr, "track", producer=f"playlist{n}_b", hide=hide)
        tractors.append((tr.get("id"), audio, track.enabled))

    main = _sub(root, "tractor", id="maintractor", **{"in": 0, "out": end - 1})
    _props(main, kdenlive__projectTractor=1)
    _sub(main, "track", producer="black_track")
    # Kdenlive lists audio tracks first (bottom up), then video.
    order = [t for t in tractors if t[1]] + [t for t in tractors if not t[1]]
    for tid, audio, _enabled in order:
        _sub(main, "track", producer=tid, **({"hide": "video"} if audio else {}))
    for i, (_tid, audio, _enabled) in enumerate(order, start=1):
        if audio:
            tr = _sub(main, "transition", id=f"mix{i}")
            _props(tr, a_track=0, b_track=i, mlt_service="mix", kdenlive_id="mix",
                   internal_added=237, always_active=1, accepts_blanks=1, sum=1)
        else:
            tr = _sub(main, "transition", id=f"composite{i}")
            # composite: in every MLT build (qtblend needs MLT's Qt module and a display).
            _props(tr, a_track=0, b_track=i, mlt_service="composite", kdenlive_id="composite",
                   internal_added=237, always_active=1)
    return "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"
