"""The takes' markers in every timeline format, read back with OpenTimelineIO and its adapters
(not the project's own readers): each spotting marker named by its kind, coloured by whose it
is where the format has colours (auto-spot cyan, the editor's yellow; a take without spotting
markers carries its prompt, green), its source and strength (and the prompt) in its metadata,
comment or note (issue #23)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from foley_desktop.export.export import export_project
from foley_desktop.media.wav import write_wav
from foley_desktop.project.model import Project, Segment, Take
from foley_desktop.spotting.markers import Marker

FPS = 25
TC0 = 10 * 3600 * FPS  # 10:00:00:00
PROMPT = "footsteps on gravel"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A 25 fps clip at 10:00:00:00 with two takes: s0 (1-3 s) with the editor's hit at 1.5 s
    (strength 1) and an auto-spotted footstep at 2.2 s (strength 0.5); s1 (4-5 s) without
    markers. Every timeline format exported."""
    tmp = tmp_path_factory.mktemp("markers")
    clip = tmp / "walk.mov"
    clip.write_bytes(b"timeline tests never decode the clip")
    p = Project(media=clip, media_info={"duration_samples": 48000 * 8, "fps": "25/1",
                                        "timecode": "10:00:00:00", "audio_channels": 1},
                name="Walk", path=tmp / "p.foley")
    for i, (s, e, prompt) in enumerate([(48000, 144000, PROMPT), (192000, 240000, "door slam")]):
        seg = Segment(id=f"s{i}", start=s, end=e, prompt=prompt)
        f = p.cache_dir / f"{i}.wav"
        f.parent.mkdir(parents=True, exist_ok=True)
        write_wav(f, np.full(e - s, 0.1, np.float32), subtype="FLOAT")
        seg.takes.append(Take(id=f"t{i}", path=f, seed=i))
        seg.active_take = seg.takes[0].id
        p.segments.append(seg)
    p.segments[0].markers = [Marker(72000, "hit", 1.0, "user"),
                             Marker(105600, "footstep", 0.5, "auto")]
    out = tmp / "out"
    export_project(p, out, stems=(), takes="active",
                   timelines=("otio", "fcp7xml", "fcpxml", "edl", "aaf", "kdenlive"))
    # The markers' frames on the clip's timecode: 1.5 s and 2.2 s, and s1's first frame (4 s).
    return out, {"hit": TC0 + 37, "footstep": TC0 + 55, "door slam": TC0 + 100}


def take_markers(tl) -> dict[str, list]:
    """{take file stem: its markers} for the audio clips that are take files."""
    out: dict[str, list] = {}
    for track in tl.tracks:
        if track.kind != otio.schema.TrackKind.Audio:
            continue
        for c in track.find_clips():
            url = getattr(c.media_reference, "target_url", "") or ""
            name = Path(otio.url_utils.filepath_from_url(url)).stem if url else c.name
            if name.startswith("Walk_"):
                out.setdefault(name, []).extend(c.markers)
    return out


def read(path: Path, **kwargs):
    tl = otio.adapters.read_from_file(str(path), **kwargs)
    if isinstance(tl, otio.schema.SerializableCollection):
        tl = next(iter(tl.find_children(descended_from_type=otio.schema.Timeline)))
    return tl


def one(out: Path, pattern: str) -> Path:
    found = sorted(out.glob(pattern))
    assert len(found) == 1, (pattern, sorted(p.name for p in out.iterdir()))
    return found[0]


def frames(m, tc0: int = 0) -> int:
    return round(m.marked_range.start_time.rescaled_to(FPS).value) - tc0


def split(markers: dict[str, list]) -> tuple[list, list]:
    """(the spotted take's markers, the other take's)."""
    spotted = next(v for k, v in markers.items() if "_01" in k)
    other = next(v for k, v in markers.items() if "_02" in k)
    return spotted, other


def test_otio_markers_named_by_kind_coloured_by_source_with_strength(exported):
    out, at = exported
    spotted, other = split(take_markers(read(one(out, "*.otio"))))
    assert [(m.name, m.color, frames(m)) for m in spotted] == [
        ("hit", "YELLOW", at["hit"]), ("footstep", "CYAN", at["footstep"])]
    info = [m.metadata["foley_desktop"] for m in spotted]
    assert [(i["kind"], i["source"], i["strength"], i["prompt"]) for i in info] == [
        ("hit", "user", 1.0, PROMPT), ("footstep", "auto", 0.5, PROMPT)]
    assert "auto-spot marker, strength 0.50" in info[1]["comment"]
    # The take without spotting markers: its prompt, green, on its first frame.
    assert [(m.name, m.color, frames(m)) for m in other] == [
        ("door slam", "GREEN", at["door slam"])]


