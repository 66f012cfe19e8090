"""Timeline files read back through OpenTimelineIO, pycmx and their own XML: every take on its
frame, its file frame aligned around it, drop-frame timecode, alternates disabled."""

from __future__ import annotations

import itertools
import math
import os
import stat
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
import wavinfo

from foley_desktop.export.export import export_project
from foley_desktop.media.timebase import frames_to_timecode, timecode_to_frames
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
    """{take file stem: (track, range in track, source range, clip)} for every audio take."""
    out = {}
    for track in tl.tracks:
        if track.kind != otio.schema.TrackKind.Audio:
            continue
        for c in track.find_clips():
            if c.name.endswith(".wav") or getattr(c.media_reference, "target_url", "").endswith(".wav"):
                out[c.name.removesuffix(".wav")] = (track, c.range_in_parent(), c.source_range, c)
    return out


def frame_of(samples: int) -> int:
    """The frame containing `samples` (frame k starts at round(k * 1601.6))."""
    return math.ceil((Fraction(samples) + Fraction(1, 2)) * FPS / 48000) - 1


def frame_start(k: int) -> int:
    return math.floor(k * Fraction(48000) / FPS + Fraction(1, 2))


def seg_of(project, name):
    return project.segments[int(name.split("_")[1]) - 1]


def test_otio_places_every_take_on_its_frame_with_the_exact_sample_in_metadata(project, tmp_path):
    r = export_project(project, tmp_path / "out", stems=(), timelines=("otio",), takes="all")
    tl = otio.adapters.read_from_file(str(tmp_path / "out" / "Reel-1.otio"))
    assert tl.global_start_time.rate == pytest.approx(float(FPS))
    assert tl.global_start_time.value == 107892
    assert tl.global_start_time.to_timecode(float(FPS), True) == TC
    video = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video]
    assert len(video) == 1
    (vclip,) = video[0].find_clips()
    assert vclip.media_reference.target_url == project.media.as_uri()
    assert vclip.range_in_parent().duration.value == frame(48000 * 20)
    placed = takes_in(tl)
    files = {f.stem: f for f in r.files if f.suffix == ".wav"}
    assert set(placed) == set(files)  # every exported take is on the timeline
    assert len(placed) == 6
    for name, (track, rng, src, clip) in placed.items():
        seg = seg_of(project, name)
        meta = clip.metadata["foley_desktop"]
        k = frame_of(seg.start)
        assert rng.start_time.value == k  # on the frame holding the take's first sample
        assert meta["start_samples"] == seg.start and meta["length_samples"] == seg.length
        # The file starts on that frame and the take sits head samples into it.
        assert meta["file_start_samples"] == frame_start(k)
        assert meta["file_start_samples"] + meta["head_samples"] == seg.start
        assert src.start_time.value == 107892 + k  # the file's own timecode
        assert clip.media_reference.target_url == files[name].as_uri()
        # The file covers the take: it ends on the first frame boundary at or after its end.
        end = frame_start(k + rng.duration.value)
        assert end >= seg.end > frame_start(k + rng.duration.value - 1)
        alt = "_alt" in name
        assert track.enabled is (not alt) and clip.enabled is (not alt)
    # Overlapping segments went onto separate tracks; no track has overlapping items.
    for track in tl.tracks:
        ends = [(c.range_in_parent().start_time.value, c.range_in_parent().end_time_exclusive().value)
                for c in track.find_clips()]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))


