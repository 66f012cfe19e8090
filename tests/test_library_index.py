"""The library index on real recordings: scan, incremental rescan, bad files, cancel and
resume, relink, search ranking, and the starter library's credits."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from foley_desktop.errors import Cancelled
from foley_desktop.export.bwf import Bext, write_bwf
from foley_desktop.jobs import CancelToken
from foley_desktop.library.index import LibraryError, LibraryIndex, query_terms

MEDIA = Path(os.environ.get("FOLEY_MEDIA_DIR", Path.home() / ".cache/foley-desktop/media")) / "root"
MODS = MEDIA / "usr/share/games/minetest/games/minetest_game/mods"
SCRATCH = MEDIA / "usr/share/scratch/Media/Sounds"


def _need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"test media missing: {p} (scripts/fetch_test_media.sh)")
    return p


@pytest.fixture
def library(tmp_path):
    """A small library folder of real recordings: minetest footsteps and doors, fire, water."""
    lib = tmp_path / "SFX Library"
    picks = {"Footsteps": sorted(_need(MODS / "default/sounds").glob("default_*_footstep.*.ogg")),
             "Doors": sorted(_need(MODS / "doors/sounds").glob("*.ogg")),
             "Ambience/Fire": sorted(_need(MODS / "fire/sounds").glob("fire_fire.*.ogg")),
             "Ambience/Water": sorted(_need(MODS / "env_sounds/sounds").glob("env_sounds_water.*.ogg"))}
    for sub, files in picks.items():
        (lib / sub).mkdir(parents=True)
        for f in files:
            shutil.copy2(f, lib / sub / f.name)
    return lib


def _index(tmp_path) -> LibraryIndex:
    return LibraryIndex(tmp_path / "index" / "library.sqlite")


def test_scan_search_and_incremental_rescan(tmp_path, library):
    idx = _index(tmp_path)
    idx.add_folder(library)
    n_files = sum(1 for _ in library.rglob("*.ogg"))
    seen = []
    report = idx.scan(progress=seen.append)
    assert (report.added, report.updated, report.removed, report.skipped) == (n_files, 0, 0, [])
    assert idx.count() == n_files
    assert seen[-1].done == seen[-1].total == n_files and seen[-1].eta_s == 0.0

    # "footsteps on gravel": the gravel footsteps first, all ahead of every door.
    hits = idx.search("footsteps on gravel", limit=n_files)
    names = [h.name for h in hits]
    gravel = [i for i, n in enumerate(names) if "gravel_footstep" in n]
    doors = [i for i, n in enumerate(names) if n.startswith("doors_")]
    assert gravel == list(range(len(gravel))) and len(gravel) == 4
    assert max(gravel) < min(doors)
    top = hits[0]
    assert top.path.is_file() and top.source == str(library) and top.onsets_s and not top.continuous
    assert top.sample_rate == 44100 and top.channels == 1 and top.loudness_lufs is not None
    # A door query ranks doors first; beds come back when asked for continuous sounds.
    assert idx.search("a door slams shut", limit=3)[0].name.startswith("doors_")
    beds = idx.search("fire crackling", limit=3, continuous=True)
    assert beds and all(h.continuous for h in beds) and beds[0].name.startswith("fire_fire")
    assert all(not h.continuous for h in idx.search("fire crackling", limit=5, continuous=False))

    # Unchanged files are not read again; one touched file is one update; a deleted one goes.
    again = idx.scan()
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, n_files, 0)
    touched = library / "Doors" / "doors_door_open.ogg"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    (library / "Doors" / "doors_door_close.ogg").unlink()
    again = idx.scan()
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 1, n_files - 2, 1)
    assert idx.count() == n_files - 1
    assert idx.info(library / "Doors" / "doors_door_close.ogg") is None
    info = idx.info(touched)
    assert info is not None and info.name == "doors_door_open.ogg" and info.credit is None

    # Rows analysed by an older extractor are read again although their files did not change.
    idx._db.execute("UPDATE sounds SET analysis = 'features 1' WHERE name LIKE 'fire_fire%'")
    idx._db.commit()
    again = idx.scan()
    assert (again.added, again.updated, again.unchanged) == (0, 3, n_files - 4)


def test_bad_files_are_skipped_with_reasons_and_remembered(tmp_path, library):
    bad = library / "Bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    good = bad / "fine.wav"
    write_bwf(good, np.zeros(4800, np.float32) + 0.1, sr=48000, bext=Bext(description="test tone"))
    (bad / "truncated.wav").write_bytes(good.read_bytes()[:3000])
    (bad / "readme.wav").write_text("not audio\n" * 100)
    (bad / "folder.wav").mkdir()
    (bad / "ok.txt").write_text("not a sound file name: ignored, not reported")
    # Real recordings cut short: the decoder loses sync mid-stream.
    (bad / "cut.ogg").write_bytes((library / "Ambience/Fire/fire_fire.1.ogg").read_bytes()[:3000])
    flac = _need(MEDIA / "usr/share/sonic-pi/samples/ambi_choir.flac")
    (bad / "cut.flac").write_bytes(flac.read_bytes()[:20000])
    idx = _index(tmp_path)
    idx.add_folder(library)
    report = idx.scan()
    reasons = {p.name: why for p, why in report.skipped}
    assert set(reasons) == {"empty.wav", "truncated.wav", "readme.wav", "folder.wav", "cut.ogg", "cut.flac"}
    assert "empty" in reasons["empty.wav"] and "truncated" in reasons["truncated.wav"]
    assert "not a readable audio file" in reasons["readme.wav"] and "folder" in reasons["folder.wav"]
    assert idx.info(good) is not None and idx.info(good).description == "test tone"
    # Remembered: reported again without being read, and forgotten once fixed.
    assert {p.name for p, _ in idx.scan().skipped} == set(reasons)
    shutil.copy2(good, bad / "truncated.wav")
    again = idx.scan()
    assert again.added == 1 and "truncated.wav" not in {p.name for p, _ in again.skipped}


def test_cancel_keeps_the_work_done_and_the_next_scan_resumes(tmp_path, library):
    idx = _index(tmp_path)
    idx.add_folder(library)
    total = sum(1 for _ in library.rglob("*.ogg"))
    token = CancelToken()

    def progress(p):
        if p.stage == "scanning" and p.done >= 5:
            token.cancel()

    with pytest.raises(Cancelled):
        idx.scan(progress=progress, cancel=token)
    kept = LibraryIndex(idx.db_path).count()     # a fresh connection sees the committed rows
    assert kept == 5
    report = idx.scan()
    assert (report.added, report.unchanged) == (total - 5, 5)


def test_relink_a_moved_folder_reads_nothing_again(tmp_path, library):
    idx = _index(tmp_path)
    idx.add_folder(library)
    n = idx.scan().added
    moved = tmp_path / "Moved Drive" / "SFX"
    moved.parent.mkdir()
    shutil.move(str(library), str(moved))
    missing = idx.scan()
    assert missing.removed == 0 and "not found" in missing.skipped[0][1] and idx.count() == n
    assert idx.relink(library, moved) == n
    assert idx.folders() == [moved]
    report = idx.scan()
    assert (report.added, report.updated, report.unchanged) == (0, 0, n)
    hit = idx.search("footsteps on gravel", limit=1)[0]
    assert hit.path.is_file() and moved in hit.path.parents


def test_folder_rules(tmp_path, library):
    idx = _index(tmp_path)
    idx.add_folder(library)
    assert idx.add_folder(library) == library            # adding twice is harmless
    with pytest.raises(LibraryError, match="inside"):
        idx.add_folder(library / "Doors")
    with pytest.raises(LibraryError, match="not a folder"):
        idx.add_folder(tmp_path / "nowhere")
    with pytest.raises(LibraryError, match="not a library folder"):
        idx.remove_folder(tmp_path)
    with pytest.raises(LibraryError, match="empty"):
        idx.search("  ")
    assert idx.search("anything") == []                   # nothing scanned yet
    idx.scan()
    assert idx.remove_folder(library) > 0 and idx.count() == 0 and idx.folders() == []
    assert idx.search("footsteps") == []


def test_query_terms():
    assert query_terms("Footsteps on gravel") == ["footstep", "gravel"]
    assert query_terms("fire crackling in the fireplace") == ["fire", "crackl", "fireplace"]
    assert query_terms("a door slammed, 2 doors") == ["door", "slamm"]


def test_starter_library_credits(tmp_path, monkeypatch):
    from foley_desktop.library import starter

    _need(MEDIA / "usr/share/doc/minetest-data/copyright")
    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(tmp_path / "data"))
    dest = starter.install_starter(MEDIA)
    assert dest == tmp_path / "data" / "starter-library"
    credits = json.loads((dest / "credits.json").read_text())
    gravel = dest / "minetest-data/default/default_gravel_footstep.1.ogg"
    assert gravel.is_file() and (dest / "minetest-data/copyright").is_file()
    assert starter.credit_for(gravel) == ("default_gravel_footstep.1.ogg: Mito551, CC-BY-SA-3.0 "
                                          "(Debian package minetest-data)")
    assert "CC-BY-3.0" in starter.credit_for(dest / "minetest-data/doors/doors_door_open.ogg")
    assert starter.credit_for(tmp_path / "elsewhere.wav") is None
    # Every shipped file has a licence that allows it; sonic-pi samples without a stanza of
    # their own (the program's MIT catch-all) are left out.
    assert all(starter._allowed(c["license"]) for c in credits.values())
    if (MEDIA / "usr/share/sonic-pi/samples/perc_door.flac").exists():
        assert not (dest / "sonic-pi-samples/perc_door.flac").exists()
    # Installing again changes nothing and still credits the same files.
    assert json.loads((starter.install_starter(MEDIA) / "credits.json").read_text()) == credits


def test_dep5_parsing():
    from foley_desktop.library.starter import dep5_match, parse_dep5

    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: 2011 Someone\nLicense: GPL-2+\n\n"
            "Files: sounds/*.ogg\n       other/x.wav\nCopyright: 2012 A,\n           2013 B\n"
            "License: CC-BY-3.0\n full text\n .\n more\n")
    stanzas = parse_dep5(text)
    assert [s.license for s in stanzas] == ["GPL-2+", "CC-BY-3.0"]
    assert dep5_match(stanzas, "sounds/a.ogg").copyright == "2012 A, 2013 B"
    assert dep5_match(stanzas, "other/x.wav").license == "CC-BY-3.0"
    assert dep5_match(stanzas, "code/main.c").license == "GPL-2+"


def test_searching_while_a_scan_runs_in_another_thread(tmp_path, library):
    """The GUI scans in a worker and searches from its own thread: both go on, and the
    searches see the sounds committed so far."""
    import threading

    idx = _index(tmp_path)
    idx.add_folder(library)
    errors, counts = [], []

    def scan():
        try:
            idx.scan()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=scan)
    worker.start()
    while worker.is_alive():
        counts.append(len(idx.search("footsteps on gravel", limit=50)))
    worker.join()
    assert not errors
    assert counts and counts == sorted(counts)            # the index only grows during a scan
    assert len(idx.search("footsteps on gravel", limit=50)) == idx.count()


def test_a_chinese_description_finds_the_english_named_sounds(tmp_path, media_root):
    """Search reads the query as English first (engine/prompt_reading): 在碎石路上的脚步声
    finds the same gravel footsteps as "footsteps on gravel"."""
    import shutil

    from foley_desktop.library.index import LibraryIndex

    sounds = media_root / "usr/share/games/minetest/games/minetest_game/mods"
    files = sorted((sounds / "default/sounds").glob("default_*_footstep.*.ogg"))[:12] + \
        sorted((sounds / "doors/sounds").glob("*.ogg"))[:4]
    if len(files) < 10:
        pytest.skip("minetest-data sounds missing (scripts/fetch_test_media.sh)")
    folder = tmp_path / "sfx"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    lib = LibraryIndex(tmp_path / "lib.sqlite")
    lib.add_folder(folder)
    lib.scan()
    en = [h.path.name for h in lib.search("footsteps on gravel", 3)]
    zh = [h.path.name for h in lib.search("在碎石路上的脚步声", 3)]
    assert zh == en and all("gravel" in n for n in zh)
