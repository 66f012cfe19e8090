"""Frictions a new user met in the spotting workflow (issue #23), each fixed and held here with
the real CLI on real files: a range past the clip's end refused by every mode and by `spot`,
`--markers`' default said per mode, the sync lines' wording (plurals, both tolerances, the
segment's end exclusive), and an audio-only input said to have no picture. (The markers in
exported timelines: test_export_markers.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
WALKERS = REPO / "resources/demo/walkers.mp4"   # 8.0 s


def cli(*args):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *map(str, args)],
                          capture_output=True, text=True, check=False, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def library(media_root, tmp_path_factory) -> Path:
    """A sound library of three real gravel footsteps (minetest-data, CC BY-SA)."""
    sounds = media_root / "usr/share/games/minetest/games/minetest_game/mods/default/sounds"
    files = sorted(sounds.glob("default_gravel_footstep.*.ogg"))[:3]
    if len(files) < 3:
        pytest.skip("minetest-data sounds missing (scripts/fetch_test_media.sh)")
    tmp = tmp_path_factory.mktemp("lib")
    (tmp / "SFX").mkdir()
    for f in files:
        shutil.copy(f, tmp / "SFX" / f.name)
    r = cli("library", "add", tmp / "SFX", "--db", tmp / "lib.sqlite")
    assert r.returncode == 0, r.stderr
    return tmp / "lib.sqlite"


def one_line_refusal(r) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_a_range_past_the_clips_end_is_refused_in_every_mode_and_by_spot(library, tmp_path):
    model = cli("generate", WALKERS, "--start", "7", "--end", "12", "--prompt",
                "footsteps on gravel", "-o", tmp_path / "m.wav")
    lib = cli("generate", WALKERS, "--start", "7", "--end", "12", "--prompt",
              "footsteps on gravel", "--mode", "library", "--markers", "7.2",
              "--library-db", library, "-o", tmp_path / "l.wav")
    spot = cli("spot", WALKERS, "--start", "7", "--end", "12")
    said = "the segment 7.000-12.000 s is outside the clip (8.000 s long)"
    for r in (model, lib, spot):
        assert said in one_line_refusal(r)
    assert not (tmp_path / "l.wav").exists() and not (tmp_path / "m.wav").exists()
    assert "marker(s)" not in spot.stderr
    # A start past the end, too; and a range inside the clip still spots.
    assert "at or past the clip's end" in one_line_refusal(cli("spot", WALKERS, "--start", "9"))
    ok = cli("spot", WALKERS, "--start", "6", "--end", "8", "--json")
    assert ok.returncode == 0, ok.stderr
    assert all(6 <= m["seconds"] < 8 for m in json.loads(ok.stdout))


def test_markers_help_says_the_default_of_each_mode():
    r = cli("generate", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "model mode uses none" in text
    assert "library mode auto-spots the picture" in text


def test_a_marker_at_the_segments_end_is_refused_saying_the_end_is_exclusive(tmp_path):
    r = cli("generate", WALKERS, "--start", "1", "--end", "3", "--prompt", "x",
            "--markers", "3", "-o", tmp_path / "a.wav")
    assert "3.000 s is outside the segment (from 1.000 s to before 3.000 s)" \
        in one_line_refusal(r)


def test_library_line_says_both_tolerances_with_plurals(library, tmp_path):
    one = cli("generate", WALKERS, "--start", "1", "--end", "3", "--prompt", "footsteps on gravel",
              "--mode", "library", "--markers", "1.5@footstep", "--library-db", library,
              "-o", tmp_path / "one.wav", "--seed", "1")
    assert one.returncode == 0, one.stderr
    wrote = one.stdout.strip().splitlines()[-1]
    assert "1 hit on 1 marker, F1 " in wrote, wrote
    assert "at +-100 ms" in wrote and "at +-40 ms" in wrote
    two = cli("generate", WALKERS, "--start", "1", "--end", "3", "--prompt", "footsteps on gravel",
              "--mode", "library", "--markers", "1.5@footstep,2.2@footstep", "--library-db",
              library, "-o", tmp_path / "two.wav", "--seed", "1")
    assert two.returncode == 0, two.stderr
    assert "2 hits on 2 markers, F1 " in two.stdout.strip().splitlines()[-1]


def test_model_line_plural_of_one_marker(tmp_path):
    r = cli("generate", WALKERS, "--start", "1", "--end", "2", "--prompt", "footsteps on gravel",
            "--markers", "1.5@footstep", "-o", tmp_path / "a.wav", "--seed", "3")
    assert r.returncode == 0, r.stderr
    wrote = r.stdout.strip().splitlines()[-1]
    assert "sync with 1 marker: F1 " in wrote and "at +-100 ms" in wrote, wrote


@pytest.fixture
def tone(tmp_path) -> Path:
    path = tmp_path / "tone.wav"
    t = np.arange(48000) / 48000
    sf.write(path, 0.2 * np.sin(2 * np.pi * 440 * t), 48000)
    return path


def test_an_audio_only_input_is_said_to_have_no_picture(tone, tmp_path):
    r = cli("generate", tone, "--prompt", "steps", "-o", tmp_path / "a.wav", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert "note: tone.wav has no picture: the take is made from the prompt alone" in r.stdout
    j = cli("generate", tone, "--prompt", "steps", "-o", tmp_path / "b.wav", "--seed", "1", "--json")
    assert j.returncode == 0, j.stderr
    assert any("no picture" in n for n in json.loads(j.stdout)["notes"])
    # A clip with a picture gets no such note.
    v = cli("generate", WALKERS, "--end", "1", "--prompt", "steps", "-o", tmp_path / "c.wav",
            "--seed", "1", "--json")
    assert not any("no picture" in n for n in json.loads(v.stdout).get("notes", []))


def test_an_audio_only_input_in_library_mode_says_so_too(tone, library, tmp_path):
    r = cli("generate", tone, "--prompt", "footsteps on gravel", "--mode", "library",
            "--markers", "0.5@footstep", "--library-db", library, "-o", tmp_path / "a.wav", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert any("no picture" in n for n in json.loads(r.stdout)["notes"])
    # Without markers there is no picture to spot: the refusal says what to give instead.
    r = cli("generate", tone, "--prompt", "footsteps on gravel", "--mode", "library",
            "--library-db", library, "-o", tmp_path / "b.wav")
    line = one_line_refusal(r)
    assert "tone.wav has no picture to auto-spot" in line and "--markers" in line
    assert not (tmp_path / "b.wav").exists()
