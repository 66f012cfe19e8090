"""The main window's jobs: generate (selected, all), separate, export through the job queue;
finished takes come back to the undo stack, failed jobs are shown.
"""

from __future__ import annotations

import copy
from pathlib import Path

from foley_desktop.app.editing import work_folder
from foley_desktop.app.generate import job_copy, plan, run_plan
from foley_desktop.errors import FoleyError
from foley_desktop.library.render import NeedsMarkers
from foley_desktop.outpaths import default_folder
from foley_desktop.ui import workers
from foley_desktop.ui.inspector import spot_fix


class JobsMixin:
    """MainWindow's generation, separation and export jobs."""

    def _out_dir(self) -> Path:
        """Where the project's takes go (app.editing.work_folder / takes)."""
        return work_folder(self.doc.project, self.settings.cache_dir) / "takes"

    def generate_selected(self) -> None:
        """Ctrl+G: the selected segments; with none selected it says what to do."""
        if not self._need_clip():
            return
        ids = list(self.canvas.selected)
        if not ids:
            self.statusBar().showMessage(
                "Select a segment to generate (click it on the Foley lane), or Generate all"
                if self.doc.project.segments else
                "Mark a segment first: drag on the Foley lane, or press I and O", 5000)
            return
        self.generate(ids)

    def generate_all(self) -> None:
        if not self._need_clip():
            return
        if not self.doc.project.segments:
            self.statusBar().showMessage(
                "Mark a segment first: drag on the Foley lane, or press I and O", 5000)
            return
        self.generate([s.id for s in self.doc.project.sorted_segments()])

    def generate(self, ids: list[str]) -> list[workers.Job]:
        """One job per segment: its parameters resolved and its missing seeds planned here
        (`app.generate.plan`), the takes made on a worker (`run_plan`, as the CLI's
        `generate --project`); every finished take comes back through `takeReady` to the undo
        stack."""
        if self.doc.project is None or not ids:
            return []
        # Ctrl+G with the cursor still in the prompt (or negative) field: what is typed there
        # is what the editor means to generate, so commit it first.
        self.inspector.commit_pending()
        # Every segment is planned before any job is queued: one refused (no prompt, a model
        # missing, a library segment without markers) leaves the others unqueued too, as the
        # CLI's `generate --project` makes no take then.
        planned = []
        for seg_id in ids:
            seg = self.doc.segment(seg_id)
            if seg is None:
                continue
            if not seg.prompt.strip():
                self.show_error("Type a prompt for the segment before generating")
                self.canvas.set_selected([seg_id])
                self.inspector.prompt.setFocus()
                return []
            # The parameters are resolved here, once (preferences -> segment -> model): the
            # job makes exactly the takes this plan names, each recording these parameters.
            # A library segment without markers for single sounds is refused here by the
            # library's own rule (app.generate.check_library_markers), in the app's words.
            try:
                todo = plan(self.doc.project, [seg_id], prefs=self.settings.preferences(),
                            spot_fix=lambda _p, _s: spot_fix())
            except NeedsMarkers as exc:
                self._refuse_without_markers(seg_id, exc.short)
                return []
            except FoleyError as exc:
                self.show_error(str(exc))
                return []
            planned.append((seg, todo))
        jobs = []
        for seg, todo in planned:
            seg_id = seg.id
            if not todo[0].seeds:
                self.statusBar().showMessage(
                    f"Nothing to generate: the segment has its {seg.variations} take(s) for these "
                    "settings (change the prompt, a setting or the seed for new ones)", 6000)
                continue
            title = f"Generate “{seg.prompt[:40]}” ({len(todo[0].seeds)}×)"
            self.runs.start(seg_id)  # identifies this run's undo entry
            jobs.append(self.jobs.submit(
                title, run_plan, job_copy(self.doc.project, [seg_id]), todo,
                on_take=self.takeReady.emit, take_dir=self._out_dir(), engines=self._engines))
        if jobs:
            self.side_tabs.setCurrentWidget(self.jobs_panel)
        return jobs

    def _refuse_without_markers(self, seg_id: str, text: str) -> None:
        """A library segment with nothing to lay its single sounds on: said where the editor
        is looking (status bar, short enough to be read whole: the segment is selected, its
        Inspector in front with the note under Markers), no job queued, no dialog to dismiss."""
        self.last_error = text
        self.canvas.set_selected([seg_id])
        self.side_tabs.setCurrentWidget(self.inspector)
        self.statusBar().showMessage(text[:1].upper() + text[1:], 12000)

    def _take_ready(self, seg_id: str, take) -> None:
        if self.doc.segment(seg_id) is None:
            return  # deleted while generating: the file stays in the cache
        # The first take of a run becomes active (what the user asked to hear); later variations
        # wait as alternates.
        run, first = self.runs.take(seg_id)
        self.doc.add_run_take(seg_id, take, run, make_active=first)
        if (first and seg_id in self.canvas.selected
                and self.side_tabs.currentWidget() is self.jobs_panel):
            # The selected segment's first new take: show it (the Jobs tab, in front since
            # Generate, hid the take list).
            self.side_tabs.setCurrentWidget(self.inspector)
        if take.mode == "model":   # a library take runs no model: the line stays as it was
            self.inspector.set_provider(f"provider: {take.provider}, {take.variant}")
        if self.doc.project.path is not None:
            # Every finished take is saved at once (the CLI does the same): a crash never
            # loses a take. The write runs off the GUI thread.
            self.doc.save_soon()

    def separate(self) -> workers.Job | None:
        from foley_desktop.app.separate import check_separable, separate_project

        proj = self.doc.project
        if not self._need_clip():
            return None
        try:
            check_separable(proj)   # a clip without sound: said now, not as a failed job
        except FoleyError as exc:
            self.show_error(str(exc))
            return None
        out = self._out_dir().parent / "stems"

        def done(job):
            self.doc.set_stems(job.result.stems, job.result.speech)
            self.canvas.refresh()

        return self.jobs.submit("Separate dialogue / background", separate_project,
                                copy.copy(proj), out, on_done=done)

    def export(self, choice=None) -> workers.Job | None:
        """Export stems, takes and timelines (`choice`: an ExportChoice; None asks)."""
        from foley_desktop.export import export_project
        from foley_desktop.ui.export_dialog import ExportDialog

        proj = self.doc.project
        if not self._need_clip():
            return None
        if choice is None:
            base = default_folder(proj.path if proj.path is not None else proj.media)
            dlg = ExportDialog(str(base / f"{proj.clip_name}_export"),
                               self.settings.get("export_format"), self)
            if dlg.exec() != ExportDialog.DialogCode.Accepted:
                return None
            choice = dlg.choice()
        if not choice.folder:
            self.show_error("Choose a folder to export to")
            return None
        self.settings.set("export_format", choice.format)
        snap = copy.deepcopy(proj)

        def done(job) -> None:
            self.statusBar().showMessage(f"Exported to {choice.folder}", 8000)
            from foley_desktop.ui.export_dialog import ExportResultDialog

            self.export_result = ExportResultDialog(job.result.files, job.result.notes,
                                                    choice.folder, self)
            self.export_result.show()

        return self.jobs.submit("Export", export_project, snap, choice.folder,
                                format=choice.format, stems=choice.stems,
                                timelines=choice.timelines, on_done=done)

    def _job_changed(self, job) -> None:
        """A job that failed says why where the editor is looking, not only in the Jobs
        panel's narrow column (where a Generate that failed was easy to miss)."""
        if job.state == workers.FAILED and job.error:
            self.show_error(f"{job.title} failed: {job.error}")
