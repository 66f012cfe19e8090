"""The Blender add-on's Blender-free half in plain Python: its BWF reader against wavinfo (RIFF and
RF64), and its background job: steps in order, a failing step's one-line message, Cancel."""

from __future__ import annotations

import sys
import time

import numpy as np
import wavinfo

from foley_desktop.export.bwf import Bext, write_bwf
from foley_desktop.plugins.blender.foley_desktop_vse import core


def test_bwf_stamp_reader_agrees_with_wavinfo(tmp_path):
    for i, (threshold, ref) in enumerate([(0xFFFFFFFF, 172799827), (1000, 3 << 32 | 12345)]):
        f = tmp_path / f"t{i}.wav"
        write_bwf(f, np.zeros(4801, np.float32), bext=Bext(time_reference=ref),
                  rf64_threshold=threshold)
        info = wavinfo.WavInfoReader(str(f))
        assert core.read_bwf_stamp(f) == (info.bext.time_reference, info.data.frame_count) == (ref, 4801)


def test_job_runs_steps_in_order_and_reports_a_failing_steps_last_line(tmp_path):
    py = sys.executable
    job = core.Job([core.Step("one", [py, "-c", "print('a')"]),
                    core.Step("two", [py, "-c", "import sys; print('err: bad thing', file=sys.stderr); sys.exit(2)"]),
                    core.Step("three", [py, "-c", "print('never')"])])
    job.run(0.01)
    assert job.steps[0].output == "a\n" and job.done == 1
    assert job.status == "failed: err: bad thing"
    assert job.steps[2].output == ""


def test_cancel_stops_the_running_process_promptly():
    job = core.Job([core.Step("sleeping", [sys.executable, "-c", "import time; time.sleep(60)"])])
    job.poll()  # starts it
    assert job.status.startswith("step 1/1: sleeping")
    t0 = time.monotonic()
    job.cancel()
    assert time.monotonic() - t0 < 5
    assert job.finished and job.status == "cancelled"
