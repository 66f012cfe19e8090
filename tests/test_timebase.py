"""Exact conversions between samples, frames, seconds and SMPTE timecode."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foley_desktop.media.timebase import (
    SAMPLE_RATE,
    frame_to_samples,
    frames_to_timecode,
    parse_rate,
    parse_time,
    samples_to_frame,
    samples_to_seconds,
    samples_to_timecode,
    seconds_to_samples,
    timecode_to_frames,
    timecode_to_samples,
)

NTSC = Fraction(30000, 1001)
FILM = Fraction(24000, 1001)
RATES = [FILM, Fraction(24), Fraction(25), NTSC, Fraction(30), Fraction(50),
         Fraction(60000, 1001), Fraction(60)]


def test_seconds_and_samples():
    assert SAMPLE_RATE == 48000
    assert seconds_to_samples("1.5") == 72000
    assert seconds_to_samples(Fraction(1, 3)) == 16000
    assert seconds_to_samples(0.1) == 4800  # 0.1 as written, not its binary value
    assert seconds_to_samples(Fraction(1, 96000)) == 1  # halves round up
    assert samples_to_seconds(72000) == Fraction(3, 2)


def test_ntsc_frames_do_not_drift_over_an_hour():
    frames_per_hour = 107892  # 29.97 fps * 3600 s, exactly 30000/1001 * 3600 rounded down
    assert frame_to_samples(frames_per_hour, NTSC) == round(Fraction(frames_per_hour * 1001, 30000) * 48000)
    # 1001 frames at 29.97 are exactly 1601.6 s ... and 5 of them are 8008 samples.
    assert frame_to_samples(5, NTSC) == 8008
    assert frame_to_samples(1, FILM) == 2002
    assert samples_to_frame(8007, NTSC) == 4
    assert samples_to_frame(8008, NTSC) == 5


def test_drop_frame_known_values():
    # The first frame of minute 1 is labelled ;02 (;00 and ;01 are skipped) ...
    assert frames_to_timecode(1799, NTSC, drop_frame=True) == "00:00:59;29"
    assert frames_to_timecode(1800, NTSC, drop_frame=True) == "00:01:00;02"
    # ... but not at each tenth minute.
    assert frames_to_timecode(17982, NTSC, drop_frame=True) == "00:10:00;00"
    assert frames_to_timecode(107892, NTSC, drop_frame=True) == "01:00:00;00"
    assert timecode_to_frames("01:00:00;00", NTSC) == 107892
    # Non-drop at 29.97 runs slow: an hour of labels is 108000 frames.
    assert timecode_to_frames("01:00:00:00", NTSC) == 108000
    assert frames_to_timecode(1800, Fraction(60000, 1001), drop_frame=True) == "00:00:30;00"
    assert frames_to_timecode(3600, Fraction(60000, 1001), drop_frame=True) == "00:01:00;04"
    with pytest.raises(ValueError, match="does not exist"):
        timecode_to_frames("00:01:00;00", NTSC)
    with pytest.raises(ValueError, match="drop-frame"):
        frames_to_timecode(10, Fraction(25), drop_frame=True)


def test_timecode_at_23976_and_25():
    assert samples_to_timecode(frame_to_samples(24, FILM), FILM) == "00:00:01:00"
    assert timecode_to_samples("00:00:01:00", FILM) == 48048  # 24 frames at 23.976 = 1.001 s
    assert samples_to_timecode(48000 * 3600, Fraction(25)) == "01:00:00:00"
    with pytest.raises(ValueError):
        timecode_to_frames("00:00:00:25", Fraction(25))


def test_parse_time_forms():
    assert parse_time("1.5") == 72000
    assert parse_time("00:00:01.500") == 72000
    assert parse_time("01:02.25") == (62 * 48000 + 12000)
    assert parse_time("00:00:01:12", fps=Fraction(24)) == 72000
    with pytest.raises(ValueError, match="frame rate"):
        parse_time("00:00:01:12")
    with pytest.raises(ValueError):
        parse_time("soon")


def test_parse_rate():
    assert parse_rate("29.97") == NTSC
    assert parse_rate("23.976") == FILM
    assert parse_rate("30000/1001") == NTSC
    assert parse_rate("25") == 25


@settings(max_examples=300, deadline=None)
@given(frame=st.integers(0, 24 * 3600 * 60), fps=st.sampled_from(RATES))
def test_frame_samples_round_trip(frame, fps):
    s = frame_to_samples(frame, fps)
    assert samples_to_frame(s, fps) == frame
    # Every sample before the next frame's start still belongs to this frame.
    assert samples_to_frame(frame_to_samples(frame + 1, fps) - 1, fps) == frame


@settings(max_examples=300, deadline=None)
@given(samples=st.integers(0, 48000 * 3600 * 30), fps=st.sampled_from(RATES))
def test_samples_frame_floor(samples, fps):
    f = samples_to_frame(samples, fps)
    assert frame_to_samples(f, fps) <= samples < frame_to_samples(f + 1, fps)


@settings(max_examples=300, deadline=None)
@given(frame=st.integers(0, 24 * 3600 * 30 - 1),
       fps=st.sampled_from([NTSC, Fraction(60000, 1001)]), drop=st.booleans())
def test_timecode_round_trip(frame, fps, drop):
    tc = frames_to_timecode(frame, fps, drop_frame=drop)
    assert (";" in tc) == drop
    assert timecode_to_frames(tc, fps) == frame


@settings(max_examples=200, deadline=None)
@given(frame=st.integers(0, 24 * 3600 * 24 - 1), fps=st.sampled_from([FILM, Fraction(24), Fraction(25)]))
def test_timecode_samples_round_trip(frame, fps):
    s = frame_to_samples(frame, fps)
    tc = samples_to_timecode(s, fps)
    assert timecode_to_samples(tc, fps) == s


@settings(max_examples=200, deadline=None)
@given(frame=st.integers(0, 107892 * 2))
def test_drop_frame_stays_within_a_frame_of_clock_time(frame):
    """The point of drop-frame: the label's time never drifts from real time (about 2 frames at worst)."""
    tc = frames_to_timecode(frame, NTSC, drop_frame=True)
    hh, mm, ss, ff = (int(x) for x in tc.replace(";", ":").split(":"))
    label_s = hh * 3600 + mm * 60 + ss + Fraction(ff, 30)
    real_s = Fraction(frame) / NTSC
    assert abs(label_s - real_s) < Fraction(7, 100)  # worst case is 2.01 frames, before a drop


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60 * 60 * 60 * 4), min_size=1, max_size=50),
       st.sampled_from([Fraction(24000, 1001), 24, 25, Fraction(30000, 1001), 30, 50,
                        Fraction(60000, 1001), 60]))
def test_frames_to_samples_matches_the_scalar_form(frames, fps):
    from foley_desktop.media.timebase import frame_to_samples, frames_to_samples

    got = frames_to_samples(np.array(frames), fps)
    assert got.dtype == np.int64
    assert got.tolist() == [frame_to_samples(f, fps) for f in frames]
