"""The main window's edits on the timeline: segments (drag, I/O marks), markers (M, nudge,
delete, drag, auto-spot), delete, A/B between takes. Every edit goes through `Document`
(undoable); a refused one is shown, never raised.
"""

from __future__ import annotations

import math

from foley_desktop.app.editing import (
    ab_partner,
    fresh_proposals,
    marker_kind,
    marker_segment,
    step_marker,
)
from foley_desktop.errors import FoleyError
from foley_desktop.media.timebase import frame_to_samples, samples_to_timecode

OPEN_A_CLIP = "Open a clip first: Ctrl+O, or drop a video on the window"


class EditingMixin:
    """MainWindow's segment, marker and take edits."""

    def _edit(self, fn, *args) -> bool:
        try:
            fn(*args)
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        return True

    def _need_clip(self) -> bool:
        """False (and the status bar says to open a clip) while no clip is open: a key pressed
        then says why nothing happened."""
        if self.doc.project is None:
            self.statusBar().showMessage(OPEN_A_CLIP, 4000)
            return False
        return True

    def _create_segment(self, start: int, end: int) -> None:
        prompt_default = ""
        try:
            seg = self.doc.add_segment(start, end, prompt_default,
                                       model=self.settings.get("default_model") or None,
                                       precision=self.settings.get("precision"))
        except FoleyError as exc:
            self.show_error(str(exc))
            return
        self.canvas.set_selected([seg.id])
        self.side_tabs.setCurrentWidget(self.inspector)
        self.inspector.prompt.setFocus()

    def set_mark_in(self) -> None:
        if not self._need_clip():
            return
        self.mark_in = self.transport.position
        self.canvas.set_mark_in(self.mark_in)
        self.statusBar().showMessage("In point set; press O at the out point", 3000)

    def set_mark_out(self) -> None:
        if not self._need_clip():
            return
        out = self.transport.position
        if self.mark_in is None or out <= self.mark_in:
            self.statusBar().showMessage("Set an in point (I) before the out point", 3000)
            return
        start = self.mark_in
        self.mark_in = None
        self.canvas.set_mark_in(None)
        self.statusBar().clearMessage()   # "press O at the out point" is done
        self._create_segment(start, out)

    # ------------------------------------------------------------------ spotting
    def add_marker(self) -> None:
        """M: a marker at the sample being heard now. While playing, the transport's clock is
        the audio device's (output latency taken off), so a tap lands on the sound the editor
        reacted to, not on the one still in the buffer."""
        if not self._need_clip():
            return
        t = self.transport.position
        seg = marker_segment(self.doc.project, t, self.canvas.selected)
        if seg is None:
            self.statusBar().showMessage("Markers go inside a segment: mark one first (I / O)",
                                         3000)
            return
        from foley_desktop.spotting.markers import Marker

        marks = seg.markers + [Marker(t, marker_kind(seg.prompt))]
        if self._edit(self.doc.set_field, seg.id, "markers", marks, "add marker"):
            # Selected, so Alt+arrows and Delete act on the marker just tapped.
            self.canvas.select_marker(seg.id, t)
            self.statusBar().showMessage(
                f"Marker at {samples_to_timecode(t, self.doc.fps)} "
                f"({len(seg.markers_inside())} in the segment)", 1500)

    def _move_marker(self, seg_id: str, old: int, new: int) -> None:
        seg = self.doc.segment(seg_id)
        if seg is None:
            return
        marks = [m.moved(new) if m.time == old else m for m in seg.markers]
        if self._edit(self.doc.set_field, seg_id, "markers", marks, "move marker"):
            self.statusBar().showMessage(
                f"Marker moved to {samples_to_timecode(new, self.doc.fps)} (now yours)", 2000)
        self.canvas.select_marker(seg_id, new)

    def nudge_marker(self, frames: int) -> None:
        sel = self.canvas.selected_marker
        seg = self.doc.segment(sel[0]) if sel else None
        if seg is None:
            return
        step = frame_to_samples(1, self.doc.fps)
        new = max(seg.start, min(seg.end - 1, sel[1] + frames * step))
        if new != sel[1]:
            self._move_marker(seg.id, sel[1], new)

    def marker_strength(self, step: int) -> None:
        """Alt+Up / Alt+Down: the selected marker a quarter stronger / weaker (0.25..1). A
        marker's strength is how hard the event lands: library hits are laid louder or softer
        and the model plays weak marks faintly. Auto-spot proposes full-strength marks."""
        sel = self.canvas.selected_marker
        seg = self.doc.segment(sel[0]) if sel else None
        if seg is None:
            self.statusBar().showMessage("Select a marker first (click its flag, or Shift+M)",
                                         3000)
            return
        old = next((m for m in seg.markers if m.time == sel[1]), None)
        if old is None:
            return
        q = old.strength * 4   # to the next quarter up or down, from any strength
        q = math.floor(q + 1e-6) + 1 if step > 0 else math.ceil(q - 1e-6) - 1
        new = min(1.0, max(0.25, q / 4))
        if new == old.strength:
            return
        marks = [m.with_strength(new) if m is old else m for m in seg.markers]
        if self._edit(self.doc.set_field, seg.id, "markers", marks, "marker strength"):
            self.statusBar().showMessage(f"Marker strength {new:.2f}", 1500)

    def goto_marker(self, step: int) -> None:
        """Shift+M / Ctrl+Shift+M: the playhead to the next / previous marker, selected, so
        Alt+Left/Right and Delete act on it at once; the status bar says whose it is."""
        if not self._need_clip():
            return
        # From the selected marker when there is one: the playhead cannot go past the last
        # frame's start, and a marker after it would be found again and again.
        sel = self.canvas.selected_marker
        here = sel[1] if sel is not None else self.transport.position
        found = step_marker(self.doc.project, here, step)
        if found is None:
            self.statusBar().showMessage(
                f"No marker {'after' if step > 0 else 'before'} the playhead", 2000)
            return
        seg, mark = found
        self.seek(mark.time)
        self.canvas.set_selected([seg.id])
        self.canvas.select_marker(seg.id, mark.time)
        inside = seg.markers_inside()
        n = inside.index(mark) + 1
        whose = "auto-spot" if mark.source == "auto" else "yours"
        self.statusBar().showMessage(
            f"Marker {n} of {len(inside)}: {mark.kind}, {whose}, at "
            f"{samples_to_timecode(mark.time, self.doc.fps)}", 3000)

    def delete_marker(self) -> bool:
        sel = self.canvas.selected_marker
        seg = self.doc.segment(sel[0]) if sel else None
        if seg is None or not any(m.time == sel[1] for m in seg.markers):
            return False
        if self._edit(self.doc.set_field, seg.id, "markers",
                      [m for m in seg.markers if m.time != sel[1]], "delete marker"):
            self.statusBar().showMessage("Marker deleted (Ctrl+Z brings it back)", 2000)
        self.canvas.select_marker(None, None)
        return True

    def spot_region(self) -> None:
        """R: draw the selected segment's auto-spot region on the picture."""
        if not self._need_clip():
            return
        if len(self.canvas.selected) != 1:
            self.statusBar().showMessage("Select one segment to draw its auto-spot region", 3000)
            return
        self.inspector.set_selection(list(self.canvas.selected))
        self.inspector.begin_region()
        self.statusBar().showMessage("Drag a rectangle on the picture (Esc cancels)", 4000)

    def auto_spot(self, ids: list[str]) -> None:
        """Auto-spot in the job queue; the proposals replace earlier auto-spot markers of the
        segment and keep the editor's own. A segment with a region (Segment.spot_roi, drawn on
        the preview from the inspector's Region…) is spotted in that region only."""
        proj = self.doc.project
        if not self._need_clip():
            return
        segs = [s for s in (self.doc.segment(i) for i in ids) if s is not None]
        if proj is None or not segs:
            self.statusBar().showMessage("Select a segment to auto-spot", 3000)
            return
        from foley_desktop.spotting.detect import spot

        for seg in segs:
            def done(job, seg_id=seg.id):
                s = self.doc.segment(seg_id)
                if s is None:
                    return
                keep = [m for m in s.markers if m.source != "auto"]
                new = fresh_proposals(keep, job.result, frame_to_samples(1, self.doc.fps))
                self._edit(self.doc.set_field, seg_id, "markers", keep + new, "auto-spot")
                dropped = len(job.result) - len(new)
                self.statusBar().showMessage(
                    f"Auto-spot: {len(new)} marker(s)"
                    + (f" ({dropped} more already marked by you)" if dropped else "")
                    + (" in the segment's region" if s.spot_roi is not None else "")
                    + "; Shift+M steps through them", 4000)

            where = " (region)" if seg.spot_roi is not None else ""
            self.jobs.submit(f"Auto-spot {samples_to_timecode(seg.start, self.doc.fps)}{where}",
                             spot, proj.media, seg.start, seg.end, on_done=done,
                             roi=seg.spot_roi)

    def delete_selected(self) -> None:
        if self.delete_marker():
            return
        ids = list(self.canvas.selected)
        if ids:
            self._edit(self.doc.remove_segments, ids)
            self.canvas.set_selected([])

    def ab_toggle(self) -> None:
        if not self._need_clip():
            return
        ids = self.canvas.selected
        seg = self.doc.segment(ids[0]) if len(ids) == 1 else None
        prev = ab_partner(seg, self._prev_take.get(seg.id)) if seg is not None else None
        if seg is None or prev is None:   # B did nothing: say why
            self.statusBar().showMessage(
                "A/B: select one segment" if seg is None else
                "A/B needs two takes: set Variations to 2 or more and Generate", 4000)
            return
        self._prev_take[seg.id] = seg.active_take
        self.doc.set_active_take(seg.id, prev)
        self.statusBar().showMessage(f"Active take: {[t.id for t in seg.takes].index(prev) + 1}",
                                     2000)

