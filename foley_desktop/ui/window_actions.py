"""The main window's actions: one QAction per entry of `shortcuts.SHORTCUTS` (its keys, bound to
the window's handler), the menus and the toolbar.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from foley_desktop.ui.shortcuts import SHORTCUTS


class ActionsMixin:
    """MainWindow's actions, menus and toolbar (`actions_`: action name -> QAction)."""

    def _build_actions(self) -> None:
        handlers = {
            "open": self.open_dialog, "open_project": self.open_project_dialog,
            "save": self.save, "save_as": self.save_as,
            "undo": self.doc.undo_stack.undo, "redo": self.doc.undo_stack.redo,
            "delete": self.delete_selected, "play": self.toggle_play,
            "shuttle_back": lambda: self._shuttle(-1), "shuttle_stop": self.stop,
            "shuttle_fwd": lambda: self._shuttle(1),
            "prev_frame": lambda: self.transport.step(-1),
            "next_frame": lambda: self.transport.step(1),
            "back_second": lambda: self.transport.step(-round(float(self.doc.fps))),
            "fwd_second": lambda: self.transport.step(round(float(self.doc.fps))),
            "home": lambda: self.seek(0), "end": lambda: self.seek(self.doc.duration),
            "mark_in": self.set_mark_in, "mark_out": self.set_mark_out,
            "generate": self.generate_selected, "generate_all": self.generate_all,
            "marker": self.add_marker, "marker_back": lambda: self.nudge_marker(-1),
            "marker_fwd": lambda: self.nudge_marker(1),
            "marker_up": lambda: self.marker_strength(1),
            "marker_down": lambda: self.marker_strength(-1),
            "next_marker": lambda: self.goto_marker(1),
            "prev_marker": lambda: self.goto_marker(-1),
            "spot_region": self.spot_region,
            "auto_spot": lambda: self.auto_spot(list(self.canvas.selected)),
            "ab": self.ab_toggle, "zoom_in": self.timeline.zoom_in,
            "zoom_out": self.timeline.zoom_out, "zoom_fit": self.timeline.zoom_fit,
            "preferences": self.preferences, "help": self.show_shortcuts, "quit": self.close,
        }
        self.actions_: dict[str, QAction] = {}
        for name, (keys, text) in SHORTCUTS.items():
            act = QAction(text.split(":")[0].split(";")[0], self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(handlers[name])
            self.addAction(act)
            self.actions_[name] = act
        undo, redo = self.actions_["undo"], self.actions_["redo"]
        self.doc.undo_stack.canUndoChanged.connect(undo.setEnabled)
        self.doc.undo_stack.canRedoChanged.connect(redo.setEnabled)
        self.doc.undo_stack.undoTextChanged.connect(
            lambda t: undo.setText(f"Undo {t.lower()}".strip()))
        self.doc.undo_stack.redoTextChanged.connect(
            lambda t: redo.setText(f"Redo {t.lower()}".strip()))
        undo.setEnabled(False)
        redo.setEnabled(False)

        mb = self.menuBar()
        a = self.actions_
        m = mb.addMenu("&File")
        for n in ("open", "open_project"):
            m.addAction(a[n])
        self.recent_menu = m.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        for n in ("save", "save_as"):
            m.addAction(a[n])
        m.addSeparator()
        self.separate_action = m.addAction("Separate dialogue / background")
        self.separate_action.triggered.connect(self.separate)
        self.export_action = m.addAction("Export…")
        self.export_action.triggered.connect(lambda: self.export())
        self.separate_action.setToolTip("Split the clip's audio into dialogue and background "
                                         "stems (the Dialogue and Background lanes)")
        m.addSeparator()
        m.addAction(a["preferences"])
        m.addAction(a["quit"])
        m = mb.addMenu("&Edit")
        for n in ("undo", "redo", "delete"):
            m.addAction(a[n])
        m = mb.addMenu("&Play")
        for n in ("play", "shuttle_back", "shuttle_stop", "shuttle_fwd", "prev_frame",
                  "next_frame", "home", "end", "mark_in", "mark_out"):
            m.addAction(a[n])
        m = mb.addMenu("&Generate")
        for n in ("generate", "generate_all", "ab"):
            m.addAction(a[n])
        m.addSeparator()
        for n in ("marker", "marker_back", "marker_fwd", "marker_up", "marker_down",
                  "next_marker", "prev_marker", "spot_region", "auto_spot"):
            m.addAction(a[n])
        m = mb.addMenu("&View")
        for n in ("zoom_in", "zoom_out", "zoom_fit"):
            m.addAction(a[n])
        m = mb.addMenu("&Help")
        m.addAction(a["help"])
        about = m.addAction("About Foley Desktop and credits")
        about.triggered.connect(self.show_about)

        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        for n, short in (("open", "Open"), ("save", "Save"), ("undo", "Undo"),
                         ("redo", "Redo"), ("generate", "Generate"),
                         ("generate_all", "Generate all")):
            a[n].setIconText(short)
            tb.addAction(a[n])
        self.separate_action.setIconText("Separate")
        tb.addAction(self.separate_action)
