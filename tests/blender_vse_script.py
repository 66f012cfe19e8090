"""Runs inside `blender -b --python` for tests/test_plugin_blender.py (not a pytest module).

Enables the add-on the way a user's Blender does (from a scripts/addons folder), builds a scene
at the clip's rate with the clip as a movie strip, runs Generate, edits the segment through the
app's CLI, runs Re-import with the stems, and writes what the sequencer holds to a JSON file.
"""

import json
import os
import shutil
import subprocess
import sys

import addon_utils
import bpy

args = json.loads(os.environ["FOLEY_VSE_TEST"])
addon_utils.enable("foley_desktop_vse", default_set=True)
prefs = bpy.context.preferences.addons["foley_desktop_vse"].preferences
prefs.cli = args["cli"]

scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = args["fps"], args["fps_base"]
ed = scene.sequence_editor_create()
movie = ed.sequences.new_movie("shot", args["video"], 1, args["strip_start"])
ed.active_strip = movie
bpy.ops.foley.range_from_strip()
s = scene.foley_desktop
s.frame_start, s.frame_end = args["range"]
s.prompt = "footsteps on gravel"
s.seed = 5
s.project = args["project"]


def strips():
    return [{"name": x.name, "channel": x.channel, "frame": x.frame_final_start,
             "duration": x.frame_final_duration, "path": bpy.path.abspath(x.sound.filepath),
             "kind": x.get("foley_desktop_kind")}
            for x in ed.sequences_all if x.type == "SOUND"]


out = {"movie": {"frame_start": movie.frame_start, "channel": movie.channel,
                 "duration": movie.frame_final_duration}}
res = bpy.ops.foley.generate(wait=True)
doc = json.loads(subprocess.run([args["cli"], "project", "show", "--json", args["project"]],
                                capture_output=True, text=True, check=True).stdout)
seg = doc["segments"][0]["id"]
placed = strips()
for x in placed:  # the re-import rewrites the same file names: keep what was placed now
    x["copy"] = shutil.copy(x["path"], args["out"] + "." + os.path.basename(x["path"]))
out["generate"] = {"result": sorted(res), "status": s.status, "strips": placed,
                   "segment": [doc["segments"][0]["start"], doc["segments"][0]["end"]]}
# An edit made in the app: the segment moves and gets a new take.
subprocess.run([args["cli"], "project", "edit-segment", args["project"], seg, "--start",
                args["new_span"][0], "--end", args["new_span"][1]], check=True, capture_output=True)
subprocess.run([args["cli"], "generate", "--project", args["project"], "--all"], check=True,
               capture_output=True)
s.stems = True
res = bpy.ops.foley.reimport(wait=True)
out["reimport"] = {"result": sorted(res), "status": s.status, "strips": strips()}
with open(args["out"], "w") as fh:
    json.dump(out, fh, indent=1)
sys.exit(0)
