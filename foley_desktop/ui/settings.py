"""Preferences kept with QSettings, and the dialog that edits them.

Keys are fixed here (one place), each with its default. Tests and portable setups point the
store at an INI file with FOLEY_DESKTOP_SETTINGS.
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

from foley_desktop.paths import APP_NAME, user_cache_dir

DEFAULTS = {
    "default_model": "",  # "" = the package the engine picks by default
    "precision": "auto",
    "provider": "auto",
    "export_format": "wav24",
    "cache_dir": "",  # "" = the platform cache folder
}
PRECISIONS = ("auto", "fp32", "fp16", "int8")
PROVIDERS = ("auto", "cpu", "cuda", "tensorrt")
EXPORT_FORMATS = ("wav24", "wav32f")
MAX_RECENT = 10


class Settings:
    def __init__(self, path: str | None = None) -> None:
        path = path or os.environ.get("FOLEY_DESKTOP_SETTINGS")
        if path:
            self.q = QSettings(path, QSettings.Format.IniFormat)
        else:
            self.q = QSettings(APP_NAME, APP_NAME)

    def get(self, key: str) -> str:
        return str(self.q.value(key, DEFAULTS[key]))

    def set(self, key: str, value: str) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self.q.setValue(key, value)
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
        self._select(self.model, settings.get("default_model"))
        self.precision = self._combo(PRECISIONS, settings.get("precision"))
        self.provider = self._combo(PROVIDERS, settings.get("provider"))
        self.export_format = self._combo(EXPORT_FORMATS, settings.get("export_format"))
        self.cache = QLineEdit(settings.get("cache_dir"))
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

    def _combo(self, values, current: str) -> QComboBox:
        c = QComboBox()
        for v in values:
            c.addItem(v, v)
        self._select(c, current)
        return c

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Cache folder", self.cache.text())
        if d:
            self.cache.setText(d)

    def accept(self) -> None:
        s = self.settings
        s.set("default_model", self.model.currentData())
        s.set("precision", self.precision.currentData())
        s.set("provider", self.provider.currentData())
        s.set("export_format", self.export_format.currentData())
        s.set("cache_dir", self.cache.text().strip())
        super().accept()
