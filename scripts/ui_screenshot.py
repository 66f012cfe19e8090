"""Open the real window on a clip, mark segments, and save a screenshot.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/ui_screenshot.py CLIP OUT.png \
        [--type-prompt grav]
    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/ui_screenshot.py \
        resources/demo/walkers.mp4 docs/screenshot.png --story spotting

The default story marks two segments and separates (docs/prompt_completion.png, from
tests/conftest.py's clip_hello). `--story spotting` (docs/screenshot.png) is the editor's story
on real footage: a segment, the walker in the lower right set as its auto-spot region (outlined
on the picture), the window's auto-spot in that region, library
mode, a take from the sound library (the starter library must be installed:
`foley-desktop library add --starter`), the Library panel searched for the same words. The
capture is of the X screen (QScreen.grabWindow), i.e. what a user would see, not a widget render.
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

WALKER = (500, 268, 268, 132)   # the lower-right walker, in video pixels (walkers.json)


def spotting_story(win) -> None:
    """Segment 0-3 s with the walker's region set as the app sets it (the segment's field, as
    the inspector's Region… does after a drag on the preview) and auto-spot through the
    window's own auto_spot (a job); `spotting_story_rest` follows once its markers are in."""
    doc = win.doc
    seg = doc.add_segment(0, 3 * 48000, "footsteps on gravel")
    win.canvas.set_selected([seg.id])
    doc.set_field(seg.id, "spot_roi", WALKER, "set auto-spot region")
    win.auto_spot([seg.id])


def spotting_story_rest(win) -> None:
    """Library mode, generate, Library panel search."""
    doc = win.doc
    seg = doc.project.segments[0]
    doc.set_field(seg.id, "mode", "library")
    doc.set_field(seg.id, "variations", 2)
    doc.set_field(seg.id, "seed", 7)
    win.canvas.set_selected([seg.id])
    win.generate([seg.id])
    win.transport.seek(int(1.8 * 48000))
    panel = win.library_panel
    panel.search.setText("footsteps on gravel")
    panel.run_search()


def grab(win, path: str, tab=None) -> bool:
    """The X screen's picture of the window (what a user sees), with `tab` in front."""
    if tab is not None:
        win.side_tabs.setCurrentWidget(tab)
    win.repaint()
    QGuiApplication.processEvents()
    return QGuiApplication.primaryScreen().grabWindow(0, 0, 0, win.width(), win.height()).save(path)


def when(ready, then, limit: int, delay_ms: int = 300) -> None:
    """Poll `ready` every 100 ms (at most `limit` times), then call `then` after `delay_ms`."""
    tries = [0]

    def poll():
        tries[0] += 1
        if ready() or tries[0] > limit:
            QTimer.singleShot(delay_ms, then)
        else:
            QTimer.singleShot(100, poll)

    QTimer.singleShot(200, poll)


def main(clip: str, out: str, type_prompt: str | None = None, story: str = "default") -> int:
    from foley_desktop.media.timebase import frame_to_samples
    from foley_desktop.ui.app import create_app
    from foley_desktop.ui.main_window import MainWindow, app_icon

    app = create_app()
    app.setWindowIcon(app_icon())
    win = MainWindow()
    win.setGeometry(0, 0, 1500, 920)
    win.show()
    if not win.open_path(clip):
        return 2
    fps = win.doc.fps
    doc = win.doc
    status = {"rc": 1}

    def close():
        win._skip_save_prompt = True
        win.close()
        app.quit()

    if story == "spotting":
        spotting_story(win)

        def shoot_story():
            status["rc"] = 0 if grab(win, out, win.inspector) else 1
            grab(win, out.replace(".png", "_library.png"), win.library_panel)
            grab(win, out.replace(".png", "_jobs.png"), win.jobs_panel)
            close()

        def story_ready():
            seg = doc.project.segments[0]
            return (win.preview.view.image is not None and len(win.canvas.thumbs) >= 8
                    and not win._thumb_pending and len(seg.takes) >= 2
                    and win.library_panel.results.count() > 0
                    and not win.library_panel.results.item(0).icon().isNull())

        def spotted():
            seg = doc.project.segments[0]
            return bool(seg.markers) and all(j.state in ("done", "failed", "cancelled")
                                             for j in win.jobs.jobs.values())

        def rest():
            spotting_story_rest(win)
            when(story_ready, shoot_story, 900, delay_ms=500)

        when(spotted, rest, 600, delay_ms=100)
        app.exec()
        return status["rc"]
    a = doc.add_segment(frame_to_samples(40, fps), frame_to_samples(75, fps),
                        "a spoken hello, close mic")
    b = doc.add_segment(frame_to_samples(100, fps), frame_to_samples(230, fps),
                        "typing keyboard, mechanical")
    win.canvas.set_selected([b.id])
    win.transport.seek(frame_to_samples(130, fps))
    win.separate()  # real separation job: fills the stem lanes and the speech markers
    del a

    def shoot():
        if type_prompt is not None and not win.inspector.completer.popup().isVisible():
            # Type into the prompt like a user: the completion popup opens over the window.
            win.inspector.prompt.setFocus()
            win.inspector.prompt.clear()
            for ch in type_prompt:
                QTest.keyClick(win.inspector.prompt, ch)
            QTimer.singleShot(400, shoot)
            return
        status["rc"] = 0 if grab(win, out) else 1
        close()

    when(lambda: win.preview.view.image is not None and "original" in win.canvas.overviews
         and len(win.canvas.thumbs) >= 8 and not win._thumb_pending
         and {"dialogue", "background"} <= set(win.canvas.overviews), shoot, 600)
    app.exec()
    return status["rc"]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("out")
    ap.add_argument("--type-prompt", default=None,
                    help="type this into the selected segment's prompt before the capture "
                         "(shows the completion popup)")
    ap.add_argument("--story", choices=["default", "spotting"], default="default")
    a = ap.parse_args()
    sys.exit(main(a.clip, a.out, a.type_prompt, a.story))
