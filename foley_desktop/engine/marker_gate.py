"""Quiet between the markers: a generated take faded down away from its spotting markers.

A marker-following model (foley-tiny) places its events on the markers, but between sparse
markers (one hit in a two-second segment) it also makes events of its own. When the editor
has spotted every event, anything between them is unwanted, so a take may be gated: around
each marker a window is kept as generated, from `pre_s` before it to `decay_s` after it (the
sound's decay), and outside the windows the take is faded down to `floor_db` (-40 dB; -inf
would be silence).
The fades are raised-cosine ramps (`fade_in_s` ending where a window starts, `release_s`
starting where it ends), so the gain never steps: at most (1 - floor) * pi / (2 * ramp
samples) per sample. Where two windows are closer than their two ramps, the gap between them
is kept too (a window then runs to the next marker's): short gaps are never pumped.

Continuous sounds (beds: fire, rain, crowd, running water, a passing car) have no events to
gate, and cutting them between markers would make holes the editor did not ask for. The
marker kinds (footstep / hit / other) are all single events and cannot say "bed", so the
prompt decides: `asks_for_bed` reads the prompt (as the model read it: its English reading
and the training prompt it was conditioned on) for words of sustained sounds. The engine's
`auto` keeps such takes whole; `quiet` gates every take that has markers; `keep` never gates.

Numpy only (engine layer, no Qt); the gain is computed per marker over its own span.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from foley_desktop.media.timebase import SAMPLE_RATE as SR

MODES = ("keep", "quiet", "auto")
DEFAULT_MODE = "auto"


# The defaults were chosen on the dev clips of the take evaluation only
# (scripts/eval_spot_to_take.py's clips, model takes with the annotated and the auto-spot
# markers, 2 seeds; docs/spotting.md): a grid over pre 0/20/50 ms, fade-in 5/20 ms, decay
# 0.1/0.2/0.3/0.5 s, release 50/150 ms, floor -20/-40 dB/silence. The longest decay within
# 0.01 of the best mean F1 was taken (0.2 s; 0.1 s scored 0.008 higher, but cuts more of a
# sound's tail), then the best of the rest at that decay. -20 dB changes little: the onset
# reader works on log power, so an event 20 dB down still reads as one.
@dataclass(frozen=True)
class GateParams:
    pre_s: float = 0.02        # kept before each marker (the attack that leads the contact)
    fade_in_s: float = 0.02    # raised-cosine fade-in, ending at marker - pre_s
    decay_s: float = 0.2       # kept after each marker (the sound's decay)
    release_s: float = 0.05    # raised-cosine fade-out, starting at marker + decay_s
    floor_db: float = -40.0    # level between windows (-inf: silence)

    @property
    def floor(self) -> float:
        return 0.0 if self.floor_db == -math.inf else float(10.0 ** (self.floor_db / 20.0))


DEFAULT = GateParams()

# Words of sustained sounds (beds, pass-bys): a prompt with any of them is not gated by
# `auto`. Whole words (a trailing "*" takes any ending), case-insensitive, on the prompt's
# English reading. Erring towards a bed is safe: the take is then kept as before.
BED_WORDS = (
    "rain*", "drizzl*", "downpour*", "storm*", "thunder*", "wind", "winds", "windy",
    "breeze*", "gust*", "blizzard*",
    "fire", "fires", "flame*", "campfire*", "fireplace*", "crackl*", "burning", "lava",
    "sizzl*", "crowd*", "audience*", "cheer*", "applau*", "murmur*", "chatter*", "walla",
    "stream*", "brook*", "river*", "waterfall*", "running water", "water flow*", "flowing",
    "bubbl*", "ocean*", "sea", "waves", "surf", "creek*", "fountain*",
    "traffic", "city", "street noise", "drives past", "driving", "vehicle*", "car passing",
    "motor*", "engine*", "passing", "passes", "rolling", "train", "trains", "airplane*",
    "aircraft", "helicopter*",
    "ambience*", "ambiance*", "ambient", "atmos*", "room tone", "roomtone", "background",
    "hum", "humming", "buzz*", "drone*", "rumbl*", "hiss*", "machinery", "air condition*",
    "forest*", "jungle*", "birdsong*", "birds chirping", "cricket*", "insects", "cicada*",
    "static", "white noise",
)
_BED_RE = re.compile(r"\b(" + "|".join(re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else "")
                                        for w in BED_WORDS) + r")\b", re.IGNORECASE)


def asks_for_bed(*texts: str | None) -> str | None:
    """The first word of a sustained sound found in any of `texts`, or None."""
    for text in texts:
        if text:
            m = _BED_RE.search(text)
            if m:
                return m.group(1).lower()
    return None


def windows(marker_samples: Iterable[int], n: int, params: GateParams = DEFAULT
            ) -> list[tuple[int, int]]:
    """The kept spans [lo, hi) in samples of a take of `n` samples, markers at those sample
    offsets (from the take's first sample), merged where the ramps between two would overlap."""
    pre, dec = round(params.pre_s * SR), round(params.decay_s * SR)
    fin, rel = round(params.fade_in_s * SR), round(params.release_s * SR)
    out: list[tuple[int, int]] = []
    for t in sorted(int(m) for m in marker_samples):
        lo, hi = max(0, t - pre), min(n, t + dec)
        if out and lo - fin <= out[-1][1] + rel:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _ramp(length: int) -> np.ndarray:
    """Raised cosine rising from 0 to 1 over `length` samples (0 and 1 excluded)."""
    k = (np.arange(length, dtype=np.float64) + 1.0) / (length + 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * k)


def gain(n: int, marker_samples: Iterable[int], params: GateParams = DEFAULT) -> np.ndarray:
    """The gate's gain [n] (float64): 1 inside the windows, `floor` far from them, raised-cosine
    ramps between. No markers: the floor everywhere."""
    floor = params.floor
    g = np.full(n, floor, np.float64)
    fin, rel = max(1, round(params.fade_in_s * SR)), max(1, round(params.release_s * SR))
    up, down = _ramp(fin), _ramp(rel)[::-1]
    for lo, hi in windows(marker_samples, n, params):
        g[lo:hi] = 1.0
        a = max(0, lo - fin)
        seg = floor + (1.0 - floor) * up[fin - (lo - a):]
        g[a:lo] = np.maximum(g[a:lo], seg)
        b = min(n, hi + rel)
        seg = floor + (1.0 - floor) * down[: b - hi]
        g[hi:b] = np.maximum(g[hi:b], seg)
    return g


def apply(audio: np.ndarray, marker_samples: Iterable[int], params: GateParams = DEFAULT
          ) -> np.ndarray:
    """`audio` (float, mono) gated around the markers (sample offsets from its first sample);
    samples inside the windows are returned unchanged."""
    a = np.asarray(audio)
    g = gain(len(a), marker_samples, params)
    out = (a.astype(np.float64) * g).astype(a.dtype)
    inside = g == 1.0
    out[inside] = a[inside]          # bit-exact where the gain is 1
    return out
