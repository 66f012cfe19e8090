"""Small decisions the window makes about a project, without Qt: where a project's generated
files go, which segment a tapped marker belongs to and what kind it is, and which take A/B
switches to."""

from __future__ import annotations

from pathlib import Path

from foley_desktop.project.model import Project, Segment


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
