"""probe() against ffprobe (an independent reader) on real clips, and on synthetic clips."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from media_factory import cfr_pts, write_audio, write_video

from foley_desktop.media.probe import probe


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json",
                          str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _stream(d: dict, kind: str) -> dict:
    return next(s for s in d["streams"] if s["codec_type"] == kind)


def _rotation(s: dict) -> int:
    for sd in s.get("side_data_list", []):
        if "rotation" in sd:
            return int(sd["rotation"])
    return 0


@pytest.mark.parametrize("clip", ["clip_hello", "clip_phone", "clip_tank"])
def test_real_clips_match_ffprobe(clip, request):
    path = request.getfixturevalue(clip)
    info = probe(path)
    ref = ffprobe(path)
    v, a = _stream(ref, "video"), _stream(ref, "audio")
    assert info.video.codec == v["codec_name"] == "h264"
    assert (info.video.width, info.video.height) == (v["width"], v["height"])
    assert info.video.fps == Fraction(v["r_frame_rate"])
    assert info.video.avg_fps == Fraction(v["avg_frame_rate"])
    assert info.video.frame_count == int(v["nb_frames"])
    assert info.video.time_base == Fraction(v["time_base"])
    assert info.video.start_time == Fraction(v["start_pts"]) * Fraction(v["time_base"])
    assert info.video.duration == Fraction(v["duration_ts"]) * Fraction(v["time_base"])
    assert info.video.rotation == -_rotation(v) % 360
    assert info.video.pix_fmt == v["pix_fmt"]
    assert info.audio.codec == a["codec_name"] == "aac"
    assert info.audio.sample_rate == int(a["sample_rate"])
    assert info.audio.channels == a["channels"]
    assert info.audio.layout == a["channel_layout"]
    assert info.audio.start_time == Fraction(a["start_pts"]) * Fraction(a["time_base"])
    # Audio time base is 1/sample_rate in these files, so duration_ts is the sample count.
    assert info.audio.sample_count == int(a["duration_ts"])
    assert info.start_time == pytest.approx(float(ref["format"]["start_time"]), abs=1e-6)
    # The system ffprobe (FFmpeg 5.1) and PyAV's FFmpeg 8 compute the container duration
    # differently when edit lists shift a stream (clip_hello: 8.320 vs 8.329 s): a frame apart.
    assert float(info.duration) == pytest.approx(float(ref["format"]["duration"]), abs=1 / 30)
    assert info.size_bytes == int(ref["format"]["size"])
    assert info.timecode is None and "timecode" not in json.dumps(ref)


def test_frame_rate_kinds(clip_hello, clip_phone, clip_tank):
    assert probe(clip_phone).video.is_vfr  # phone: one 185 ms frame, then 33.3 ms frames
    assert not probe(clip_tank).video.is_vfr
    assert probe(clip_tank).video.fps == 30
    # clip_hello's frames are evenly spaced at 30 fps; only its edit list makes avg_frame_rate odd.
    assert not probe(clip_hello).video.is_vfr
    assert probe(clip_hello).audio.channels == 2 and probe(clip_tank).audio.channels == 1


def test_synthetic_vfr_rotation_timecode(tmp_path):
    vfr = write_video(tmp_path / "vfr.mkv", [0, 40, 80, 200, 240, 600], Fraction(1, 1000),
                      fps_hint=Fraction(25))
    info = probe(vfr)
    assert info.video.is_vfr and info.video.frame_count == 6  # counted: Matroska has no count
    cfr = write_video(tmp_path / "cfr.mkv", cfr_pts(12, Fraction(30000, 1001), Fraction(1, 1000)),
                      Fraction(1, 1000), fps_hint=Fraction(30000, 1001))
    assert not probe(cfr).video.is_vfr  # 33/34 ms steps are 29.97 fps rounded, not VFR

    tc = write_video(tmp_path / "rot tc.mov", cfr_pts(6, Fraction(24000, 1001), Fraction(1, 24000)),
                     Fraction(1, 24000), rotation_ccw=90, timecode="01:00:00:00",
                     fps_hint=Fraction(24000, 1001))
    info = probe(tc)
    ref = ffprobe(tc)
    v = _stream(ref, "video")
    assert _rotation(v) == 90 and info.video.rotation == 270  # 90° CCW = 270° clockwise
    assert (info.video.display_width, info.video.display_height) == (144, 256)
    assert info.timecode == "01:00:00:00" == _stream(ref, "data")["tags"]["timecode"]
    assert info.video.fps == Fraction(24000, 1001) == Fraction(v["r_frame_rate"])
    assert info.video.frame_count == 6


def test_one_frame_video_only_audio_only(tmp_path):
    one = write_video(tmp_path / "one.mp4", [0], Fraction(1, 25), fps_hint=Fraction(25))
    info = probe(one)
    assert info.video.frame_count == 1 and info.audio is None and not info.video.is_vfr
    assert info.video.duration == Fraction(1, 25)

    wav = write_audio(tmp_path / "tone.wav", 44100, 1.5, "pcm_s16le", layout="mono")
    info = probe(wav)
    assert info.video is None
    assert (info.audio.sample_rate, info.audio.channels, info.audio.sample_count) == (44100, 1, 66150)
    assert info.duration_samples == 72000

    m4a = write_audio(tmp_path / "tone.m4a", 48000, 2.0, "aac")
    a = probe(m4a).audio
    assert a.sample_count == 96000 == int(_stream(ffprobe(m4a), "audio")["duration_ts"])


def test_non_zero_start_time(tmp_path):
    clip = write_video(tmp_path / "late.mkv", cfr_pts(10, Fraction(25), Fraction(1, 1000), start=Fraction(5, 2)),
                       Fraction(1, 1000), fps_hint=Fraction(25))
    info = probe(clip)
    assert info.start_time == info.video.start_time == Fraction(5, 2) == info.origin
    assert float(ffprobe(clip)["format"]["start_time"]) == 2.5


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foley_desktop", "probe", *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=60)


def test_cli_table_and_json(clip_phone, tmp_path):
    r = _cli(clip_phone)
    assert r.returncode == 0, r.stderr
    assert "1920x1080" in r.stdout and "variable" in r.stdout and "76799 at 48000 Hz" in r.stdout
    r = _cli(clip_phone, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["video"]["fps"]["exact"] == "90000/2999"
    assert d["video"]["is_vfr"] is True
    assert d["audio"]["sample_count"] == 76799
    assert d["duration_samples"] == 76799