def test_fcp7_xml_drop_frame_alternates_disabled_and_complete_clip_items(project, tmp_path):
    export_project(project, tmp_path / "out", stems=(), timelines=("fcp7xml",), takes="all")
    path = tmp_path / "out" / "Reel-1_fcp7.xml"
    tl = otio.adapters.read_from_file(str(path))
    placed = takes_in(tl)
    assert len(placed) == 6
    for name, (track, rng, src, _clip) in placed.items():
        seg = seg_of(project, name)
        assert rng.start_time.rate == pytest.approx(float(FPS))
        assert rng.start_time.value == frame_of(seg.start)
        assert src.start_time.value == 107892 + frame_of(seg.start)
        assert track.name.startswith("Foley alt" if "_alt" in name else "Foley ")
    (vclip,) = [c for t in tl.tracks if t.kind == otio.schema.TrackKind.Video for c in t.find_clips()]
    assert vclip.range_in_parent().duration.value == frame(48000 * 20)
    # What the adapter does not read, read from the XML itself.
    root = ET.parse(path).getroot()
    seq = root.find("sequence")
    assert seq.findtext("timecode/string") == "01:00:00;00"
    assert seq.findtext("timecode/displayformat") == "DF" and seq.findtext("timecode/frame") == "107892"
    assert seq.findtext("rate/timebase") == "30" and seq.findtext("rate/ntsc") == "TRUE"
    tracks = seq.findall("media/audio/track")
    names = [t.get("MZ.TrackName") for t in tracks]
    assert names == ["A1 clip audio", "Foley 1", "Foley 2", "Foley alt 1"]
    for t in tracks:
        alt = t.get("MZ.TrackName").startswith("Foley alt")
        assert t.findtext("enabled") == ("FALSE" if alt else "TRUE")
        for ci in t.findall("clipitem"):
            assert ci.findtext("enabled") == ("FALSE" if alt else "TRUE")
            assert len(ci.findall("rate")) == 1
            assert ci.findtext("sourcetrack/mediatype") == "audio"
    files = {f.get("id"): f for f in root.iter("file") if f.find("pathurl") is not None}
    for f in files.values():  # every file is fully described where it is defined
        assert f.findtext("timecode/displayformat") == "DF"
        if f.findtext("name").endswith(".wav"):
            assert f.findtext("media/audio/samplecharacteristics/samplerate") == "48000"
            assert f.findtext("media/audio/samplecharacteristics/depth") == "24"
            assert f.findtext("media/audio/channelcount") == "1"
            # The take file's own timecode, drop-frame, at or after the clip's start.
            assert int(f.findtext("timecode/frame")) >= 107892
            assert ";" in f.findtext("timecode/string")
    for ref in root.iter("file"):  # and every reference points at one
        assert ref.get("id") in files
    # The clip's picture and its audio are linked both ways.
    v = seq.find("media/video/track/clipitem")
    a = tracks[0].find("clipitem")
    assert {ln.findtext("linkclipref") for ln in v.findall("link")} == {v.get("id"), a.get("id")}
    assert {ln.findtext("linkclipref") for ln in a.findall("link")} == {v.get("id"), a.get("id")}
    # The prompt rides on each take as a clip marker.
    markers = [m.findtext("comment") for m in tracks[1].iter("marker")]
    assert markers and all(m.startswith("sound ") for m in markers)


def test_edl_unique_reels_fcm_and_source_inside_the_files(project, tmp_path):
    import pycmx

    r = export_project(project, tmp_path / "out", stems=(), timelines=("edl",))
    edls = sorted(f for f in r.files if f.suffix == ".edl")
    assert [f.name for f in edls] == ["Reel-1_Foley1.edl", "Reel-1_Foley2.edl"]
    files = {f.name: f for f in r.files if f.suffix == ".wav"}
    reels, seen = set(), 0
    for f in edls:
        text = f.read_text()
        assert "\nFCM: DROP FRAME" in text.replace("\r", "")
        with open(f) as fh:
            edl = pycmx.parse_cmx3600(fh)
        for event in edl.events:
            for e in event.edits:
                assert e.source not in reels  # reel names never collide
                reels.add(e.source)
                wav = files[e.clip_name]
                assert e.source_file == str(wav)
                seg = seg_of(project, wav.stem)
                k = frame_of(seg.start)
                assert e.source_in == e.record_in == frames_to_timecode(107892 + k, FPS, True)
                # Source out is the file's last frame boundary: the file holds every frame named.
                n = wavinfo.WavInfoReader(str(wav)).data.frame_count
                assert timecode_to_frames(e.source_out, FPS) - timecode_to_frames(e.source_in, FPS) \
                    == round(n * FPS / 48000)
                seen += 1
        tl = otio.adapters.read_from_file(str(f), rate=float(FPS))
        for name, (_track, _rng, _src, clip) in takes_in(tl).items():
            assert clip.media_reference.target_url == str(files[name + ".wav"])
    assert seen == len(project.segments)


def test_without_a_frame_rate_timelines_are_omitted_with_a_note(project, tmp_path):
    project.media_info["fps"] = None
    r = export_project(project, tmp_path / "out", stems=(), timelines=("fcp7xml", "otio"))
    assert "timeline files omitted: the clip has no frame rate" in r.notes
    assert all(f.suffix == ".wav" for f in r.files)


