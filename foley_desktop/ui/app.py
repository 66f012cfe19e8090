"""Starting the desktop app: `foley-desktop [CLIP]` calls `run_app`."""

from __future__ import annotations

import os
import sys

from PySide6.QtWidgets import QApplication

from foley_desktop.paths import APP_NAME
from foley_desktop.ui import theme


def create_app(argv: list[str] | None = None) -> QApplication:
    # Workers run Python (decoding glue, the engine's sampler) beside the GUI thread; a shorter
    # GIL switch interval (default 5 ms) bounds how long the event loop waits for its turn.
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName("Foley Desktop")
    theme.apply_theme(app)
    return app


def run_app(path: str | None) -> int:
    app = create_app()
    from foley_desktop.ui.main_window import MainWindow, app_icon

    app.setWindowIcon(app_icon())
    win = MainWindow()
    win.show()
    if path:
        win.open_path(path)
    else:
        # A never-saved project whose window was killed is offered back once the window shows.
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, win.offer_untitled_recovery)
    # Smoke tests and start-up benchmarks: quit by themselves after this many milliseconds.
    quit_after = os.environ.get("FOLEY_DESKTOP_QUIT_AFTER_MS")
    if quit_after:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(int(quit_after), app.quit)
    return app.exec()
