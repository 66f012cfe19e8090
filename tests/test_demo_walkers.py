"""The editor's story on real footage (resources/demo/walkers.mp4, real pedestrians): point the
library at a folder of sounds, ask for footsteps on a segment, and get a take made of those
recordings on the walker's steps, from the CLI, with its sources listed."""

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

from foley_desktop.spotting.onsets import detect_onsets, onset_f1

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "resources/demo/walkers.mp4"
TRUTH = json.loads((REPO / "resources/demo/walkers.json").read_text())["annotated"]


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *map(str, args)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture
def library(media_root, tmp_path) -> Path:
    sounds = media_root / "usr/share/games/minetest/games/minetest_game/mods/default/sounds"
    files = sorted(sounds.glob("default_*_footstep.*.ogg"))
    if len(files) < 10:
        pytest.skip("minetest-data sounds missing (scripts/fetch_test_media.sh)")
    folder = tmp_path / "SFX"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    db = tmp_path / "lib.sqlite"
    r = cli("library", "add", folder, "--db", db)
    assert r.returncode == 0, r.stderr
    return db


@pytest.mark.parametrize("markers", ["annotated", "auto"])
def test_library_take_lands_on_the_walkers_steps(library, tmp_path, markers):
    truth = np.array(TRUTH["events_s"])
    arg = ",".join(f"{t}@footstep" for t in truth) if markers == "annotated" else "auto"
    out = tmp_path / "steps.wav"
    r = cli("generate", DEMO, "--end", "3", "--prompt", "footsteps on gravel", "--mode", "library",
            "--markers", arg, "--spot-roi", ",".join(map(str, TRUTH["roi"])),
            "--library-db", library, "--seed", "3", "--json", "-o", out)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 48000 and len(audio) == 3 * 48000 and sf.info(out).subtype == "PCM_24"
    # Every placement names a recording of the library that asked for gravel.
    files = {Path(s["file"]).name for s in report["sources"][0]}
    assert files and all("gravel_footstep" in f for f in files)
    f1_40 = onset_f1(truth, detect_onsets(audio), 0.04)
    f1_100 = onset_f1(truth, detect_onsets(audio), 0.1)
    if markers == "annotated":
        # The editor's marks: the take follows them (the detector's own slack aside).
        assert f1_40 >= 0.9, (f1_40, detect_onsets(audio))
    else:
        # Auto-spot on real footage finds most steps, to the frame (100 ms at 10 fps: one
        # frame off counts, hence the microsecond of slack) ...
        spotted = np.array([m["time"] / 48000 for m in report["markers"]])
        assert onset_f1(truth, spotted, 0.1 + 1e-6) >= 0.8, spotted
        # ... and the take lands on what was spotted.
        assert onset_f1(spotted, detect_onsets(audio), 0.04) >= 0.9
        assert f1_100 >= 0.5
