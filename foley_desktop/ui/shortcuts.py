"""Keyboard shortcuts: the one table the window binds and the help dialog lists."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# action name -> (key sequence(s), description). main_window binds every entry.
SHORTCUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "open": (("Ctrl+O",), "Open a video (or drop one on the window)"),
    "open_project": (("Ctrl+Shift+O",), "Open a .foley project"),
    "save": (("Ctrl+S",), "Save the project"),
    "save_as": (("Ctrl+Shift+S",), "Save the project as…"),
    "undo": (("Ctrl+Z",), "Undo"),
    "redo": (("Ctrl+Shift+Z", "Ctrl+Y"), "Redo"),
    "delete": (("Delete", "Backspace"), "Delete the selected marker, else the selected segments"),
    "play": (("Space",), "Play / pause"),
    "shuttle_back": (("J",), "Play backwards; again: faster"),
    "shuttle_stop": (("K",), "Stop"),
    "shuttle_fwd": (("L",), "Play forwards; again: faster"),
    "prev_frame": (("Left",), "Previous frame"),
    "next_frame": (("Right",), "Next frame"),
    "back_second": (("Shift+Left",), "Back one second"),
    "fwd_second": (("Shift+Right",), "Forward one second"),
    "home": (("Home",), "Go to the start"),
    "end": (("End",), "Go to the end"),
    "mark_in": (("I",), "Mark in at the playhead"),
    "mark_out": (("O",), "Mark out at the playhead: creates a segment from in to out"),
    "marker": (("M",), "Spot: add a marker at the sound you hear (tap while playing)"),
    "marker_back": (("Alt+Left",), "Nudge the selected marker one frame earlier"),
    "marker_fwd": (("Alt+Right",), "Nudge the selected marker one frame later"),
    "marker_up": (("Alt+Up",), "The selected marker stronger (louder hit)"),
    "marker_down": (("Alt+Down",), "The selected marker weaker (softer hit)"),
    "next_marker": (("Shift+M",), "Go to the next marker and select it (review auto-spot)"),
    "prev_marker": (("Ctrl+Shift+M",), "Go to the previous marker and select it"),
    "spot_region": (("R",), "Draw the auto-spot region on the picture (one walker among several)"),
    "auto_spot": (("Ctrl+M",), "Auto-spot: propose markers from the picture"),
    "generate": (("Ctrl+G",), "Generate the selected segments"),
    "generate_all": (("Ctrl+Shift+G",), "Generate every segment"),
    "ab": (("B",), "A/B: switch to the previously active take"),
    "zoom_in": (("=", "+"), "Zoom in"),
    "zoom_out": (("-",), "Zoom out"),
    "zoom_fit": (("Shift+Z",), "Zoom to fit the clip"),
    "preferences": (("Ctrl+,",), "Preferences"),
    "help": (("F1",), "This list"),
    "quit": (("Ctrl+Q",), "Quit"),
}


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(640, 720)
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setHorizontalHeaderLabels(("Keys", "Action"))
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.setWordWrap(False)   # one line per shortcut, however narrow the dialog
        for row, (keys, text) in enumerate(SHORTCUTS.values()):
            table.setItem(row, 0, QTableWidgetItem(", ".join(keys)))
            table.setItem(row, 1, QTableWidgetItem(text))
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(buttons)
