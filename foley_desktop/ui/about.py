"""Help ▸ About: the version, and the credits every shipped model and starter-library
recording asks for (CC-BY authors are named wherever their sounds are used)."""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from foley_desktop import __version__


def starter_credits_html(base: Path) -> str:
    """One line per (package, author, licence) of the installed starter library."""
    try:
        credits = json.loads((base / "credits.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ("<p>The starter library is not installed (<code>scripts/fetch_starter_library"
                ".sh</code>, or <code>foley-desktop library add --starter</code> once its "
                "recordings are fetched).</p>")
    rows = Counter((c["package"], c["author"], c["license"]) for c in credits.values())
    items = "".join(f"<li>{html.escape(a)} — {html.escape(lic)} ({n} sound{'s' if n > 1 else ''}, "
                    f"Debian package {html.escape(p)})</li>"
                    for (p, a, lic), n in sorted(rows.items()))
    return f"<p>{len(credits)} recordings in {base}:</p><ul>{items}</ul>"


def about_html() -> str:
    from foley_desktop.library.starter import starter_dir
    from foley_desktop.paths import resources_dir

    models = []
    for lic in sorted((resources_dir() / "models").glob("*/LICENSES.md")):
        # Wrapped to the dialog's width: unwrapped, the credits ran off to the right.
        models.append(f"<h3>{html.escape(lic.parent.name)}</h3>"
                      "<pre style='white-space: pre-wrap'>"
                      f"{html.escape(lic.read_text(encoding='utf-8'))}</pre>")
    return (f"<h2>Foley Desktop {__version__}</h2><p>Offline Foley for video editors.</p>"
            "<h3>Starter sound library</h3>" + starter_credits_html(starter_dir())
            + "".join(models))


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Foley Desktop")
        self.resize(720, 640)
        self.text = QTextBrowser()
        self.text.setHtml(about_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
