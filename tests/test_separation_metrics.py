"""The separation evaluation's pause measures and its cut-to-the-voice selection lines, on
signals built by hand (docs/separation.md, issue #29's eleventh round)."""

from __future__ import annotations

import numpy as np
import pytest

from foley_desktop.separation import evaluate as ev

F = 960  # the pause measure's 20 ms frame


def _case():
    """Speech in frames 4-5 of ten; the dialogue stem leaks 0.1 (amplitude) in frame 3,
    right before the words, and 0.01 in frame 0, across the pause; the mixture is 1."""
    s = np.zeros(10 * F, np.float32)
    s[4 * F:6 * F] = 1.0
    d = np.zeros_like(s)
    d[3 * F:4 * F] = 0.1
    d[:F] = 0.01
    return d, s, np.ones_like(s)


def test_pause_residual_counts_every_quiet_frame():
    d, s, x = _case()
    # (0.1^2 + 0.01^2) * 960 over 8 quiet frames of 960
    want = 10 * np.log10((0.01 + 1e-4) / 8)
    assert ev.pause_residual_db(d, s, x) == pytest.approx(want, abs=1e-4)


def test_pause_residual_far_from_speech_leaves_out_the_frames_touching_words():
    d, s, x = _case()
    # frames 3 and 6 touch the words: 6 quiet frames left, only frame 0 leaks
    assert ev.pause_residual_db(d, s, x, skip_frames=1) == pytest.approx(
        10 * np.log10(1e-4 / 6), abs=1e-4)
    # nothing quiet left far enough from speech: not a number, not a crash
    assert np.isnan(ev.pause_residual_db(d, s, x, skip_frames=5))


def test_trimmed_cuts_recorded_silence_to_the_voice():
    rng = np.random.default_rng(0)
    voice = rng.standard_normal(4800).astype(np.float32)
    hiss = 1e-3 * rng.standard_normal(9600).astype(np.float32)  # 60 dB down: cut
    x = np.concatenate([hiss, voice, hiss[:4800]])
    y = ev.trimmed(x)
    assert len(y) == 4800 and np.array_equal(y, voice)
    # a quiet tail within 40 dB of the loudest frame is voice, and stays
    x2 = np.concatenate([voice, 0.05 * voice])
    assert len(ev.trimmed(x2)) == len(x2)
