"""Dark theme shared by every widget: one palette, one style sheet, one set of lane colours.

Editors work in dim rooms next to a picture monitor, so the app uses a neutral dark grey that
does not tint the picture, with saturated colours kept for the things that carry meaning
(playhead, selection, lanes).
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication

from foley_desktop.paths import resources_dir

BG = QColor("#1e1f22")
BG_DARK = QColor("#151618")
BG_LIGHT = QColor("#2b2d31")
BORDER = QColor("#3a3d42")
TEXT = QColor("#d8dadf")
TEXT_DIM = QColor("#8b8f97")
ACCENT = QColor("#4aa3ff")
PLAYHEAD = QColor("#ff4f4f")
SELECTION = QColor("#ffb347")
SPEECH = QColor(120, 200, 255, 60)
WAVE_ORIGINAL = QColor("#6cc3a0")
WAVE_DIALOGUE = QColor("#7fa8ff")
WAVE_BACKGROUND = QColor("#c7a0ff")
WAVE_TAKE = QColor("#ffcf66")
SEGMENT = QColor("#d88a2c")
SEGMENT_FILL = QColor(216, 138, 44, 150)
SEGMENT_SELECTED = QColor(255, 179, 71, 200)

# Arrows for the spin boxes: with a style sheet on them Fusion draws none on the dark theme.
_ICONS = (resources_dir() / "icons").as_posix()

STYLE_SHEET = f"""
QWidget {{ color: {TEXT.name()}; }}
QMainWindow, QDialog {{ background: {BG.name()}; }}
QToolBar {{ background: {BG_LIGHT.name()}; border: none; spacing: 4px; padding: 2px; }}
QToolButton {{ padding: 3px 6px; border-radius: 3px; }}
QToolButton:hover {{ background: #3a3e45; }}
QToolButton:checked {{ background: #2f4a66; }}
QDockWidget::title {{ background: {BG_LIGHT.name()}; padding: 4px; }}
QGroupBox {{ border: 1px solid {BORDER.name()}; border-radius: 4px; margin-top: 14px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {TEXT_DIM.name()}; }}
QLineEdit, QPlainTextEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {BG_DARK.name()}; border: 1px solid {BORDER.name()}; border-radius: 3px;
    padding: 2px 4px; selection-background-color: {ACCENT.name()}; }}
QLineEdit:disabled, QSpinBox:disabled, QDoubleSpinBox:disabled, QComboBox:disabled,
QCheckBox:disabled, QListWidget:disabled {{ color: #5c6068; }}
QSpinBox::up-button, QDoubleSpinBox::up-button, QSpinBox::down-button,
QDoubleSpinBox::down-button {{ width: 16px; border-left: 1px solid {BORDER.name()}; }}
QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ image: url({_ICONS}/arrow-up.svg);
    width: 8px; height: 5px; }}
QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ image: url({_ICONS}/arrow-down.svg);
    width: 8px; height: 5px; }}
QSpinBox::up-arrow:disabled, QSpinBox::down-arrow:disabled, QDoubleSpinBox::up-arrow:disabled,
QDoubleSpinBox::down-arrow:disabled {{ image: none; }}
QPushButton {{ background: #33363c; border: 1px solid {BORDER.name()}; border-radius: 3px;
    padding: 4px 10px; }}
QPushButton:hover {{ background: #3d4148; }}
QPushButton:disabled {{ color: #5c6068; }}
QPushButton#primary {{ background: #2d6cb5; border-color: #3b82d6; }}
QPushButton#primary:disabled {{ background: #33363c; border-color: {BORDER.name()}; }}
QProgressBar {{ background: {BG_DARK.name()}; border: 1px solid {BORDER.name()};
    border-radius: 3px; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT.name()}; border-radius: 2px; }}
QStatusBar {{ background: {BG_LIGHT.name()}; color: {TEXT_DIM.name()}; }}
QHeaderView::section {{ background: {BG_LIGHT.name()}; border: none; padding: 3px; }}
QTreeWidget, QListWidget, QTableWidget {{ background: {BG_DARK.name()};
    border: 1px solid {BORDER.name()}; }}
QLabel#timecode {{ font-family: monospace; font-size: 18px; color: #e9ecf1;
    background: {BG_DARK.name()}; border: 1px solid {BORDER.name()}; border-radius: 3px;
    padding: 2px 8px; }}
QLabel#warning {{ color: #ffb347; }}
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, BG)
    pal.setColor(QPalette.ColorRole.WindowText, TEXT)
    pal.setColor(QPalette.ColorRole.Base, BG_DARK)
    pal.setColor(QPalette.ColorRole.AlternateBase, BG_LIGHT)
    pal.setColor(QPalette.ColorRole.Text, TEXT)
    pal.setColor(QPalette.ColorRole.Button, BG_LIGHT)
    pal.setColor(QPalette.ColorRole.ButtonText, TEXT)
    pal.setColor(QPalette.ColorRole.Highlight, ACCENT)
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, BG_LIGHT)
    pal.setColor(QPalette.ColorRole.ToolTipText, TEXT)
    pal.setColor(QPalette.ColorRole.PlaceholderText, TEXT_DIM)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5c6068"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)


def mono_font(point_size: int = 9) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(point_size)
    return font
