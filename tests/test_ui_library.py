"""The Library panel with a real index of real recordings (minetest-data): add a folder as a job,
search, waveforms, pin by button and by drop, then Generate a library take in the window."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf
from gui_helpers import open_clip
from gui_helpers import settle as _settle
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

pytestmark = pytest.mark.gui


@pytest.fixture
def sfx(media_root, tmp_path) -> Path:
    src = media_root / "usr/share/games/minetest/games/minetest_game/mods"
    files = sorted((src / "default/sounds").glob("default_gravel_footstep.*.ogg")) + \
        sorted((src / "doors/sounds").glob("doors_*door_close.ogg"))
    if len(files) < 5:
        pytest.skip("minetest-data sounds missing (scripts/fetch_test_media.sh)")
    folder = tmp_path / "My SFX"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder




def test_add_search_pin_generate(qtbot, win, sfx, clip_tank, tmp_path):
    from foley_desktop.library.index import LibraryIndex
    from foley_desktop.spotting.markers import Marker

    panel = win.library_panel
    panel._index = LibraryIndex(tmp_path / "lib.sqlite")
    panel.refresh_status()
    assert "No sounds yet" in panel.status.text()
    job = panel.add_folder(str(sfx))
    qtbot.waitUntil(lambda: job.state == "done", timeout=30000)
    qtbot.waitUntil(lambda: panel.status.text().startswith("7 sounds in 1 folder"), timeout=5000)

    panel.search.setText("footsteps on gravel")
    qtbot.waitUntil(lambda: panel.results.count() > 0, timeout=20000)
    from foley_desktop.ui.drag_out import PATH_ROLE

    assert "gravel_footstep" in panel.results.item(0).data(PATH_ROLE)
    qtbot.waitUntil(lambda: not panel.results.item(0).icon().isNull(), timeout=20000)

    open_clip(qtbot, win, clip_tank)
    seg = win.doc.add_segment(24000, 3 * 48000, "footsteps on gravel")
    win.doc.set_field(seg.id, "markers", [Marker(48000 + k * 19200, "footstep")
                                          for k in range(4)])
    win.canvas.set_selected([seg.id])
    qtbot.mouseClick(panel.pin_btn, Qt.MouseButton.LeftButton)
    assert seg.pinned == [panel.selected_path()] and seg.mode == "library"
    win.doc.undo_stack.undo()                 # one undo step for pin + mode
    assert seg.pinned == [] and seg.mode == "model"

    # Drop a door recording from the list onto the segment: pinned to it.
    door = next(p for p in sfx.iterdir() if p.name == "doors_door_close.ogg")
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(door))])
    r = win.canvas.segment_rect(next(s for s in win.canvas.segments if s.id == seg.id))
    ev = QDropEvent(QPointF(r.center()), Qt.DropAction.CopyAction, md,
                    Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    win.canvas.dropEvent(ev)
    assert seg.pinned == [str(door)] and seg.mode == "library"

    # Generate: a library take made of the pinned recording, laid on the four markers.
    jobs = win.generate([seg.id])
    qtbot.waitUntil(lambda: all(j.state in ("done", "failed") for j in jobs), timeout=60000)
    assert [j.state for j in jobs] == ["done"], [j.error for j in jobs]
    qtbot.waitUntil(lambda: len(seg.takes) == 1, timeout=10000)
    take = seg.takes[0]
    assert take.mode == "library" and len(take.sources) == 4
    assert {s["file"] for s in take.sources} == {str(door)}
    assert take.sync is not None and take.sync["n_markers"] == 4
    audio, sr = sf.read(take.path)
    assert sr == 48000 and len(audio) == seg.length
    item = win.inspector.takes.item(0)
    assert "library" in item.text() and "doors_door_close.ogg" in item.toolTip()
    _settle(qtbot)


def test_about_lists_the_starter_library_and_model_credits(tmp_path, monkeypatch, qapp):
    """Credits of every installed starter recording's author and licence, and the models'."""
    import json

    from foley_desktop.ui.about import AboutDialog

    base = tmp_path / "starter-library"
    base.mkdir()
    (base / "credits.json").write_text(json.dumps({
        "minetest-data/default/a.ogg": {"package": "minetest-data", "author": "Mito551",
                                        "license": "CC-BY-SA-3.0", "file": "a.ogg"},
        "minetest-data/default/b.ogg": {"package": "minetest-data", "author": "Mito551",
                                        "license": "CC-BY-SA-3.0", "file": "b.ogg"}}))
    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(tmp_path))
    d = AboutDialog()
    text = d.text.toPlainText()
    assert "Mito551 — CC-BY-SA-3.0 (2 sounds, Debian package minetest-data)" in text
    assert "all-MiniLM-L6-v2" in text            # the shipped model's own credits
    # The credits wrap to the dialog: nothing runs off to the right (no horizontal scroll).
    d.show()
    d.text.document().setTextWidth(d.text.viewport().width())
    assert d.text.document().idealWidth() <= d.text.viewport().width()
    assert not d.text.horizontalScrollBar().maximum()
    d.deleteLater()
