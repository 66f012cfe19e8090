"""How long the files a drag out of the timeline hands over take to write (no Qt needed).

    python scripts/bench_drag_out.py [--seconds 60] [--segments 12] [--repeat 3]

Makes a real clip of SECONDS (ffmpeg: test picture + stereo AAC tone), a project with SEGMENTS
segments each holding a real float take WAV, and times `app.drag_files.write_file` for the
Foley stem, the mix, the background stem and one take (cold: written; warm: reused because the
project did not change), plus the up-to-date check the GUI thread makes on each drag and all a
press costs it (check, snapshot, fingerprint). The GUI thread budget is ~50 ms: anything above
it is written on a worker when the drag is pressed.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_clip(path: Path, seconds: float) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size=320x180:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency=330:sample_rate=48000:duration={seconds}", "-ac", "2",
                    "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(path)], check=True)


def gui_stall_while_writing(project, what, folder: Path) -> tuple[float, float]:
    """Longest gap between ticks of a 2 ms timer on the GUI thread while `FilePreparer` writes
    `what` on its worker (the real path a press on a lane header takes), and the write's time."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication
    from stall_watch import StallWatch

    from foley_desktop.ui.drag_out import FilePreparer

    class Doc(QObject):  # what FilePreparer reads of the window's Document
        changed = Signal()

        def __init__(self, project) -> None:
            super().__init__()
            self.project = project

    app = QApplication.instance() or QApplication([])
    prep = FilePreparer(Doc(project), lambda: folder)
    probe = StallWatch(2)
    probe.start()
    t0 = time.perf_counter()
    if what is not None:
        prep.prepare(what)
    while (prep.ready(what) is None if what is not None else time.perf_counter() - t0 < 1.0) \
            and time.perf_counter() - t0 < 120:
        app.processEvents()
        time.sleep(0.0005)
    took = time.perf_counter() - t0
    probe.stop()
    prep.shutdown()
    return max(probe.gaps, default=0.0), took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--segments", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from foley_desktop.app import drag_files as df
    from foley_desktop.media.wav import write_wav
    from foley_desktop.project import io as pio
    from foley_desktop.project.model import Segment, Take, new_id

    tmp = Path(tempfile.mkdtemp(prefix="foley-dragbench-"))
    try:
        clip = tmp / "clip.mp4"
        make_clip(clip, args.seconds)
        project = pio.new_project(clip)
        project.save(tmp / "bench.foley")
        total = project.duration_samples
        rng = np.random.default_rng(0)
        seg_len = min(total // (2 * args.segments), 48000 * 3)
        for i in range(args.segments):
            start = i * total // args.segments
            seg = Segment(new_id("seg"), start, start + seg_len, f"footsteps {i}")
            path = project.cache_dir / "takes" / seg.id / "take.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_wav(path, (0.3 * rng.standard_normal(seg_len)).astype(np.float32),
                      subtype="FLOAT")
            take = Take(new_id("take"), path, seed=i)
            seg.takes.append(take)
            seg.active_take = take.id
            project.segments.append(seg)
        folder = project.cache_dir / "drag"
        print(f"clip {total / 48000:.1f} s stereo, {args.segments} segments with takes")
        what_list = [("stem", "foley"), ("stem", "mix"), ("stem", "background"),
                     ("take", project.segments[0].id)]
        for what in what_list:
            cold = []
            for _ in range(args.repeat):
                shutil.rmtree(folder, ignore_errors=True)
                t0 = time.perf_counter()
                df.write_file(project, what, folder)
                cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            df.write_file(project, what, folder)
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(20):
                df.ready_path(project, what, folder)
            check = (time.perf_counter() - t0) / 20
            t0 = time.perf_counter()
            for _ in range(20):  # what a press costs the GUI thread: check, snapshot, key
                df.ready_path(project, what, folder)
                copy.deepcopy(project)
                df.fingerprint(project, what)
            press = (time.perf_counter() - t0) / 20
            print(f"{what[0]:>4} {what[1][:10]:<10}  write {1000 * min(cold):7.1f} ms "
                  f"(median {1000 * sorted(cold)[len(cold) // 2]:.1f})  reuse {1000 * warm:5.1f} ms"
                  f"  up-to-date check {1000 * check:5.2f} ms  GUI thread on press {1000 * press:5.2f} ms")
        gap, _ = gui_stall_while_writing(project, None, folder)
        print(f"GUI event loop idle for 1 s (the machine's own noise): longest gap "
              f"{1000 * gap:.1f} ms")
        for lane in ("foley", "mix"):
            shutil.rmtree(folder, ignore_errors=True)
            gap, took = gui_stall_while_writing(project, ("stem", lane), folder)
            print(f"GUI event loop while the worker writes the {lane} stem ({1000 * took:.0f} ms):"
                  f" longest gap {1000 * gap:.1f} ms (2 ms timer)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
