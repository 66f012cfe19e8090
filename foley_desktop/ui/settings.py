"""Preferences kept with QSettings, and the dialog that edits them.

The keys, their types, defaults and choice lists are `app.preferences` (`Key`,
`Preferences`): this module only stores that value. Tests and portable setups point the store
at an INI file with FOLEY_DESKTOP_SETTINGS.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from foley_desktop.app.preferences import (
    EXPORT_FORMATS,
    PRECISION_CHOICES,
    PROVIDER_CHOICES,
    Key,
    Preferences,
)
from foley_desktop.paths import APP_NAME, user_cache_dir
from foley_desktop.ui.export_dialog import format_label

MAX_RECENT = 10


class Settings:
    def __init__(self, path: str | None = None) -> None:
        path = path or os.environ.get("FOLEY_DESKTOP_SETTINGS")
        if path:
            self.q = QSettings(path, QSettings.Format.IniFormat)
        else:
            self.q = QSettings(APP_NAME, APP_NAME)

    def preferences(self) -> Preferences:
        """The stored preferences (a value outside its choices reads as its default)."""
        return Preferences.from_stored({k.value: self.q.value(k.value) for k in Key})

    def get(self, key: Key | str) -> str:
        return self.preferences().get(key)

    def set(self, key: Key | str, value: str) -> None:
        """Store one preference (KeyError for an unknown key, ValueError/TypeError for a
        value of the wrong type or outside its choices)."""
        try:
            key = Key(key)
        except ValueError:
            raise KeyError(key) from None
        self.preferences().replace(**{key.value: value})   # validates
        self.q.setValue(key.value, value)
        self.q.sync()

    @property
    def cache_dir(self) -> Path:
        return Path(self.get("cache_dir") or user_cache_dir())

    # ---- recent files
    def recent_files(self) -> list[str]:
        value = self.q.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if v]

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        files = [path] + [f for f in self.recent_files() if f != path]
        self.q.setValue("recent_files", files[:MAX_RECENT])
        self.q.sync()

    def window_state(self) -> tuple:
        return self.q.value("geometry"), self.q.value("state")

    def save_window_state(self, geometry, state) -> None:
        self.q.setValue("geometry", geometry)
        self.q.setValue("state", state)
        self.q.sync()


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, models: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        form = QFormLayout(self)
        self.model = QComboBox()
        self.model.addItem("(engine default)", "")
        for m in models:
            self.model.addItem(m, m)
        prefs = settings.preferences()
        self._select(self.model, prefs.default_model)
        self.precision = self._combo(PRECISION_CHOICES, prefs.precision)
        self.provider = self._combo(PROVIDER_CHOICES, prefs.provider)
        self.export_format = self._combo(EXPORT_FORMATS, prefs.export_format, format_label)
        self.cache = QLineEdit(prefs.cache_dir)
        self.cache.setPlaceholderText(str(user_cache_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.cache, 1)
        row.addWidget(browse)
        form.addRow("Default model", self.model)
        form.addRow("Precision", self.precision)
        form.addRow("Provider", self.provider)
        form.addRow("Export format", self.export_format)
        form.addRow("Cache folder", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                   QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        i = combo.findData(value)
        combo.setCurrentIndex(max(0, i))

    def _combo(self, values, current: str, label=str) -> QComboBox:
        c = QComboBox()
        for v in values:
            c.addItem(label(v), v)
        self._select(c, current)
        return c

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Cache folder", self.cache.text())
        if d:
            self.cache.setText(d)

    def accept(self) -> None:
        s = self.settings
        s.set(Key.DEFAULT_MODEL, self.model.currentData())
        s.set(Key.PRECISION, self.precision.currentData())
        s.set(Key.PROVIDER, self.provider.currentData())
        s.set(Key.EXPORT_FORMAT, self.export_format.currentData())
        s.set(Key.CACHE_DIR, self.cache.text().strip())
        super().accept()
