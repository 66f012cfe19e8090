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


def test_timeline_markers_reach_the_cli_on_their_frames_first_sample():
    """Scene markers -> --markers -> the CLI's own parser: each lands on the app's first sample
    of its frame (29.97 and 23.976 fps, strip not at frame 1), kinds from the names or the
    prompt; and `spot --json` times map back to the frame holding them."""
    from fractions import Fraction

    from foley_desktop.media.timebase import frame_to_samples, parse_time, samples_to_frame
    from foley_desktop.spotting.markers import parse_list

    for fps in (Fraction(30000, 1001), Fraction(24000, 1001), Fraction(25)):
        start = 11
        frames = [start, start + 1, start + 7, start + 299, start + 1799]
        names = ["auto:hit", "F_12", "footstep", "auto:other", "hit 2"]
        arg = core.markers_arg(list(zip(frames, names)), start, fps, "footsteps on gravel")
        marks = parse_list(arg, lambda x, fps=fps: parse_time(x, fps))
        assert [m.time for m in marks] == [frame_to_samples(f - start, fps) for f in frames]
        assert [m.kind for m in marks] == ["hit", "footstep", "footstep", "other", "hit"]
        for f in range(0, 2000, 7):
            for s in (frame_to_samples(f, fps), frame_to_samples(f + 1, fps) - 1):
                assert core.frame_holding(s, fps) == samples_to_frame(s, fps) == f
        a, b = frame_to_samples(30, fps), frame_to_samples(31, fps) - 1
        step = core.Step("spot", [], output=f'[{{"time": {a}, "kind": "hit"}}, '
                                            f'{{"time": {b}, "kind": "x"}}]')
        assert core.spotted_frames(step, start, fps) == [(start + 30, "hit"), (start + 30, "other")]
    assert core.marker_kind("F_3", "a heavy thud") == "hit"
