"""The Export dialog: output folder, audio format, which stems and which timelines.

It only gathers choices; `MainWindow.export` runs `foley_desktop.export.export_project` with
them as a job (the same call the CLI's `export` command makes). When the job is done,
`ExportResultDialog` lists the files it wrote: drag them straight into an editing app (file
URLs, like every drag out of the app), or reveal the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from foley_desktop.export.export import DEFAULT_STEMS, DEFAULT_TIMELINES
from foley_desktop.export.stems import FORMATS
from foley_desktop.export.timeline import FORMATS as TIMELINE_FORMATS
from foley_desktop.ui.drag_out import PATH_ROLE, FileList

ALL_STEMS = ("foley", "background", "dialogue", "mix")
# What an editor reads for each format code (the CLI's flags keep the codes).
FORMAT_LABELS = {"wav24": "WAV, 48 kHz 24-bit", "wav32f": "WAV, 48 kHz 32-bit float"}
TIMELINE_LABELS = {"otio": ("OTIO", "OpenTimelineIO: Resolve, Kdenlive, OTIO tools"),
                   "fcp7xml": ("FCP7 XML", "Premiere Pro, DaVinci Resolve"),
                   "fcpxml": ("FCPXML", "Final Cut Pro, DaVinci Resolve"),
                   "edl": ("EDL", "CMX 3600 edit decision list: any editor"),
                   "aaf": ("AAF", "Avid Media Composer, Pro Tools"),
                   "kdenlive": ("Kdenlive", "a Kdenlive project (renders with melt)")}


def format_label(code: str) -> str:
    return FORMAT_LABELS.get(code, code)


@dataclass
class ExportChoice:
    folder: str
    format: str = "wav24"
    stems: list[str] = field(default_factory=lambda: list(DEFAULT_STEMS))
    timelines: list[str] = field(default_factory=lambda: list(DEFAULT_TIMELINES))


class ExportDialog(QDialog):
    def __init__(self, folder: str, fmt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        form = QFormLayout(self)
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.format = QComboBox()
        for code in FORMATS:
            self.format.addItem(format_label(code), code)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt if fmt in FORMATS
                                                                else "wav24")))
        form.addRow("Format", self.format)
        self.stems = {}
        srow = QHBoxLayout()
        for s in ALL_STEMS:
            box = QCheckBox(s)
            box.setChecked(s in DEFAULT_STEMS)
            self.stems[s] = box
            srow.addWidget(box)
        form.addRow("Stems", srow)
        self.timelines = {}
        trow = QHBoxLayout()
        for t in TIMELINE_FORMATS:
            label, apps = TIMELINE_LABELS.get(t, (t, ""))
            box = QCheckBox(label)
            box.setToolTip(f"{label}: {apps}" if apps else label)
            box.setChecked(t in DEFAULT_TIMELINES)
            self.timelines[t] = box
            trow.addWidget(box)
        form.addRow("Timelines", trow)
        hint = QLabel("Premiere: FCP7 XML · Final Cut: FCPXML · Avid / Pro Tools: AAF · "
                      "Resolve: any of OTIO, FCP7 XML, FCPXML")
        hint.setWordWrap(True)
        form.addRow("", hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                   QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def choice(self) -> ExportChoice:
        return ExportChoice(self.folder.text().strip(), self.format.currentData(),
                            [s for s, b in self.stems.items() if b.isChecked()],
                            [t for t, b in self.timelines.items() if b.isChecked()])


class ExportResultDialog(QDialog):
    """What an export wrote, as a list to drag from (text/uri-list), plus its notes."""

    def __init__(self, files: list[Path], notes: list[str], folder: str | Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export finished")
        self.folder = Path(folder)
        lay = QVBoxLayout(self)
        head = QLabel(f"{len(files)} file{'s' if len(files) != 1 else ''} written to "
                      f"{self.folder}. Drag them into your editing app.")
        head.setWordWrap(True)
        lay.addWidget(head)
        self.files = FileList()
        self.files.setToolTip("Drag files into your editing app or a folder (select several "
                              "with Shift or Ctrl)")
        for f in files:
            item = QListWidgetItem(Path(f).name)
            item.setData(PATH_ROLE, str(f))
            item.setToolTip(str(f))
            self.files.addItem(item)
        lay.addWidget(self.files, 1)
        if notes:
            note = QLabel("\n".join(notes))
            note.setWordWrap(True)
            note.setStyleSheet("color: #8b8f97;")
            lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.reveal = buttons.addButton("Reveal folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.reveal.setToolTip("Open the export folder in the file manager")
        self.reveal.clicked.connect(self.reveal_folder)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(560, 360)

    def reveal_folder(self) -> bool:
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder)))
