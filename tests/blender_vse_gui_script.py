"""Runs inside Blender with its window (under Xvfb) for tests/test_plugin_blender.py.

Drives the add-on the way a user does: the Sequencer with the Foley sidebar open, Generate
invoked from the UI context (the timer-driven modal job, its progress in the panel), then a
second Generate cancelled while it runs. Writes what happened to a JSON file and a screenshot
of the window with the panel and the placed strip.
"""

import json
import os
import time

import addon_utils
import bpy

args = json.loads(os.environ["FOLEY_VSE_TEST"])
bpy.context.preferences.view.show_splash = False  # the splash would cover the screenshot
bpy.context.preferences.view.show_tooltips = False  # and so would a tooltip under the pointer
addon_utils.enable("foley_desktop_vse", default_set=True)
bpy.context.preferences.addons["foley_desktop_vse"].preferences.cli = args["cli"]
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = args["fps"], args["fps_base"]
ed = scene.sequence_editor_create()
movie = ed.sequences.new_movie("shot", args["video"], 1, args["strip_start"])
ed.active_strip = movie
s = scene.foley_desktop
s.strip = movie.name
s.frame_start, s.frame_end = args["range"]
s.prompt = "footsteps on gravel"
s.project = args["project"]
# Spotted steps on the timeline (two proposals, one of the editor's): Generate sends them.
for frame, name in ((31, "auto:footstep"), (38, "auto:footstep"), (44, "F_44")):
    scene.timeline_markers.new(name, frame=frame)
out = {"progress": [], "statuses": []}
state = {"phase": "setup", "t0": time.monotonic()}


def ui_context():
    window = bpy.context.window_manager.windows[0]
    area = max(window.screen.areas, key=lambda a: a.width * a.height)
    if area.type != "SEQUENCE_EDITOR":
        area.type = "SEQUENCE_EDITOR"
    area.spaces.active.show_region_ui = True
    region = next(r for r in area.regions if r.type == "WINDOW")
    return {"window": window, "area": area, "region": region}


def strips():
    return [{"frame": x.frame_final_start, "channel": x.channel, "kind": x.get("foley_desktop_kind"),
             "path": bpy.path.abspath(x.sound.filepath)} for x in ed.sequences_all if x.type == "SOUND"]


def finish():
    with open(args["out"], "w") as fh:
        json.dump(out, fh, indent=1)
    bpy.ops.wm.quit_blender()


def tick():
    phase = state["phase"]
    if phase == "setup":
        ctx = ui_context()
        with bpy.context.temp_override(**ctx):
            out["invoke"] = sorted(bpy.ops.foley.generate("INVOKE_DEFAULT"))
        state["phase"] = "generating"
        return 0.2
    if phase == "generating":
        out["progress"].append(round(s.progress, 3))
        out["statuses"].append(s.status)
        if s.running:
            return 0.2
        out["generate"] = {"status": s.status, "strips": strips()}
        state["phase"] = "popup"
        with bpy.context.temp_override(**ui_context()):
            bpy.ops.sequencer.view_all()
        return 0.5
    if phase == "popup":
        # The panel as a popup as well, so the screenshot shows it whatever sidebar tab is open.
        with bpy.context.temp_override(**ui_context()):
            bpy.ops.wm.call_panel(name="SEQUENCER_PT_foley", keep_open=True)
        state["phase"] = "shot"
        return 1.0
    if phase == "shot":
        ctx = ui_context()
        with bpy.context.temp_override(**ctx):
            bpy.ops.screen.screenshot(filepath=args["screenshot"])
        # A second take, cancelled while it generates.
        s.seed = 99
        s.frame_start, s.frame_end = args["range"][0], args["range"][0] + 90
        with bpy.context.temp_override(**ctx):
            bpy.ops.foley.generate("INVOKE_DEFAULT")
        state["phase"], state["t_cancel"] = "cancel", time.monotonic()
        return 0.5
    if phase == "cancel":
        # Cancel a second into the generating step (step 2 of 3: the project exists).
        if (s.status.startswith("step 2/3") and time.monotonic() - state["t_cancel"] > 1.0) \
                or time.monotonic() - state["t_cancel"] > 20:
            out["cancel_status_before"] = s.status
            with bpy.context.temp_override(**ui_context()):
                bpy.ops.foley.cancel()
            state["phase"], state["t_cancelled"] = "after_cancel", time.monotonic()
        return 0.1
    if phase == "after_cancel":
        if s.running and time.monotonic() - state["t_cancelled"] < 10:
            return 0.2
        out["cancel"] = {"status": s.status, "running": s.running, "strips": strips(),
                         "seconds": round(time.monotonic() - state["t_cancelled"], 2)}
        finish()
        return None
    return None


bpy.app.timers.register(tick, first_interval=1.0)
