"""Library metadata: UCS names, BWF bext/iXML (the project's writer and a hand-made file),
FLAC/OGG tags, and bad files skipped with a reason."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from foley_desktop.export.bwf import Bext, IXml, write_bwf
from foley_desktop.library.metadata import SkipFile, read_metadata
from foley_desktop.library.naming import content_words, parse_ucs, split_words

MEDIA = Path(os.environ.get("FOLEY_MEDIA_DIR", Path.home() / ".cache/foley-desktop/media")) / "root"
SOUNDS = MEDIA / "usr/share/games/minetest/games/minetest_game/mods/default/sounds"


def _need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"test media missing: {p} (scripts/fetch_test_media.sh)")
    return p


def _tone(seconds=0.5, sr=48000, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.tile(x, (channels, 1))


def test_ucs_names():
    u = parse_ucs("DOORWood_Heavy Oak Door Slam_JDOE_CityLib_take2")
    assert (u.cat_id, u.category, u.subcategory) == ("DOORWood", "doors", "wood")
    assert (u.fx_name, u.creator_id, u.source_id, u.user_data) == ("heavy oak door slam", "JDOE", "CityLib", "take2")
    u = parse_ucs("METLImpt_PipeHitHard_AB_SFXCO")
    assert (u.category, u.subcategory, u.fx_name) == ("metal", "impact", "pipe hit hard")
    u = parse_ucs("WATRDrip_Cave Drips_XY_LIB")
    assert (u.category, u.subcategory) == ("water", "drip")
    assert parse_ucs("AMBRoom_Quiet Office_XY_LIB").subcategory == "room tone"
    # FOOT is read as FEET's alias; a user category after "-" is allowed.
    u = parse_ucs("FOOTStep-Gravel_Boots On Gravel_XY_LIB")
    assert (u.cat_id, u.category, u.subcategory) == ("FOOTStep", "footsteps", "steps")
    # Unknown prefix: UCS only with all four fields; the raw parts still give words.
    u = parse_ucs("ZZZQWert_Strange Thing_XY_LIB")
    assert u is not None and u.category is None and u.subcategory == "wert"
    assert parse_ucs("ZZZQWert_Strange Thing_XY") is None
    # Names that are not UCS.
    for stem in ("default_gravel_footstep.1", "DoorCreak", "Door_Close_01", "crowd01", "a_b"):
        assert parse_ucs(stem) is None, stem


def test_words_from_names():
    assert split_words("DoorCreak") == ["door", "creak"]
    assert split_words("default_gravel_footstep.2") == ["default", "gravel", "footstep"]
    assert split_words("METLImpt_HeavyPipe-02") == ["metl", "impt", "heavy", "pipe"]
    assert content_words("default_gravel_footstep.2") == ["gravel", "footstep"]


def test_bwf_written_by_the_project(tmp_path):
    path = tmp_path / "take.wav"
    write_bwf(path, _tone(0.75, channels=2), sr=48000,
              bext=Bext(description="heavy door slam, oak, close perspective"),
              ixml=IXml(project="Reel 3", scene="12A", note="slam with rattle"))
    m = read_metadata(path)
    assert (m.format, m.channels, m.sample_rate) == ("WAV", 2, 48000)
    assert m.duration_s == pytest.approx(0.75, abs=1e-6)
    assert m.description == "heavy door slam, oak, close perspective"
    assert "slam with rattle" in m.tags and "12A" in m.tags
    # The same file read by an independent reader agrees on the audio.
    info = sf.info(str(path))
    assert (info.channels, info.samplerate, info.frames) == (2, 48000, 36000)


def test_rf64_written_by_the_project(tmp_path):
    path = tmp_path / "long.wav"
    write_bwf(path, _tone(0.2), sr=48000, bext=Bext(description="rf64 room tone"), rf64_threshold=1000)
    assert path.read_bytes()[:4] == b"RF64"
    m = read_metadata(path)
    assert m.format == "RF64" and m.description == "rf64 room tone"
    assert m.duration_s == pytest.approx(0.2, abs=1e-6)


def _chunk(ident: bytes, body: bytes) -> bytes:
    return ident + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def test_bext_and_ixml_in_a_hand_made_file(tmp_path):
    """A WAV written by libsndfile, with bext and iXML chunks spliced in by hand (as other
    recorders place them: after fmt, before data), read back."""
    plain = tmp_path / "plain.wav"
    sf.write(str(plain), _tone(0.4, sr=44100)[0], 44100, subtype="PCM_16")
    raw = plain.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    bext = b"Rain on a tin roof, heavy".ljust(256, b"\0") + b"Field Rec".ljust(32, b"\0") + b"\0" * 314
    ixml = (b'<?xml version="1.0"?><BWFXML><NOTE>recorded under the carport</NOTE>'
            b"<SCENE>ext night</SCENE></BWFXML>")
    chunks, pos = [], 12
    while pos < len(raw):
        ident, n = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        chunks.append((ident, raw[pos + 8:pos + 8 + n]))
        pos += 8 + n + (n & 1)
    body = b"WAVE"
    for ident, data in chunks:
        if ident == b"data":
            body += _chunk(b"bext", bext) + _chunk(b"iXML", ixml)
        body += _chunk(ident, data)
    made = tmp_path / "made.wav"
    made.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    m = read_metadata(made)
    assert m.description == "Rain on a tin roof, heavy"
    assert "recorded under the carport" in m.tags and "ext night" in m.tags
    assert (m.sample_rate, m.channels) == (44100, 1)
    assert m.duration_s == pytest.approx(0.4, abs=1e-4)
    assert sf.info(str(made)).frames == int(0.4 * 44100)   # still a valid WAV for others


def test_flac_and_ogg_tags(tmp_path):
    for fmt, ext in (("FLAC", "flac"), ("OGG", "ogg"), ("AIFF", "aiff")):
        path = tmp_path / f"x.{ext}"
        with sf.SoundFile(str(path), "w", 48000, 1, format=fmt) as f:
            f.title = "Wind through pines"
            f.comment = "gusty, distant"
            f.genre = "ambience"
            f.write(_tone(0.3)[0])
        m = read_metadata(path)
        assert m.format == fmt
        assert m.title == "Wind through pines"
        if fmt != "AIFF":          # libsndfile writes only the title into AIFF
            assert m.description == "gusty, distant" and "ambience" in m.tags
        assert m.duration_s == pytest.approx(0.3, abs=1e-3)


def test_real_recordings():
    m = read_metadata(_need(SOUNDS / "default_gravel_footstep.1.ogg"))
    assert (m.format, m.channels, m.sample_rate) == ("OGG", 1, 44100)
    assert m.duration_s == pytest.approx(sf.info(str(m.path)).duration, abs=1e-6)
    mp3 = _need(MEDIA / "usr/share/scratch/Media/Sounds/Effects/DoorClose.mp3")
    m = read_metadata(mp3)
    assert m.format == "MP3" and 2.0 < m.duration_s < 3.5
    # Its ID3 genre is the number "(12)" / "Other" and its artist a person: neither describes
    # the sound, so neither becomes a search word.
    assert all(t not in ("(12)", "jay silver") for t in m.tags)


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    cases = {}
    (tmp_path / "empty.wav").write_bytes(b"")
    cases["empty.wav"] = "empty"
    good = tmp_path / "good.wav"
    write_bwf(good, _tone(1.0), sr=48000)
    (tmp_path / "truncated.wav").write_bytes(good.read_bytes()[:20000])
    cases["truncated.wav"] = "truncated"
    (tmp_path / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    cases["notes.wav"] = "not a readable audio file"
    (tmp_path / "folder.wav").mkdir()
    cases["folder.wav"] = "is a folder"
    (tmp_path / "nofmt.wav").write_bytes(b"RIFF" + struct.pack("<I", 12) + b"WAVE" + _chunk(b"data", b"\0" * 4))
    cases["nofmt.wav"] = "no fmt chunk"
    for name, why in cases.items():
        with pytest.raises(SkipFile, match=why):
            read_metadata(tmp_path / name)
    with pytest.raises(SkipFile, match="too large"):
        read_metadata(good, max_bytes=1000)
    with pytest.raises(SkipFile, match="vanished"):
        read_metadata(tmp_path / "gone.wav")
