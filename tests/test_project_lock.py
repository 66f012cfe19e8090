"""One writer per project (issue #26): parallel CLI edits all land, a held project is refused
in one line naming the holder, a killed holder frees it, edits through a symlink reach the real
file, and hostile project files give one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from foley_desktop.project import io, lock


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *map(str, args)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def proj(clip_tank, tmp_path):
    p = io.new_project(clip_tank)
    return io.save(p, tmp_path / "race.foley")


def test_parallel_add_segment_all_land(proj):
    def add(i):
        return cli("project", "add-segment", proj, "--start", f"{i * 0.5}",
                   "--end", f"{i * 0.5 + 0.4}", "--prompt", f"hit {i}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, range(8)))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    ids = {r.stdout.strip() for r in results}
    saved = io.load(proj)
    assert {s.id for s in saved.segments} == ids and len(ids) == 8


HOLDER = """
import sys, time
from foley_desktop.project import lock
lock.acquire(sys.argv[1], app="test holder")
print("held", flush=True)
time.sleep(60)
"""


def test_a_held_project_is_refused_in_one_line_and_freed_when_the_holder_dies(proj):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(proj)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock.held_by(proj)["app"] == "test holder"
        t0 = time.monotonic()
        r = cli("project", "add-segment", proj, "--start", "1", "--end", "2", "--prompt", "x",
                env={"FOLEY_DESKTOP_LOCK_WAIT_S": "0.5"})
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
        assert f"is being edited by test holder (pid {holder.pid}" in r.stderr
        assert time.monotonic() - t0 < 8
        assert io.load(proj).segments == []           # nothing half-applied
        holder.send_signal(signal.SIGKILL)             # kill -9: the kernel drops the lock
        holder.wait(10)
        assert lock.held_by(proj) is None
        r = cli("project", "add-segment", proj, "--start", "1", "--end", "2", "--prompt", "x")
        assert r.returncode == 0, r.stderr
    finally:
        holder.kill()


def test_edits_through_a_symlink_reach_the_real_file(proj, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    link = other / "link.foley"
    link.symlink_to(proj)
    r = cli("project", "add-segment", link, "--start", "1", "--end", "2", "--prompt", "door")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(proj)
    assert [s.prompt for s in io.load(proj).segments] == ["door"]
    shown = cli("project", "show", link)
    assert "[MISSING]" not in shown.stdout


def test_hostile_project_files_give_one_line(tmp_path):
    deep = tmp_path / "deep.foley"
    deep.write_text("[" * 100000 + "]" * 100000)
    big = tmp_path / "big.foley"
    with open(big, "wb") as fh:
        fh.truncate(65 * 2**20)
    for f, msg in ((deep, "nested too deeply"), (big, "not a project file")):
        r = cli("project", "show", f)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_the_window_holds_its_project(qapp, proj):
    from foley_desktop.ui.document import Document

    doc = Document()
    doc.open_project(proj)
    try:
        r = cli("project", "add-segment", proj, "--start", "1", "--end", "2", "--prompt", "x",
                env={"FOLEY_DESKTOP_LOCK_WAIT_S": "0.2"})
        assert r.returncode == 2 and "Foley Desktop window" in r.stderr
        doc.add_segment(48000, 96000, "door")
        doc.save()                                   # its own saves pass (re-entrant)
        assert json.loads(proj.read_text())["segments"][0]["prompt"] == "door"
    finally:
        doc.shutdown()
    assert lock.held_by(proj) is None


def test_sizes_in_a_project_file_are_bounded(proj):
    """A clip 'lasting' 1e15 samples used to reach the export and fail there allocating."""
    doc = json.loads(proj.read_text())
    doc["media_info"]["duration_samples"] = 10 ** 15
    proj.write_text(json.dumps(doc))
    r = cli("project", "show", proj)
    assert r.returncode == 2 and "media_info.duration_samples" in r.stderr
    assert "48 hours" in r.stderr
