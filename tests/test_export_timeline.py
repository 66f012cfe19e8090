"""Timeline files read back through OpenTimelineIO: every item's start and duration survive."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest

from foley_desktop.errors import ExportError
from foley_desktop.export.export import export_project
from foley_desktop.media.wav import write_wav
from foley_desktop.project.model import Project, Segment, Take

FPS = Fraction(30000, 1001)
TC = "01:00:00;00"  # drop-frame start timecode
# 01:00:00;00 at 29.97 drop-frame is frame 107892; its first sample, rounded to nearest.
TREF = math.floor(107892 * Fraction(48000) / FPS + Fraction(1, 2))


def frame(samples: int) -> int:
    return math.floor(Fraction(samples) * FPS / 48000 + Fraction(1, 2))


@pytest.fixture
def project(tmp_path) -> Project:
    clip = tmp_path / "shot 12.mov"
    clip.write_bytes(b"timeline tests never decode the clip")
    p = Project(media=clip, media_info={"duration_samples": 48000 * 20, "fps": "30000/1001",
                                        "timecode": TC, "drop_frame": True, "audio_channels": 2},
                name="Reel 1", path=tmp_path / "p.foley")
    spans = [(1001, 48000), (24000, 96000), (96000, 100003), (300017, 500000), (499999, 960000)]
    for i, (s, e) in enumerate(spans):
        seg = Segment(id=f"s{i}", start=s, end=e, prompt=f"sound {i}")
        for k in range(2 if i == 1 else 1):
            f = p.cache_dir / f"{i}-{k}.wav"
            f.parent.mkdir(parents=True, exist_ok=True)
            write_wav(f, np.full(e - s, 0.1, np.float32), subtype="FLOAT")
            seg.takes.append(Take(id=f"t{i}{k}", path=f, seed=10 * i + k))
        seg.active_take = seg.takes[0].id
        p.segments.append(seg)
    return p


def takes_in(tl) -> dict[str, tuple]:
    """{take file stem: (track name, range in track, source range)} for every audio take."""
    out = {}
    for track in tl.tracks:
        if track.kind != otio.schema.TrackKind.Audio:
            continue
        for c in track.find_clips():
            if c.media_reference.target_url.endswith(".wav"):
                out[c.name] = (track, c.range_in_parent(), c.source_range)
    return out


def test_otio_places_every_take_to_the_sample(project, tmp_path):
    r = export_project(project, tmp_path / "out", stems=(), timelines=("otio",), takes="all")
    tl = otio.adapters.read_from_file(str(tmp_path / "out" / "Reel-1.otio"))
    assert tl.global_start_time.rate == 48000 and tl.global_start_time.value == TREF == 172799827
    video = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video]
    assert len(video) == 1
    (vclip,) = video[0].find_clips()
    assert vclip.media_reference.target_url == project.media.as_uri()
    assert vclip.range_in_parent().duration.to_seconds() == 20
    placed = takes_in(tl)
    files = {f.stem: f for f in r.files if f.suffix == ".wav"}
    assert set(placed) == set(files)  # every exported take is on the timeline
    assert len(placed) == 6
    for name, (track, rng, src) in placed.items():
        seg = project.segments[int(name.split("_")[1]) - 1]
        assert rng.start_time.rate == 48000
        assert rng.start_time.value == seg.start
        assert rng.duration.value == seg.length
        assert src.start_time.value == TREF + seg.start  # the file's own TC
        alt = "_alt" in name
        assert track.enabled is (not alt)
    # Overlapping segments went onto separate tracks; no track has overlapping items.
    for track in tl.tracks:
        ends = [(c.range_in_parent().start_time.value, c.range_in_parent().end_time_exclusive().value)
                for c in track.find_clips()]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))


def test_fcp7_xml_round_trip_keeps_every_time_to_the_frame(project, tmp_path):
    export_project(project, tmp_path / "out", stems=(), timelines=("fcp7xml",))
    tl = otio.adapters.read_from_file(str(tmp_path / "out" / "Reel-1_fcp7.xml"))
    placed = takes_in(tl)
    assert len(placed) == len(project.segments)
    for name, (track, rng, src) in placed.items():
        seg = project.segments[int(name.split("_")[1]) - 1]
        assert rng.start_time.rate == pytest.approx(float(FPS))
        assert rng.start_time.value == frame(seg.start)
        assert rng.duration.value == frame(seg.end) - frame(seg.start)
    (vclip,) = [c for t in tl.tracks if t.kind == otio.schema.TrackKind.Video for c in t.find_clips()]
    assert vclip.range_in_parent().duration.value == frame(48000 * 20)


def test_edl_one_list_per_foley_track_with_timecode_record_times(project, tmp_path):
    r = export_project(project, tmp_path / "out", stems=(), timelines=("edl",))
    edls = sorted(f for f in r.files if f.suffix == ".edl")
    assert [f.name for f in edls] == ["Reel-1_Foley1.edl", "Reel-1_Foley2.edl"]
    seen = 0
    for f in edls:
        text = f.read_text()
        assert "01:00:0" in text  # record times are the clip's timecode, not zero-based
        tl = otio.adapters.read_from_file(str(f), rate=float(FPS))
        placed = takes_in(tl)
        first = None
        for name, (track, rng, src) in sorted(placed.items(), key=lambda kv: kv[1][1].start_time.value):
            seg = project.segments[int(name.split("_")[1]) - 1]
            tc0 = 107892
            assert src.start_time.value == tc0 + frame(seg.start)  # source in = the take's TC
            assert rng.duration.value == frame(seg.end) - frame(seg.start)
            if first is None:
                first = (rng.start_time.value, seg)
            # Record positions relative to the list's first event match the segments'.
            assert rng.start_time.value - first[0] == frame(seg.start) - frame(first[1].start)
            seen += 1
    assert seen == len(project.segments)


def test_frame_formats_need_a_frame_rate(project, tmp_path):
    project.media_info["fps"] = None
    with pytest.raises(ExportError, match="frame rate"):
        export_project(project, tmp_path / "out", stems=(), timelines=("fcp7xml",))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_markers_and_library_sources_travel_with_the_takes(project, tmp_path):
    """Spotting markers become OTIO clip markers at their frames (media time of the take, as an
    NLE shows them), the first one naming the prompt; a library take's iXML note and the clip's
    metadata list the recordings it was made of (read back with wavinfo, an independent reader)."""
    import wavinfo

    from foley_desktop.spotting.markers import Marker

    seg = project.segments[3]
    seg.markers = [Marker(320000, "hit", 1.0), Marker(400000, "footstep", 0.5, "auto"),
                   Marker(900000)]  # the last lies outside the segment: not exported
    take = seg.takes[0]
    take.mode = "library"
    take.params = {"prompt": "metal clang on a table"}
    take.sources = [{"file": "/lib/METLImpt_Clang_XX_01.wav", "offset_s": 0.5, "at": 320000,
                     "credit": "A. Recordist, CC-BY"}]
    r = export_project(project, tmp_path / "out", stems=(), timelines=("otio",), takes="active")
    tl = otio.adapters.read_from_file(str(tmp_path / "out" / "Reel-1.otio"))
    clip = next(c for track in tl.tracks for c in track.find_clips()
                if c.name.startswith("Reel-1_04"))
    marks = [(m.marked_range.start_time.value, m.name) for m in clip.markers]
    assert marks == [(TREF + 320000, "hit: metal clang on a table"), (TREF + 400000, "footstep")]
    # The markers fall inside the clip's own source range: they show on the take.
    src = clip.source_range
    assert all(src.start_time.value <= v < src.end_time_exclusive().value for v, _ in marks)
    meta = clip.metadata["foley_desktop"]
    assert meta["mode"] == "library" and list(meta["sources"]) == ["/lib/METLImpt_Clang_XX_01.wav"]
    wav = next(f for f in r.files if f.name.startswith("Reel-1_04") and f.suffix == ".wav")
    info = wavinfo.WavInfoReader(str(wav))
    note = info.ixml.raw_xml.find("./NOTE").text
    assert "library take" in note and "METLImpt_Clang_XX_01.wav" in note
    assert "A. Recordist, CC-BY" in note and "markers=2" in note
    assert info.bext.description.endswith("metal clang on a table")
