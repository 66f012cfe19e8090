"""The silhouette walker test (spotting/gait.py): a walker steps across the picture; a part of
a character that rises or sinks while its outline widens (an arm stretched up, a wing, a foot
lifted and put back) is no walker, however straight it moves. Drawn silhouettes on a flat
background, so the rule itself is what is tested (the real clips are in test_spotting_detect)."""

from __future__ import annotations

import numpy as np

from foley_desktop.spotting import gait

FPS = 10.0
N = 20


def _figure(frame: np.ndarray, x: int, y: int, stance: int) -> None:
    """A dark upright figure 60 px high with its top-left at (x, y); its lowest fifth (the
    feet) is `stance` px wide."""
    frame[y:y + 48, x:x + 20] = 20
    frame[y + 48:y + 60, x + 10 - stance // 2:x + 10 + (stance - stance // 2)] = 20


def _clip(dx: int, dy: int, x0: int = 40, y0: int = 20) -> list[np.ndarray]:
    frames = []
    for j in range(N):
        f = np.full((320, 320), 200, np.uint8)
        # The stance opens every 4 frames (a step at 2.5 a second) and closes in between.
        stance = (20, 28, 36, 30)[j % 4]
        _figure(f, x0 + dx * j, y0 + dy * j, stance)
        frames.append(f)
    return frames


def _walkers(frames: list[np.ndarray]) -> list[np.ndarray]:
    bg = np.full(frames[0].shape, 200.0, np.float32)
    return gait.stance_tracks(frames, bg, FPS)


def test_a_figure_stepping_across_the_picture_is_a_walker():
    tracks = _walkers(_clip(dx=10, dy=2))
    assert len(tracks) == 1
    strikes = np.flatnonzero(gait.strike_score(tracks[0]) > 0.1)
    assert len(strikes) >= 4
    assert set(np.diff(strikes)) == {4}


def test_a_figure_rising_or_sinking_in_the_picture_is_no_walker():
    # The same outline and the same opening "stance", moving up or down the picture (like
    # the arm or the wing of a character seen close up): not read as footsteps.
    assert _walkers(_clip(dx=2, dy=10)) == []
    assert _walkers(_clip(dx=-3, dy=-10, x0=150, y0=230)) == []
    # A walker on a diagonal path, a little more across than down, still counts.
    assert len(_walkers(_clip(dx=8, dy=6))) == 1
