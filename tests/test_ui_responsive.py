"""Generation keeps the GUI thread free and loses no take (issues #6 and #9).

The project save after each finished take runs on a background writer; these tests check what
that must guarantee, deterministically (no timing): the take reaches the project file, the
write happens off the GUI thread from a snapshot later edits cannot change, closing the window
waits for a save still in flight (and for a take still queued to the window), and a queue of
jobs with cancels leaves no thread behind. Stall figures are benchmarks:
scripts/bench_ui_stall.py and scripts/bench_queue.py.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytestmark = pytest.mark.gui


@pytest.fixture
def env(gui_env):
    return gui_env


def make_window(tmp_path, clip):
    """A window on a saved project of `clip` (saved: takes are written beside it)."""
    from foley_desktop.project import io
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings

    tmp_path.mkdir(exist_ok=True)
    project = io.save(io.new_project(clip), tmp_path / "p.foley")
    win = MainWindow(Settings(str(tmp_path / "settings.ini")))
    win._skip_save_prompt = True
    win.resize(1200, 800)
    win.show()
    assert win.open_path(project), win.last_error
    return win, project


def takes_in_file(project: Path) -> list[str]:
    doc = json.loads(project.read_text("utf-8"))
    return [t["id"] for s in doc["segments"] for t in s["takes"]]


class Gate:
    """Wraps the saver's real write so a test decides when it may run, and records where."""

    def __init__(self, monkeypatch) -> None:
        from foley_desktop.ui import document

        self.open = threading.Event()
        self.entered = threading.Event()
        self.threads: list[threading.Thread] = []
        real = document._write

        def write(snap, path):
            self.threads.append(threading.current_thread())
            self.entered.set()
            assert self.open.wait(30), "the test never opened the gate"
            return real(snap, path)

        monkeypatch.setattr(document, "_write", write)


def test_take_saved_in_background_and_close_waits(qtbot, env, clip_hello, monkeypatch):
    from foley_desktop.project import io

    gate = Gate(monkeypatch)
    win, project = make_window(env, clip_hello)
    seg = win.doc.add_segment(0, 24000, "door slam", model="test-analytic")
    win.save()
    (job,) = win.generate([seg.id])
    qtbot.waitUntil(lambda: job.state in ("done", "failed"), timeout=60000)
    assert job.state == "done", job.error
    (take,) = seg.takes
    assert gate.entered.wait(10)
    # The take is in the window and its save is pending on another thread: not in the file yet.
    assert gate.threads and gate.threads[0] is not threading.main_thread()
    assert take.id not in takes_in_file(project)
    assert not win.doc.undo_stack.isClean()
    # Closing waits for the save in flight (the gate opens from another thread meanwhile).
    threading.Timer(0.3, gate.open.set).start()
    win.close()
    assert take.id in takes_in_file(project)
    loaded = io.load(project)
    (saved,) = loaded.segments[0].takes
    audio, sr = soundfile.read(saved.path)  # an independent reader
    assert sr == 48000 and len(audio) == seg.end - seg.start
    assert not any(t.is_alive() for t in gate.threads)  # the writer thread was joined


def test_snapshot_is_consistent_with_undo(qtbot, env, clip_hello, monkeypatch):
    gate = Gate(monkeypatch)
    win, project = make_window(env, clip_hello)
    seg = win.doc.add_segment(0, 24000, "glass clink", model="test-analytic")
    win.save()
    (job,) = win.generate([seg.id])
    qtbot.waitUntil(lambda: job.state in ("done", "failed"), timeout=60000)
    assert job.state == "done", job.error
    (take,) = seg.takes
    assert gate.entered.wait(10)
    # Undo the take while its save waits: the save writes the state it was asked to write
    # (with the take), untouched by the undo, and the window stays modified (the file and the
    # window now differ).
    win.doc.undo_stack.undo()
    assert seg.takes == []
    gate.open.set()
    win.doc.flush_saves()
    assert takes_in_file(project) == [take.id]
    assert not win.doc.undo_stack.isClean()
    win.doc.undo_stack.redo()
    assert [t.id for t in seg.takes] == [take.id]
    win.save()
    assert win.doc.undo_stack.isClean()
    win.close()


def test_saves_mark_clean_and_coalesce(qtbot, env, clip_hello):
    win, project = make_window(env, clip_hello)
    segs = [win.doc.add_segment(i * 12000, i * 12000 + 9600, f"tick {i}", model="test-analytic")
            for i in range(4)]
    win.save()
    jobs = win.generate([s.id for s in segs])
    qtbot.waitUntil(lambda: all(j.state in ("done", "failed") for j in jobs), timeout=60000)
    assert [j.state for j in jobs] == ["done"] * 4
    qtbot.waitUntil(lambda: not win.doc.saver.busy(), timeout=10000)
    win.doc.flush_saves()
    made = [t.id for s in segs for t in s.takes]
    assert len(made) == 4 and sorted(takes_in_file(project)) == sorted(made)
    assert 1 <= len(win.doc.save_times) <= 4  # one save per take at most, fewer when they pile up
    assert win.doc.undo_stack.isClean()  # the file holds what the window shows
    win.close()


