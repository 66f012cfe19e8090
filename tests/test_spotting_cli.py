"""`foley-desktop spot`: markers as lines or JSON, bad input as one line and exit 2."""

from __future__ import annotations

import json

import pytest

from foley_desktop.cli import main
from foley_desktop.spotting import evaluate

CLIPS = {c["id"]: c for c in json.loads(evaluate.ANNOTATIONS.read_text())["clips"]}


def test_json_markers_of_a_real_walker(media_root, capsys):
    c = CLIPS["vtest_walker_a"]
    path = media_root / c["path"]
    if not path.exists():
        pytest.skip("real footage not fetched (scripts/fetch_real_footage.sh)")
    roi = ",".join(str(v) for v in c["roi"])
    assert main(["spot", str(path), "--start", str(c["start"]), "--end", "00:00:02.200",
                 "--roi", roi, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == len(c["events"])
    for m, e in zip(out, c["events"], strict=True):
        assert set(m) == {"time", "seconds", "kind", "strength", "source"}
        assert m["time"] == round(m["seconds"] * 48000) and abs(m["seconds"] - e["t"]) <= 0.1 + 1e-6
        assert m["source"] == "auto" and m["kind"] == "footstep" and 0 <= m["strength"] <= 1

    # The same markers as lines: seconds, timecode at the clip's 10 fps, kind, strength.
    assert main(["spot", str(path), "--start", "00:00:00:02", "--end", "2.2", "--roi", roi]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(out)
    first = lines[0].split()
    assert float(first[0]) == pytest.approx(out[0]["seconds"]) and first[1] == "s"
    assert first[2] == "00:00:00:04" and first[3] == "footstep"


def test_nothing_to_spot_on_the_toy_tank(clip_tank, capsys):
    assert main(["spot", str(clip_tank), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize("args, message", [
    (["--start", "soon"], "bad time 'soon'"),
    (["--start", "3", "--end", "2"], "--end must be after --start"),
    (["--roi", "1,2,3"], "bad --roi"),
    (["--roi", "9000,0,64,64"], "region"),
])
def test_bad_input_is_one_line_and_exit_2(clip_tank, capsys, args, message):
    assert main(["spot", str(clip_tank), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_file_and_audio_only_file(tmp_path, capsys):
    assert main(["spot", str(tmp_path / "none.mp4")]) == 2
    assert "no such file" in capsys.readouterr().err
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "tone.wav"
    sf.write(wav, np.zeros(4800, np.float32), 48000)
    assert main(["spot", str(wav)]) == 2
    assert "no video stream" in capsys.readouterr().err