def test_fcp7_markers_named_by_kind_with_source_strength_and_prompt_in_the_comment(exported):
    out, at = exported
    spotted, other = split(take_markers(read(one(out, "*_fcp7.xml"))))
    # xmeml's marker `in` counts from the clip item's first frame (the take's, at 1 s).
    assert [(m.name, frames(m)) for m in spotted] == [("hit", at["hit"] - TC0 - 25),
                                                      ("footstep", at["footstep"] - TC0 - 25)]
    comments = [m.metadata["fcp_xml"]["comment"] for m in spotted]
    assert comments == [f"editor's marker, strength 1.00; prompt: {PROMPT}",
                        f"auto-spot marker, strength 0.50; prompt: {PROMPT}"]
    assert [m.name for m in other] == ["door slam"]


def test_edl_locators_carry_colour_kind_source_and_strength(exported):
    out, at = exported
    tl = read(one(out, "*_Foley1.edl"), rate=FPS)
    marks = [m for c in tl.find_clips() for m in c.markers]
    got = [(m.color, m.name, frames(m)) for m in marks]
    assert got == [("YELLOW", "hit (editor, strength 1.00)", at["hit"]),
                   ("CYAN", "footstep (auto-spot, strength 0.50)", at["footstep"]),
                   ("GREEN", "door slam", at["door slam"])]


def test_aaf_locators_coloured_with_source_and_strength_as_tagged_values(exported):
    out, at = exported
    tl = read(one(out, "*.aaf"))
    spotted, other = split(take_markers(tl))
    assert [(m.name, m.color, frames(m)) for m in spotted] == [
        ("hit", "YELLOW", at["hit"]), ("footstep", "CYAN", at["footstep"])]
    assert [(m.name, m.color, frames(m)) for m in other] == [("door slam", "GREEN", at["door slam"])]
    attrs = [m.metadata["AAF"]["CommentMarkerAttributeList"] for m in spotted]
    assert [(a["_ATN_CRM_COLOR"], a["FoleyDesktop_source"], a["FoleyDesktop_strength"],
             a["FoleyDesktop_prompt"]) for a in attrs] == [
        ("Yellow", "user", "1.0", PROMPT), ("Cyan", "auto", "0.5", PROMPT)]


def test_kdenlive_clip_markers_in_the_colour_categories(exported):
    """The OTIO Kdenlive adapter (deprecated) reads no tracks from a current Kdenlive project,
    so the markers' JSON is read from the XML and each category mapped to its colour by the
    adapter's own table of Kdenlive's default categories."""
    import json
    import xml.etree.ElementTree as ET

    from otio_kdenlive_adapter.adapters.kdenlive import marker_types

    out, _ = exported
    marks = {}
    for p in ET.parse(one(out, "*.kdenlive")).getroot().findall("producer"):
        props = {q.get("name"): q.text for q in p.findall("property")}
        if "kdenlive:markers" in props:
            marks[Path(props["resource"]).stem] = [
                (m["comment"], marker_types[m["type"]][0], m["pos"])
                for m in json.loads(props["kdenlive:markers"])]
    spotted, other = split(marks)
    assert spotted == [("hit (editor, strength 1.00)", "YELLOW", 12),   # 1.5 s, 1 s into the take
                       ("footstep (auto-spot, strength 0.50)", "CYAN", 30)]
    assert other == [("door slam", "GREEN", 0)]


def test_fcpxml_markers_named_by_kind_with_the_details_in_the_note(exported):
    out, _ = exported
    import xml.etree.ElementTree as ET

    # The fcpx adapter reads the names (its timing at 25 fps is checked in test_export_nle.py).
    spotted, other = split(take_markers(read(one(out, "*.fcpxml"))))
    assert [m.name for m in spotted] == ["hit", "footstep"]
    assert [m.name for m in other] == ["door slam"]
    notes = [m.get("note") for m in ET.parse(one(out, "*.fcpxml")).getroot().iter("marker")]
    assert notes[:2] == [f"editor's marker, strength 1.00; prompt: {PROMPT}",
                         f"auto-spot marker, strength 0.50; prompt: {PROMPT}"]
