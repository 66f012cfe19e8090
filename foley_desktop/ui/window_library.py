"""The main window and the sound library: pin a recording to a segment (drop or the Library
tab), audition one through the output device.
"""

from __future__ import annotations

from pathlib import Path

from foley_desktop.errors import FoleyError


class LibraryMixin:
    """MainWindow's pinning and audition of library sounds."""

    def pin_sound(self, seg_id: str, path: str) -> None:
        """Lay this recording on the segment's markers: pinned, and the segment in library
        mode (one undo step)."""
        seg = self.doc.segment(seg_id)
        if seg is None:
            return
        stack = self.doc.undo_stack
        stack.beginMacro("Pin sound")
        try:
            self._edit(self.doc.set_field, seg_id, "pinned", [path])
            if seg.mode != "library":
                self._edit(self.doc.set_field, seg_id, "mode", "library")
        finally:
            stack.endMacro()
        self.canvas.set_selected([seg_id])
        self.statusBar().showMessage(f"Pinned {Path(path).name}: Generate lays it on the "
                                     f"segment's markers", 4000)

    def _pin_to_selected(self, path: str) -> None:
        ids = list(self.canvas.selected)
        if len(ids) != 1:
            self.statusBar().showMessage("Select one segment to pin the sound to", 3000)
            return
        self.pin_sound(ids[0], path)

    def audition(self, path: str) -> None:
        """Play a library sound through the output device (the clip's playback stops)."""
        from foley_desktop.library.render import load_mono
        from foley_desktop.ui.playback import Mixer, Playback

        self.stop()
        try:
            audio = load_mono(Path(path))
        except FoleyError as exc:
            self.show_error(str(exc))
            return
        if self._audition is None:
            self._audition = Playback(Mixer())
        self._audition.stop()
        self._audition.mixer.clear()
        self._audition.mixer.set_bed("original", audio)
        self._audition_end.start(int(len(audio) / 48) + 300)
        if not self._audition.start(0):
            self._audition_end.stop()
            self.statusBar().showMessage(f"{self._audition.reason}: cannot audition "
                                         f"{Path(path).name}", 4000)
        else:
            self.statusBar().showMessage(f"Auditioning {Path(path).name}", 2000)
