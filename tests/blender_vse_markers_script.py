"""Runs inside `blender -b --python` for tests/test_plugin_blender.py (not a pytest module).

Spotting in Blender: Auto-spot puts the app's proposals on the timeline as markers, the editor
corrects them as Blender users do (move one, delete one, add one as M does), and Generate sends
the markers in the range to the app. Writes the markers and the result to a JSON file.
"""

import json
import os
import subprocess
import sys

import addon_utils
import bpy

args = json.loads(os.environ["FOLEY_VSE_TEST"])
addon_utils.enable("foley_desktop_vse", default_set=True)
bpy.context.preferences.addons["foley_desktop_vse"].preferences.cli = args["cli"]

scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = args["fps"], 1.0
ed = scene.sequence_editor_create()
movie = ed.sequences.new_movie("walkers", args["video"], 1, args["strip_start"])
ed.active_strip = movie
bpy.ops.foley.range_from_strip()
s = scene.foley_desktop
s.frame_start, s.frame_end = args["range"]
s.prompt = "footsteps on gravel"
s.project = args["project"]
# Before Auto-spot: one of the editor's markers, one stale proposal, one outside the range.
scene.timeline_markers.new("F_40", frame=40)
scene.timeline_markers.new("auto:hit", frame=35)
scene.timeline_markers.new("auto:hit", frame=args["range"][1] + 5)


def markers():
    return sorted([m.frame, m.name] for m in scene.timeline_markers)


out = {"before": markers()}
res = bpy.ops.foley.spot(wait=True)
out["spot"] = {"result": sorted(res), "status": s.status, "markers": markers()}
auto = sorted((m for m in scene.timeline_markers
               if m.name.startswith("auto:") and m.frame < args["range"][1]), key=lambda m: m.frame)
auto[0].frame += 1            # G: one frame later
scene.timeline_markers.remove(auto[-1])   # X
scene.timeline_markers.new("F_25", frame=25)   # what M at frame 25 adds (no editor area here)
out["edited"] = markers()
res = bpy.ops.foley.generate(wait=True)
doc = json.loads(subprocess.run([args["cli"], "project", "show", "--json", args["project"]],
                                capture_output=True, text=True, check=True).stdout)
out["generate"] = {"result": sorted(res), "status": s.status, "segment": doc["segments"][0],
                   "strips": [x.name for x in ed.sequences_all if x.type == "SOUND"]}
with open(args["out"], "w") as fh:
    json.dump(out, fh, indent=1)
sys.exit(0)