def test_take_queued_to_the_window_at_close_is_saved(qtbot, env, clip_hello):
    """A take a worker hands over just before the window closes is added and saved."""
    from foley_desktop.media.wav import write_wav
    from foley_desktop.project.model import Take, new_id

    win, project = make_window(env, clip_hello)
    seg = win.doc.add_segment(0, 9600, "thud")
    win.save()
    take_id = new_id("take")
    path = win._out_dir() / seg.id / f"{take_id}.wav"
    path.parent.mkdir(parents=True)
    write_wav(path, np.zeros(9600, np.float32), subtype="FLOAT")
    take = Take(id=take_id, path=path, seed=7, model="m")
    # Emitted from another thread, as generate_segments' on_take does: queued, not yet run.
    t = threading.Thread(target=win.takeReady.emit, args=(seg.id, take))
    t.start()
    t.join()
    assert seg.takes == []
    win.close()
    assert take_id in takes_in_file(project)


def os_threads() -> list[str]:
    """The process's OS threads, by name."""
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{tid}/comm").read_text().strip())
        except OSError:  # ended meanwhile
            pass
    return sorted(names)


def run_queue(qtbot, tmp_path, clip, n: int, cancel_every: int) -> None:
    """Queue n generation jobs in a fresh window, cancel some, close and drop the window."""
    from foley_desktop.project import io
    from foley_desktop.ui import workers

    win, project = make_window(tmp_path, clip)
    ids = [win.doc.add_segment(i * 4800, i * 4800 + 9600, f"tap {i}", model="test-analytic").id
           for i in range(n)]
    win.save()
    jobs = win.generate(ids)
    for k, job in enumerate(jobs):
        if k % cancel_every == cancel_every - 1:
            win.jobs.cancel(job.id)  # queued: taken out of the pool before it starts
    qtbot.waitUntil(lambda: jobs[0].state != "queued", timeout=60000)
    win.jobs.cancel(jobs[1].id)  # running or queued, whichever it is by now
    qtbot.waitUntil(lambda: all(j.state in ("done", "failed", "cancelled") for j in jobs),
                    timeout=120000)
    states = [j.state for j in jobs]
    assert "failed" not in states
    assert states.count("cancelled") >= n // cancel_every
    qtbot.waitUntil(lambda: all(win.jobs_panel.state_of(j.id) == j.state for j in jobs),
                    timeout=10000)
    made = sorted(t.id for i in ids for t in win.doc.segment(i).takes)
    assert len(made) >= states.count("done")
    win.close()
    assert sorted(takes_in_file(project)) == made  # every finished take saved
    assert len(io.load(project).segments) == n
    assert not [p.objectName() for p in workers.POOLS if p.activeThreadCount()]
    win.deleteLater()
    qtbot.wait(10)


def settle() -> tuple[int, list[str]]:
    """Threads once garbage is collected and Qt's own global pool is idle."""
    from PySide6.QtCore import QThreadPool

    gc.collect()
    QThreadPool.globalInstance().waitForDone()  # Qt's image scaling helpers, not ours
    return threading.active_count(), os_threads()


def test_queue_with_cancels_leaves_no_threads(qtbot, env, clip_hello):
    # A first, small run creates what any first window creates once (Qt's threads, imports).
    run_queue(qtbot, env / "a", clip_hello, 2, 2)
    py0, os0 = settle()
    run_queue(qtbot, env / "b", clip_hello, 20, 4)
    py1, os1 = settle()
    # Python threads (the saver's) and OS threads (pools, ONNX Runtime's) are back to before.
    assert py1 <= py0, threading.enumerate()
    assert len(os1) <= len(os0), (os0, os1)


def test_finished_tasks_are_freed_and_history_bounded(qtbot):
    """Tasks do not outlive their report (they used to: PySide kept every started QRunnable),
    and the queue forgets its oldest finished jobs, rows included, past its history size."""
    from foley_desktop.ui import workers
    from foley_desktop.ui.jobs_panel import JobsPanel

    gc.collect()
    before = {id(o) for o in gc.get_objects() if isinstance(o, workers.Task)}  # other windows'
    queue = workers.JobQueue(1)
    queue.HISTORY = 10
    panel = JobsPanel(queue)
    qtbot.addWidget(panel)
    jobs = [queue.submit(f"job {i}", lambda i, progress, cancel: i * i, i) for i in range(130)]
    for job in jobs[5::7]:
        queue.cancel(job.id)
    qtbot.waitUntil(lambda: all(j.state in ("done", "cancelled") for j in jobs), timeout=30000)
    assert [j.result for j in jobs if j.state == "done"] == [
        i * i for i, j in enumerate(jobs) if j.state == "done"]
    panel.flush()
    kept = list(queue.jobs.values())
    assert 10 <= len(kept) <= 110
    assert [j.id for j in kept] == sorted(j.id for j in kept)
    assert all(any(k is j for k in kept) for j in jobs[-10:])  # the newest stay
    assert panel.table.rowCount() == len(kept)
    for row, job in enumerate(kept):
        assert panel.rows[job.id] == row
        assert panel.table.item(row, 0).text() == job.title
        assert panel.state_of(job.id) == job.state
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, workers.Task) and id(o) not in before]
    queue.shutdown()
