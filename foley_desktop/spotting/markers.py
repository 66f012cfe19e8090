"""Spotting markers: the moments in a segment where a sound must start.

Sound editors "spot" a scene before they lay sound: every footstep, hit and door gets a mark.
A marker is a time (integer samples at 48 kHz from the clip's first frame, like every project
time), a kind and a strength. Auto-spot proposes them from the picture; the editor corrects
them; the library renderer places a recording on each one and a marker-conditioned model
places its events on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

KINDS = ("footstep", "hit", "other")


@dataclass(frozen=True, order=True)
class Marker:
    time: int               # samples at 48 kHz from the clip's first frame
    kind: str = "other"     # one of KINDS
    strength: float = 1.0   # 0..1: how loud the event should be relative to the loudest
    source: str = "user"    # "user" (placed or corrected by the editor) or "auto" (auto-spot)

    def __post_init__(self) -> None:
        if isinstance(self.time, bool) or not isinstance(self.time, int) or self.time < 0:
            raise ValueError(f"marker time must be a non-negative integer of samples, got {self.time!r}")
        if self.kind not in KINDS:
            raise ValueError(f"marker kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        s = self.strength
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or not 0 <= s <= 1:
            raise ValueError(f"marker strength must be a number from 0 to 1, got {s!r}")
        if self.source not in ("user", "auto"):
            raise ValueError(f"marker source must be user or auto, got {self.source!r}")

    def moved(self, time: int) -> Marker:
        return replace(self, time=int(time), source="user")

    def with_strength(self, strength: float) -> Marker:
        return replace(self, strength=float(strength), source="user")

    def to_dict(self) -> dict:
        return {"time": self.time, "kind": self.kind, "strength": round(float(self.strength), 4),
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> Marker:
        return cls(time=d["time"], kind=d.get("kind", "other"),
                   strength=float(d.get("strength", 1.0)), source=d.get("source", "user"))


def sorted_unique(markers, min_gap: int = 0) -> list[Marker]:
    """Markers in time order, later duplicates (closer than `min_gap` samples) dropped."""
    out: list[Marker] = []
    for m in sorted(markers, key=lambda m: m.time):
        if out and m.time - out[-1].time <= min_gap and min_gap > 0:
            continue
        if out and m.time == out[-1].time:
            continue
        out.append(m)
    return out


def parse_list(text: str, parse_time, default_kind: str = "other") -> list[Marker]:
    """`"1.2,2.05@hit,00:00:03:12@footstep@0.5"` -> markers; each item is a time (anything
    `parse_time` reads) optionally followed by `@kind` and `@strength`. Raises ValueError
    naming the bad item."""
    out = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        kind, strength = default_kind, 1.0
        parts = item.split("@")
        # "@" separates the optional kind and strength so timecodes (with ':') stay intact.
        time_text = parts[0]
        if len(parts) > 1:
            kind = parts[1] or default_kind
        if len(parts) > 2:
            try:
                strength = float(parts[2])
            except ValueError:
                raise ValueError(f"bad marker {item!r}: strength {parts[2]!r} is not a number") from None
        if len(parts) > 3:
            raise ValueError(f"bad marker {item!r}: expected TIME[@KIND[@STRENGTH]]")
        try:
            t = parse_time(time_text)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"bad marker time {time_text!r}: {exc}") from None
        out.append(Marker(int(t), kind, strength))
    return sorted_unique(out)
