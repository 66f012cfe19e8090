"""BWF writer read back by independent readers: wavinfo (metadata), soundfile and wave (samples)."""

from __future__ import annotations

import struct
import wave
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
import wavinfo

from foley_desktop.export.bwf import Bext, IXml, coding_history, write_bwf
from foley_desktop.media.decode import read_audio


def noise(channels, n, seed=0):
    return np.random.default_rng(seed).uniform(-0.99, 0.99, (channels, n)).astype(np.float32)


@pytest.mark.parametrize("channels, n", [(1, 4801), (2, 48000), (3, 17)])
def test_pcm24_samples_and_metadata(tmp_path, channels, n):
    a = noise(channels, n)
    tref = 3600 * 48000  # 01:00:00:00
    f = write_bwf(tmp_path / "x.wav", a, subtype="PCM_24",
                  bext=Bext(description="FX stem", time_reference=tref,
                            coding_history=coding_history("PCM_24", 48000, channels)),
                  ixml=IXml(project="Demo", scene="clip", take="2", note="model tiny int8 seed 7",
                            timecode_rate=Fraction(30000, 1001), drop_frame=True,
                            time_reference=tref))
    info = wavinfo.WavInfoReader(str(f))
    assert info.fmt.sample_rate == 48000
    assert info.fmt.bits_per_sample == 24
    assert info.fmt.channel_count == channels
    assert info.data.frame_count == n
    assert info.bext.description == "FX stem"
    assert info.bext.originator == "Foley Desktop"
    assert info.bext.originator_ref.startswith("FOLEYDSK")
    assert info.bext.time_reference == tref
    assert "W=24" in info.bext.coding_history
    assert len(info.bext.originator_date) == 10 and len(info.bext.originator_time) == 8
    assert (info.ixml.project, info.ixml.scene, info.ixml.take) == ("Demo", "clip", "2")
    xml = info.ixml.raw_xml
    assert xml.find("./NOTE").text == "model tiny int8 seed 7"
    assert xml.find("./SPEED/TIMECODE_RATE").text == "30000/1001"
    assert xml.find("./SPEED/TIMECODE_FLAG").text == "DF"
    assert int(xml.find("./SPEED/TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO").text) == tref
    data, sr = sf.read(str(f), always_2d=True, dtype="float64")
    assert sr == 48000 and data.shape == (n, channels)
    # 24-bit quantisation: within half a code step.
    assert np.abs(data.T - a).max() <= 0.5 / 8388608 + 1e-9
    if channels <= 2:  # the standard library reads plain PCM only
        with wave.open(str(f)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (channels, 3, 48000, n)
            raw = np.frombuffer(w.readframes(n), np.uint8).reshape(-1, 3)
        ints = raw[:, 0].astype(np.int32) | (raw[:, 1].astype(np.int32) << 8) | (raw[:, 2].astype(np.int32) << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        assert np.array_equal(ints.reshape(n, channels).T, np.rint(a.astype(np.float64) * 8388608).astype(np.int32))


def test_float32_is_bit_exact(tmp_path):
    a = noise(2, 12345) * 3  # float keeps values past full scale
    f = write_bwf(tmp_path / "f.wav", a, subtype="FLOAT", bext=Bext())
    info = wavinfo.WavInfoReader(str(f))
    assert info.fmt.audio_format == 3 and info.fmt.bits_per_sample == 32
    data, _ = sf.read(str(f), always_2d=True, dtype="float32")
    assert np.array_equal(data.T, a)
    assert np.array_equal(read_audio(f), a)  # what stems use to read takes back


def test_pcm24_clips_instead_of_wrapping(tmp_path):
    a = np.array([[2.0, -2.0, 1.0, -1.0]], np.float32)
    data, _ = sf.read(str(write_bwf(tmp_path / "c.wav", a)), dtype="float64")
    assert data.tolist() == [8388607 / 8388608, -1.0, 8388607 / 8388608, -1.0]


@pytest.mark.parametrize("subtype", ["PCM_24", "FLOAT"])
def test_rf64_switch_past_threshold(tmp_path, subtype):
    a = noise(2, 3000)
    small = write_bwf(tmp_path / "small.wav", a, subtype=subtype, bext=Bext(), rf64_threshold=10**6)
    big = write_bwf(tmp_path / "big.wav", a, subtype=subtype, bext=Bext(time_reference=5),
                    ixml=IXml(project="p"), rf64_threshold=1000)
    assert small.read_bytes()[:4] == b"RIFF"
    raw = big.read_bytes()
    assert raw[:4] == b"RF64" and raw[4:8] == b"\xff\xff\xff\xff"
    assert raw[12:16] == b"ds64"
    riff, data_size, frames = struct.unpack("<QQQ", raw[20:44])
    assert riff == len(raw) - 8
    assert frames == 3000 and data_size == 3000 * 2 * (3 if subtype == "PCM_24" else 4)
    info = wavinfo.WavInfoReader(str(big))
    assert info.data.frame_count == 3000
    assert info.bext.time_reference == 5 and info.ixml.project == "p"
    assert sf.info(str(big)).format == "RF64"
    d_big, _ = sf.read(str(big), always_2d=True, dtype="float32")
    d_small, _ = sf.read(str(small), always_2d=True, dtype="float32")
    assert np.array_equal(d_big, d_small)
    assert np.array_equal(read_audio(big), read_audio(small))


def test_odd_sized_data_is_padded(tmp_path):
    f = write_bwf(tmp_path / "o.wav", noise(1, 3))  # 9 bytes of audio
    assert f.stat().st_size % 2 == 0
    assert wavinfo.WavInfoReader(str(f)).data.frame_count == 3
    assert sf.read(str(f))[0].shape == (3,)



@pytest.mark.parametrize("note", ["x", "xy", "x" * 301])
def test_rf64_with_odd_sized_metadata_reads_in_libsndfile(tmp_path, note):
    # libsndfile's RF64 reader does not skip RIFF pad bytes: metadata chunks are kept even.
    f = write_bwf(tmp_path / "r.wav", noise(2, 3000), bext=Bext(coding_history="A" * len(note)),
                  ixml=IXml(note=note), rf64_threshold=1000)
    assert sf.info(str(f)).frames == 3000
    assert wavinfo.WavInfoReader(str(f)).ixml.raw_xml.find("./NOTE").text == note


def test_ixml_user_carries_a_take_record(tmp_path):
    """What made a take, as iXML USER lines read back by wavinfo (nested values flattened)."""
    from foley_desktop.export.bwf import provenance_lines

    record = {"prompt": "door slam", "negative": None, "steps": 8, "model": "foley-tiny",
              "model_hash": "0123456789abcdef", "pinned": ["a.wav", "b.wav"],
              "effective": {"guidance": 4.5, "sampler": "euler"}, "engine_version": "0.1.0"}
    path = tmp_path / "t.wav"
    write_bwf(path, noise(1, 4800), ixml=IXml(project="p", note="n", user=record))
    import xml.etree.ElementTree as ET

    user = ET.fromstring(wavinfo.WavInfoReader(str(path)).ixml.source).find("USER").text
    assert user.splitlines() == provenance_lines(record)
    assert "model_hash: 0123456789abcdef" in user and "effective.guidance: 4.5" in user
    assert "pinned: a.wav, b.wav" in user and "negative: " in user


def test_export_names_the_prompt_that_made_the_take(clip_hello, tmp_path):
    """A take made from "door slam" keeps that name in its file and in the FX stem's notes
    after the segment's prompt was changed (and no new take made)."""
    from foley_desktop.export.export import export_project
    from foley_desktop.media.wav import write_wav
    from foley_desktop.project.io import new_project, save
    from foley_desktop.project.model import Segment, Take

    p = new_project(clip_hello)
    save(p, tmp_path / "p.foley")
    seg = Segment(id="s0", start=48000, end=96000, prompt="creaky hinge")
    f = p.cache_dir / "takes" / "s0" / "t.wav"
    f.parent.mkdir(parents=True)
    write_wav(f, noise(1, 48000)[0] * 0.1, subtype="FLOAT")
    seg.takes.append(Take(id="t", path=f, seed=7, model="foley-tiny", version="1",
                          params={"prompt": "door slam", "negative": "music"}))
    seg.active_take = "t"
    p.segments.append(seg)
    r = export_project(p, tmp_path / "out", stems=("foley",), timelines=())
    names = sorted(x.name for x in r.files)
    assert any("_01_door-slam_s7_" in n for n in names), names
    assert not any("creaky" in n for n in names)
    take = next(x for x in r.files if "_01_" in x.name)
    import xml.etree.ElementTree as ET

    info = wavinfo.WavInfoReader(str(take))
    note = ET.fromstring(info.ixml.source).find("NOTE").text
    assert "door slam" in info.bext.description and "negative=music" in note
    assert seg.prompt == "creaky hinge"     # the project itself is not changed