def test_relative_output_folder_and_readable_files(project, tmp_path, monkeypatch):
    """`-o out` (relative) works with timelines (they hold absolute file URLs), and exported
    files follow the umask like any other file the user writes."""
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        r = export_project(project, "rel/out", stems=("foley",), timelines=("otio", "fcp7xml"))
    finally:
        os.umask(old)
    assert all(f.is_absolute() and f.parent == tmp_path / "rel" / "out" for f in r.files)
    for f in r.files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f.name
    tl = otio.adapters.read_from_file(str(tmp_path / "rel" / "out" / "Reel-1.otio"))
    for (_, _, _, clip) in takes_in(tl).values():
        assert clip.media_reference.target_url.startswith("file:///")


def test_markers_and_library_sources_travel_with_the_takes(project, tmp_path):
    """Spotting markers become OTIO clip markers at their frames (media time of the take, as an
    NLE shows them), named by their kind, with their source and strength; a library take's iXML note and the clip's
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
    # At the clip's rate: the markers' frames, in the take's media time (its timecode).
    assert marks == [(107892 + frame_of(320000), "hit"), (107892 + frame_of(400000), "footstep")]
    # Whose each is and how strong: the editor's yellow, auto-spot's cyan; the prompt kept.
    assert [m.color for m in clip.markers] == ["YELLOW", "CYAN"]
    info = [dict(m.metadata["foley_desktop"]) for m in clip.markers]
    assert [(i["source"], i["strength"], i["prompt"]) for i in info] == [
        ("user", 1.0, "metal clang on a table"), ("auto", 0.5, "metal clang on a table")]
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


def test_cli_export_with_a_relative_folder(project, tmp_path, monkeypatch):
    """The README's `foley-desktop export P.foley -o DIR` with a relative DIR and timelines."""
    from foley_desktop.cli import main
    from foley_desktop.project.io import save

    save(project)
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(project.path), "-o", "exports", "--stems", "",
                 "--timeline", "otio,fcp7xml,fcpxml,edl,aaf,kdenlive"]) == 0
    names = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert {"Reel-1.otio", "Reel-1_fcp7.xml", "Reel-1.fcpxml", "Reel-1.aaf", "Reel-1.kdenlive",
            "Reel-1_Foley1.edl"} <= set(names)


def test_takes_carry_the_fx_stems_gain_so_timelines_play_what_the_stem_holds(project, tmp_path):
    """Loud overlapping takes make the FX stem come down for headroom; the take files come down
    by the same gain, so the FX stem rebuilt from the OTIO timeline alone is the stem."""
    import soundfile as sf

    from foley_desktop.media.wav import write_wav as ww

    for seg in project.segments[1:3]:  # 24000-96000 and 96000-100003 overlap segment 0 / 1
        f = seg.takes[0].path
        n = seg.length
        ww(f, (0.8 * np.sin(np.arange(n) * 2 * np.pi * 440 / 48000)).astype(np.float32), subtype="FLOAT")
    ww(project.segments[0].takes[0].path,
       (0.8 * np.sin(np.arange(project.segments[0].length) * 2 * np.pi * 440 / 48000 + 0.3))
       .astype(np.float32), subtype="FLOAT")
    r = export_project(project, tmp_path / "out", stems=("foley",), timelines=("otio",))
    assert any(n.startswith("FX stem turned down -") for n in r.notes)
    assert any(n.startswith("take files written at the FX stem's gain") for n in r.notes)
    fx, _ = sf.read(str(tmp_path / "out" / "Reel-1_FX_48k24.wav"), dtype="float64", always_2d=True)
    fx = fx[:, 0]
    tl = otio.adapters.read_from_file(str(tmp_path / "out" / "Reel-1.otio"))
    rebuilt = np.zeros_like(fx)
    gains = set()
    for _track, rng, _src, clip in takes_in(tl).values():
        path = otio.url_utils.filepath_from_url(clip.media_reference.target_url)
        data, _ = sf.read(path, dtype="float64")
        at = frame_start(rng.start_time.value)
        rebuilt[at:at + len(data)] += data[:len(fx) - at]
        gains.add(clip.metadata["foley_desktop"]["gain_db"])
    (gain,) = gains
    assert gain < -1.0
    # 24-bit files: the rebuilt sum of rounded takes is within a few LSB of the rounded sum.
    np.testing.assert_allclose(rebuilt, fx, atol=4 / 2**23)
    assert np.abs(fx).max() > 0.5
