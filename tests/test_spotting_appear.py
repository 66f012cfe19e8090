"""Picture-change events (spotting/appear.py): a thing that appears and stays is an event;
a blink, a flicker and motion are not. Synthetic frames with the sizes of a screen recording."""

from __future__ import annotations

import numpy as np

from foley_desktop.spotting import appear

FPS = 30.0


def _frames(n: int = 90) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(20, 40, (270, 480)).astype(np.uint8)   # a dark, textured screen
    return [base.copy() for _ in range(n)]


def _glyph(f: np.ndarray, x: int, y: int = 100) -> None:
    f[y:y + 12, x:x + 2] = 220
    f[y:y + 2, x:x + 8] = 220
    f[y + 5:y + 7, x:x + 6] = 220


def test_characters_that_appear_and_stay_are_events_at_their_first_frame():
    frames = _frames()
    keys = [20, 24, 40]                  # two keys 130 ms apart, then a pause
    for j in range(len(frames)):
        for i, k in enumerate(keys):
            if j >= k:
                _glyph(frames[j], 50 + 12 * i)
    score = appear.appearances(frames, FPS)
    assert list(np.flatnonzero(score > 0)) == keys
    assert (score[keys] > 0.5).all()     # contrast of a bright glyph on a dark screen


def test_a_blinking_cursor_is_not_an_event():
    frames = _frames()
    for j in range(len(frames)):
        if (j // 18) % 2 == 0:           # 0.6 s on, 0.6 s off
            frames[j][100:112, 200:208] = 220
    assert not appear.appearances(frames, FPS).any()


def test_a_moving_object_and_a_whole_picture_change_are_not_events():
    frames = _frames()
    for j in range(len(frames)):
        frames[j][150:170, 10 + 4 * j:30 + 4 * j] = 200          # slides along
    for j in range(60, len(frames)):
        frames[j][:] = 200                                        # a light goes on: all of it
    assert not appear.appearances(frames, FPS).any()
