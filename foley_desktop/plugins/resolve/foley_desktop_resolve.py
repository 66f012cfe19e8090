"""Foley Desktop for DaVinci Resolve — Workspace ▸ Scripts ▸ Foley Desktop.

UNTESTED: no Resolve can run where this project is built and tested. It uses only Resolve's
documented scripting API (Resolve 18 and later) and the `foley-desktop` command line, which the
tests do cover; docs/nle.md says what was and was not checked.

What it does: the clip under the playhead on the current timeline (video track 1) and the
timeline's In/Out marks (else the whole clip) give the range; a small dialog asks for the sound;
`foley-desktop` creates or updates `<clip>.foley` next to the clip, generates, and exports the
takes with an FCPXML timeline; Resolve imports that timeline (Media Pool ▸ Import Timeline),
which holds the clip and the Foley on its own audio tracks at the right frames.

Install: copy this file to Resolve's Scripts/Utility folder (Linux:
~/.local/share/DaVinciResolve/Fusion/Scripts/Utility, macOS: ~/Library/Application Support/
Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Utility, Windows: %APPDATA%\\Blackmagic Design\\
DaVinci Resolve\\Support\\Fusion\\Scripts\\Utility). `foley-desktop` must be on PATH, or set
FOLEY_DESKTOP_CLI to its full path.
"""

import json
import os
import shutil
import subprocess


def cli():
    exe = os.environ.get("FOLEY_DESKTOP_CLI") or shutil.which("foley-desktop")
    if not exe:
        raise RuntimeError("foley-desktop not found: put it on PATH or set FOLEY_DESKTOP_CLI")
    return exe


def run(*argv):
    done = subprocess.run([cli(), *argv], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"foley-desktop {argv[0]} failed")
    return done.stdout


def ask_prompt(fusion):
    """A one-line dialog with Fusion's UIManager; None when cancelled."""
    ui = fusion.UIManager
    disp = bmd.UIDispatcher(ui)  # noqa: F821  (bmd is provided by Resolve)
    win = disp.AddWindow({"ID": "FoleyWin", "WindowTitle": "Foley Desktop", "Geometry": [200, 200, 460, 110]},
                         ui.VGroup([ui.LineEdit({"ID": "Prompt", "PlaceholderText": "footsteps on wet pavement"}),
                                    ui.HGroup([ui.Button({"ID": "Go", "Text": "Generate"}),
                                               ui.Button({"ID": "Cancel", "Text": "Cancel"})])]))
    result = {}

    def go(ev):
        result["prompt"] = win.Find("Prompt").Text
        disp.ExitLoop()

    win.On.Go.Clicked = go
    win.On.Cancel.Clicked = lambda ev: disp.ExitLoop()
    win.On.FoleyWin.Close = lambda ev: disp.ExitLoop()
    win.Show()
    disp.RunLoop()
    win.Hide()
    return result.get("prompt") or None


def main(resolve, fusion):
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline()
    item = timeline.GetCurrentVideoItem()
    if item is None:
        raise RuntimeError("put the playhead over the clip on the timeline")
    media = item.GetMediaPoolItem().GetClipProperty("File Path")
    fps = float(timeline.GetSetting("timelineFrameRate"))
    marks = timeline.GetMarkInOut().get("video", {}) if hasattr(timeline, "GetMarkInOut") else {}
    # Timeline frames -> the clip's own seconds (the item may be trimmed: GetLeftOffset).
    start_tl = marks.get("in", item.GetStart())
    end_tl = marks.get("out", item.GetEnd() - 1) + 1
    clip_in = item.GetLeftOffset()
    start_s = (clip_in + max(start_tl, item.GetStart()) - item.GetStart()) / fps
    end_s = (clip_in + min(end_tl, item.GetEnd()) - item.GetStart()) / fps
    prompt = ask_prompt(fusion)
    if not prompt:
        return
    foley = os.path.splitext(media)[0] + ".foley"
    if not os.path.exists(foley):
        run("project", "new", media, "-o", foley)
    run("project", "add-segment", foley, "--start", f"{start_s:.6f}", "--end", f"{end_s:.6f}",
        "--prompt", prompt)
    run("generate", "--project", foley, "--all")
    out_dir = os.path.splitext(foley)[0] + "_export"
    files = json.loads(run("export", foley, "-o", out_dir, "--timeline", "fcpxml", "--stems", "foley",
                           "--json"))["files"]
    fcpxml = next(f for f in files if f.endswith(".fcpxml"))
    imported = project.GetMediaPool().ImportTimelineFromFile(fcpxml, {"timelineName": "Foley - " + prompt[:40]})
    if not imported:
        raise RuntimeError(f"Resolve could not import {fcpxml}")
    project.SetCurrentTimeline(imported)


if __name__ == "__main__":
    main(resolve, fusion)  # noqa: F821  (Resolve defines both for scripts it runs)
