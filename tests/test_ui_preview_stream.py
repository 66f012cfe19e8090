"""The preview's decode-ahead worker (`video_preview._stream_job`) against a clock it cannot keep
up with: it drops the frames that would be late instead of falling behind, forwards and
backwards (J), and plays every frame in order when it keeps up.

The clock here is a `DueFrame` that a queue moves on each time the worker queues a frame: a
decoder that gets a third of the CPU it needs, made deterministic (no timing involved).
"""

from __future__ import annotations

import queue
from fractions import Fraction

import pytest

from foley_desktop.jobs import CancelToken

pytestmark = pytest.mark.gui

SIZE = (160, 90)


class ClockQueue(queue.Queue):
    """Records (frame queued, frame due then) and moves the clock `step` frames per frame."""

    def __init__(self, due, step: int) -> None:
        super().__init__()
        self.due, self.step, self.log = due, step, []

    def put(self, item, block=True, timeout=None) -> None:
        self.log.append((item[0], self.due.frame))
        self.due.frame += self.step
        super().put(item, block, timeout)


def _fps(clip) -> Fraction:
    from foley_desktop.media import probe

    return probe(clip).video.fps


def _run(clip, first: int, direction: int, step: int, last: int | None = None):
    from foley_desktop.ui.video_preview import DueFrame, _stream_job

    due = DueFrame(first)
    q = ClockQueue(due, step)
    _stream_job(str(clip), _fps(clip), SIZE, first, q, CancelToken(), direction, due, last)
    return q.log


def test_backwards_keeping_up_plays_every_frame(qapp, clip_tank):
    log = _run(clip_tank, 40, -1, 0)
    assert [f for f, _ in log] == list(range(40, -1, -1))


def test_backwards_behind_the_clock_drops_late_frames(qapp, clip_tank):
    """J with a decoder at a third of real time: no frame is queued after its time (the old
    worker queued all of them, ever later), and the frames still run backwards to the start."""
    log = _run(clip_tank, 150, -1, -3)
    frames = [f for f, _ in log]
    assert all(f <= due for f, due in log), [(f, d) for f, d in log if f > d][:5]
    assert frames == sorted(frames, reverse=True) and len(set(frames)) == len(frames)
    assert frames[0] == 150 and frames[-1] <= 3
    assert 40 <= len(frames) <= 70  # about one in three, not one in fifteen


def test_forwards_behind_the_clock_catches_up(qapp, clip_tank):
    """Playing with a decoder at a third of real time: it never lags the clock by more than
    CATCH_UP frames (it starts again ahead instead), and stops at the clip's last frame."""
    from foley_desktop.media import probe
    from foley_desktop.media.timebase import samples_to_frame
    from foley_desktop.ui.video_preview import CATCH_UP

    info = probe(clip_tank)
    last = samples_to_frame(info.duration_samples - 1, info.video.fps)  # the preview's too
    log = _run(clip_tank, 0, 1, 3, last)
    frames = [f for f, _ in log]
    # (Once the clock is past the last frame, the frames left are late: nothing to skip to.)
    assert all(due - f < CATCH_UP for f, due in log if due < last), \
        [(f, d) for f, d in log if d - f >= CATCH_UP][:5]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    assert frames[-1] >= 0.9 * last  # on to the end (the video may end before the audio)
    assert len(frames) < 0.8 * last  # frames were dropped, not all made late


def test_forwards_keeping_up_plays_every_frame(qapp, clip_tank):
    log = _run(clip_tank, 100, 1, 1)
    frames = [f for f, _ in log]
    assert frames[:40] == list(range(100, 140))


def test_forwards_catch_up_past_the_video_end_ends_quietly(qapp, clip_tank):
    """clip_tank's sound outlasts its picture: a catch-up aimed at the clip's last frame (the
    preview's, from the container's duration) lands after the last video frame. The stream
    ends there; it does not fail (which showed "Cannot show this frame")."""
    from foley_desktop.media import probe
    from foley_desktop.media.timebase import samples_to_frame

    info = probe(clip_tank)
    last = samples_to_frame(info.duration_samples - 1, info.video.fps)
    log = _run(clip_tank, last - 27, 1, 25, last)
    assert [f for f, _ in log] == [last - 27]
