"""A user's bad file: typed exceptions from the API, one line and exit 2 from the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from media_factory import cfr_pts, write_audio, write_video

from foley_desktop.errors import MediaError, NoStreamError
from foley_desktop.media import mux_audio, probe, read_audio, read_frame_at, read_video_frames


@pytest.fixture
def bad_files(tmp_path, clip_hello) -> dict[str, Path]:
    text = tmp_path / "notes.mp4"
    text.write_text("this is a shopping list, not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    half = tmp_path / "half cut.mp4"
    data = clip_hello.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    # moov at the end (as cameras write it): cutting the file loses the header itself
    tail = tmp_path / "tail.mp4"
    write_video(tail, cfr_pts(30, Fraction(25), Fraction(1, 12800)), Fraction(1, 12800),
                fps_hint=Fraction(25))
    tail.write_bytes(tail.read_bytes()[: tail.stat().st_size // 2])
    return {"missing": tmp_path / "nope.mp4", "folder": folder, "empty": empty, "text": text,
            "truncated": half, "truncated, header at the end": tail}


EXPECT = {"missing": "no such file", "folder": "folder", "empty": "empty", "text": "not a media file",
          "truncated": "truncated", "truncated, header at the end": "truncated"}


def test_api_raises_typed_errors(bad_files):
    for kind, path in bad_files.items():
        calls = [(probe,), (read_audio,), (read_video_frames, 5, (32, 32)), (read_frame_at, 0)]
        for fn, *args in calls:
            with pytest.raises(MediaError, match=EXPECT[kind]) as info:
                fn(path, *args)
            assert "\n" not in str(info.value), kind


def test_missing_stream_is_not_an_error_for_probe(tmp_path):
    video_only = write_video(tmp_path / "silent.mp4", cfr_pts(5, Fraction(25), Fraction(1, 12800)),
                             Fraction(1, 12800), fps_hint=Fraction(25))
    assert probe(video_only).audio is None
    with pytest.raises(NoStreamError):
        read_audio(video_only)
    audio_only = write_audio(tmp_path / "a.m4a", 48000, 0.5)
    assert probe(audio_only).video is None
    with pytest.raises(NoStreamError):
        read_video_frames(audio_only, 5, (32, 32))
    with pytest.raises(NoStreamError):
        mux_audio(audio_only, audio_only, tmp_path / "out.mp4")
    with pytest.raises(MediaError, match="use one of"):
        mux_audio(video_only, audio_only, tmp_path / "out.avi")


def test_spaces_and_non_ascii_paths(tmp_path, clip_tank):
    odd = tmp_path / "dossier été" / "prise 1 – 名前 ü.mp4"
    odd.parent.mkdir()
    shutil.copy(clip_tank, odd)
    assert probe(odd).video.frame_count == 166
    assert read_audio(odd, 0, 480).shape == (1, 480)
    r = _cli(odd)
    assert r.returncode == 0 and "prise 1 – 名前 ü.mp4" in r.stdout


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foley_desktop", "probe", *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=60)


def test_cli_one_line_exit_2(bad_files):
    for kind, path in bad_files.items():
        r = _cli(path)
        assert r.returncode == 2, (kind, r.stderr)
        assert "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and EXPECT[kind] in lines[0], (kind, r.stderr)
        assert r.stdout == ""
