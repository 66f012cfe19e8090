"""`foley-desktop library ...`: the verbs end to end on real recordings, and their exit codes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from foley_desktop.cli import main

MEDIA = Path(os.environ.get("FOLEY_MEDIA_DIR", Path.home() / ".cache/foley-desktop/media")) / "root"
SOUNDS = MEDIA / "usr/share/games/minetest/games/minetest_game/mods/default/sounds"
DOORS = MEDIA / "usr/share/games/minetest/games/minetest_game/mods/doors/sounds"


@pytest.fixture
def folder(tmp_path):
    if not SOUNDS.is_dir() or not DOORS.is_dir():
        pytest.skip(f"test media missing: {SOUNDS} (scripts/fetch_test_media.sh)")
    lib = tmp_path / "sfx"
    lib.mkdir()
    for f in [*sorted(SOUNDS.glob("default_gravel_footstep.*.ogg")), *sorted(DOORS.glob("doors_door_*.ogg"))]:
        shutil.copy2(f, lib / f.name)
    (lib / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    return lib


def test_library_verbs(tmp_path, folder, capsys):
    db = str(tmp_path / "lib.sqlite")
    assert main(["library", "add", str(folder), "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 6 and [s["reason"][:6] for s in report["skipped"]] == ["broken"]

    assert main(["library", "search", "footsteps on gravel", "--limit", "3", "--json", "--db", db]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all("gravel_footstep" in h["name"] for h in hits)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    assert main(["library", "search", "door", "--db", db]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "doors_door_" in first

    target = folder / "doors_door_open.ogg"
    assert main(["library", "info", str(target), "--json", "--db", db]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(target) and info["sample_rate"] == 22050 and info["onsets_s"]
    assert main(["library", "info", str(target), "--db", db]) == 0
    assert "LUFS" in capsys.readouterr().out

    assert main(["library", "scan", "--db", db]) == 0
    assert "0 added, 0 updated, 6 unchanged" in capsys.readouterr().out

    moved = tmp_path / "moved"
    shutil.move(str(folder), str(moved))
    assert main(["library", "relink", str(folder), str(moved), "--db", db]) == 0
    assert "6 sounds kept" in capsys.readouterr().out
    assert main(["library", "folders", "--db", db]) == 0
    assert capsys.readouterr().out.strip() == str(moved)
    assert main(["library", "remove", str(moved), "--db", db]) == 0
    capsys.readouterr()
    assert main(["library", "search", "door", "--db", db]) == 0
    assert "no sounds" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["library", "add", "/no/such/folder"], "not a folder"),
    (["library", "add"], "give a folder"),
    (["library", "scan"], "no library folders"),
    (["library", "search", " "], "empty"),
    (["library", "search", "x", "--limit", "0"], "limit"),
    (["library", "info", "/no/such.wav"], "not in the library index"),
    (["library", "remove", "/no/such/folder"], "not a library folder"),
    (["library", "relink", "/a", "/"], "not a library folder"),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main([*argv, "--db", str(tmp_path / "lib.sqlite")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_corrupt_index_file_is_one_line(tmp_path, capsys):
    db = tmp_path / "lib.sqlite"
    db.write_bytes(b"this is not an SQLite database" * 100)
    assert main(["library", "folders", "--db", str(db)]) == 2
    assert "cannot open the library index" in capsys.readouterr().err


def test_an_index_from_a_newer_version_is_refused(tmp_path, capsys):
    import sqlite3

    db = tmp_path / "lib.sqlite"
    assert main(["library", "folders", "--db", str(db)]) == 0
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    con.commit()
    con.close()
    capsys.readouterr()
    assert main(["library", "folders", "--db", str(db)]) == 2
    assert "newer Foley Desktop" in capsys.readouterr().err
