"""Small decisions the window makes about a project, without Qt: where a project's generated
files go, which segment a tapped marker belongs to and what kind it is, and which take A/B
switches to."""

from __future__ import annotations

from pathlib import Path

from foley_desktop.project.model import Project, Segment
from foley_desktop.spotting.markers import Marker


def work_folder(project: Project, cache_dir: str | Path) -> Path:
    """The folder of a project's generated files (takes/, stems/, drag/): beside a saved
    project (its cache folder), in the app cache for one never saved (saving moves them)."""
    if project.path is not None:
        return project.cache_dir
    return Path(cache_dir) / "unsaved" / project.clip_name


def marker_segment(project: Project, t: int, selected: list[str]) -> Segment | None:
    """The segment a marker at `t` goes into: a selected one containing t, else any that
    does (None: no segment there)."""
    inside = [s for s in project.segments if s.start <= t < s.end]
    chosen = [s for s in inside if s.id in selected]
    found = chosen or inside
    return found[0] if found else None


def step_marker(project: Project, t: int, step: int) -> tuple[Segment, Marker] | None:
    """The marker after (`step` > 0) or before (< 0) time `t` over every segment, for the
    review keys (Shift+M / Ctrl+Shift+M, as in Premiere): an editor checks auto-spot's
    proposals one by one on the picture, then nudges or deletes. Markers outside their
    segment's range are not generated from, so they are skipped; None at the end."""
    marks = sorted(((m.time, i, s, m) for i, s in enumerate(project.segments)
                    for m in s.markers_inside()), key=lambda x: (x[0], x[1]))
    found = [x for x in marks if x[0] > t] if step > 0 else [x for x in marks if x[0] < t]
    if not found:
        return None
    _, _, seg, mark = found[0] if step > 0 else found[-1]
    return seg, mark


def fresh_proposals(kept: list[Marker], proposals, frame: int) -> list[Marker]:
    """Auto-spot's proposals less those within about a frame (1.5 x `frame` samples) of a
    marker the editor kept: an auto marker the editor nudged or re-weighted is theirs, and
    proposing it again would put two markers on one event."""
    return [m for m in proposals if all(abs(m.time - k.time) > 1.5 * frame for k in kept)]


def marker_kind(prompt: str) -> str:
    """A tapped marker's kind from the segment's prompt: footsteps for steps and walking."""
    low = prompt.lower()
    return "footstep" if "step" in low or "walk" in low else "hit"


def ab_partner(seg: Segment, previous: str | None) -> str | None:
    """The take A/B switches to: the one active before (when it still exists and is not the
    active one), else the next in the list; None with fewer than two takes."""
    order = [t.id for t in seg.takes]
    if len(order) < 2:
        return None
    if previous is not None and previous != seg.active_take and previous in order:
        return previous
    if seg.active_take in order:
        return order[(order.index(seg.active_take) + 1) % len(order)]
    return order[0]
