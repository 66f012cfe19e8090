"""The timeline's mix, in plain numpy (no Qt, no audio device): `ui/playback.py` plays it.

Lanes: the original audio, the dialogue and background stems (whole-lane arrays, memory-mapped
for long clips), and the Foley lane's active takes placed at their segments' starts; each with
gain, mute and solo. Rendered forwards or, for the J/L shuttle, backwards and faster
(`render_shuttle`). The window changes it through its methods (`set_bed`, `drop_bed`,
`set_clips`, `set_lane`, `clear`) while the audio thread renders: each replaces a whole value,
never edits one in place, so a render sees either the old or the new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LANE_KEYS = ("original", "dialogue", "background", "foley")


@dataclass
class LaneMix:
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False

    @property
    def gain(self) -> float:
        return float(10 ** (self.gain_db / 20))


@dataclass
class Mixer:
    """Sources per lane: whole-lane arrays [ch, n] or clips (start, mono array) for Foley."""

    lanes: dict[str, LaneMix] = field(default_factory=lambda: {k: LaneMix() for k in LANE_KEYS})
    beds: dict[str, np.ndarray] = field(default_factory=dict)  # key -> float32 [ch, n]
    clips: list[tuple[int, np.ndarray]] = field(default_factory=list)  # Foley: (start, mono)

    # ---- changes (the window's; see the module's docstring)
    def set_bed(self, key: str, audio: np.ndarray) -> None:
        """A whole-lane source: float32 [channels, n] (or mono [n]) from the clip's start."""
        beds = dict(self.beds)
        beds[key] = audio if audio.ndim == 2 else audio[None, :]
        self.beds = beds

    def drop_bed(self, key: str) -> None:
        if key in self.beds:
            self.beds = {k: v for k, v in self.beds.items() if k != key}

    def set_clips(self, clips: list[tuple[int, np.ndarray]]) -> None:
        """The Foley lane: (start sample, mono float32) per active take."""
        self.clips = list(clips)

    def set_lane(self, key: str, gain_db: float, mute: bool, solo: bool) -> None:
        lanes = dict(self.lanes)
        lanes[key] = LaneMix(gain_db, mute, solo)
        self.lanes = lanes

    def clear(self) -> None:
        """Nothing to play (another clip is opening)."""
        self.beds = {}
        self.clips = []

    def audible(self, key: str) -> bool:
        soloed = [k for k, m in self.lanes.items() if m.solo]
        lane = self.lanes[key]
        return (key in soloed) if soloed else not lane.mute

    def render(self, start: int, n: int) -> np.ndarray:
        """Stereo float32 [2, n] for [start, start + n)."""
        out = np.zeros((2, n), np.float32)
        if n <= 0:
            return out
        for key, bed in self.beds.items():
            if not self.audible(key):
                continue
            a, b = max(0, start), min(bed.shape[1], start + n)
            if b <= a:
                continue
            part = bed[:, a:b] * self.lanes[key].gain
            if part.shape[0] > 2:  # surround: fold down to the front pair's average
                part = part.mean(axis=0, keepdims=True)
            out[:, a - start:b - start] += part  # mono broadcasts to both channels
        if self.audible("foley"):
            g = self.lanes["foley"].gain
            for cs, audio in self.clips:
                a, b = max(start, cs), min(start + n, cs + len(audio))
                if b > a:
                    out[:, a - start:b - start] += audio[a - cs:b - cs] * g
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def render_shuttle(self, start: int, frames: int, rate: int) -> tuple[np.ndarray, int]:
        """`frames` output samples [2, frames] played at `rate` from `start`, and the source
        position after them.

        rate 1 is plain playback. Faster or backwards (L/J shuttle) reads |rate| * frames
        source samples, in reverse order for a negative rate (the block just before `start`,
        so the memory-mapped lanes are still read in contiguous blocks, walking backwards), and
        decimates by averaging each run of |rate| samples: a box filter, crude but enough
        against aliasing for scrubbing, and exact in time (no pitch-preserving stretch: the
        pitch rises with the speed, as on a tape machine).
        """
        speed = abs(int(rate))
        if speed == 0:
            return np.zeros((2, frames), np.float32), start
        span = speed * frames
        if rate > 0:
            src, nxt = self.render(start, span), start + span
        else:
            src, nxt = self.render(start - span, span)[:, ::-1], start - span
        if speed > 1:
            src = src.reshape(2, frames, speed).mean(axis=2, dtype=np.float32)
        return src, nxt
