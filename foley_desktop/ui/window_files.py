"""The main window's files: open (dialogs, and `open_path`, which drops and recent files use
too), save / save as, recent files, the autosave timer's write and the recovery of never-saved
projects at launch.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from foley_desktop.errors import FoleyError
from foley_desktop.outpaths import default_folder
from foley_desktop.project import autosave

VIDEO_FILTER = "Video (*.mp4 *.mov *.mkv *.m4v *.avi *.webm *.mxf);;All files (*)"


class FilesMixin:
    """MainWindow's open, save, recent files and autosave."""

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", "Foley project (*.foley)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        path = str(path)
        try:
            if path.endswith(".foley"):
                self.doc.open_project(path, recover=self.ask_recover, relink=self.ask_relink)
            else:
                self.doc.open_media(path)
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        self.settings.add_recent(path)
        return True

    def offer_untitled_recovery(self) -> bool:
        """At launch: offer never-saved projects whose window was killed; True if one opened."""
        try:
            found = autosave.find_untitled_recoveries([self.settings.cache_dir / "unsaved"])
        except OSError:
            return False
        for auto in found:
            answer = self.ask_recover_untitled(auto)
            if answer == "discard":
                autosave.discard_untitled(auto)
            elif answer == "recover":
                try:
                    self.doc.open_recovered(autosave.load_untitled_recovery(auto))
                except FoleyError as exc:
                    self.show_error(str(exc))
                    return False
                self.statusBar().showMessage("Recovered the unsaved project: save it to keep it",
                                             8000)
                return True
        return False

    def _untitled_folder(self) -> Path | None:
        """Where a never-saved project's takes and autosave live (None once it has a file)."""
        proj = self.doc.project
        return None if proj is None or proj.path is not None else self._out_dir().parent

    def autosave(self) -> Path | None:
        """Write the autosave of a modified project (the timer calls this)."""
        if self.doc.project is None or self.doc.undo_stack.isClean():
            return None
        try:
            return autosave.write_autosave(self.doc.project, self._untitled_folder())
        except FoleyError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return None

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for f in files:
            act = self.recent_menu.addAction(f)
            act.triggered.connect(lambda _=False, p=f: self.open_path(p))

    def save(self) -> bool:
        if self.doc.project is None:
            return False
        if self.doc.project.path is None:
            return self.save_as()
        try:
            self.doc.save()
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        self.statusBar().showMessage(f"Saved {self.doc.project.path}", 4000)
        return True

    def save_as(self) -> bool:
        if self.doc.project is None:
            return False
        media = self.doc.project.media
        default = str(default_folder(media) / f"{media.stem}.foley")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", default,
                                              "Foley project (*.foley)")
        if not path:
            return False
        untitled = self._untitled_folder()
        try:
            self.doc.save(path)
        except FoleyError as exc:
            self.show_error(str(exc))
            return False
        if untitled is not None:
            autosave.discard_autosave(self.doc.project, untitled)  # it has a file now
        self.settings.add_recent(path)
        self._update_title()
        return True
