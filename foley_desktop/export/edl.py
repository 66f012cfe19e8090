"""CMX 3600 edit decision lists: one list per Foley track (a CMX list holds a single track).

Each event places one take file: its reel is unique in the project (FX001, FX002 … in time
order, 8 characters at most), the source in/out are the file's own timecode from its first to
its last frame (the file is frame aligned, so they never fall outside it), and the record in/out
are the clip's timecode at the take's frames. An `FCM:` line says whether the counts are drop
frame. Comments carry the file name (`FROM CLIP NAME`), its path (`FROM FILE` for OpenTimelineIO,
`SOURCE FILE` for Avid and pycmx), the prompt, and the take's markers as `LOC` lines with their
colour (auto-spot CYAN, the editor's YELLOW, the prompt GREEN), kind, source and strength.
"""

from __future__ import annotations

import re

from foley_desktop.export.placement import Plan


def _ascii(text: str) -> str:
    # EDLs are 7-bit text read by old tools; keep printable ASCII on one line.
    return re.sub(r"[^\x20-\x7e]", "?", text).strip()


def edl_text(plan: Plan, track_index: int) -> str:
    track = plan.foley_tracks[track_index]
    rate = plan.rate
    lines = [f"TITLE: {_ascii(plan.name)[:60]} {track.name}",
             f"FCM: {'DROP FRAME' if rate.drop_frame else 'NON-DROP FRAME'}", ""]
    for n, it in enumerate(track.items, start=1):
        src_in, src_out = rate.timecode(it.source_tc), rate.timecode(it.source_tc + it.frames)
        rec_in = rate.timecode(plan.tc0 + it.record)
        rec_out = rate.timecode(plan.tc0 + it.end)
        # event, reel (8), channel (A = audio 1), transition (C = cut), then the four times.
        lines.append(f"{n:03d}  {it.reel:<8} A     C        {src_in} {src_out} {rec_in} {rec_out}")
        lines.append(f"* FROM CLIP NAME: {_ascii(it.name)}")
        lines.append(f"* FROM FILE: {_ascii(str(it.path))}")  # what OpenTimelineIO reads
        lines.append(f"* SOURCE FILE: {_ascii(str(it.path))}")  # what Avid and pycmx read
        if it.prompt:
            lines.append(f"* COMMENT: {_ascii(it.prompt)[:200]}")
        # Locators (Avid, OpenTimelineIO): the marker's timecode (the file's own, which is the
        # clip's at that frame), its colour and text.
        for m in it.markers:
            lines.append(f"* LOC: {rate.timecode(it.source_tc + m.frame)} {m.color:<7} "
                         f"{_ascii(m.label)[:80]}")
        lines.append("")
    return "\r\n".join(lines)


def edls(plan: Plan) -> dict[str, str]:
    """{track name without spaces: list text} for every Foley track."""
    return {t.name.replace(" ", ""): edl_text(plan, i) for i, t in enumerate(plan.foley_tracks)}
