"""The add-on's Blender side: settings, the Sequencer sidebar panel, and the operators."""

import os
import tempfile
from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import core

TAG = "foley_desktop_project"  # custom property on the strips the add-on placed
_JOBS: dict[str, dict] = {}  # scene name -> the running job and what to do when it ends


class FoleyPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    cli: StringProperty(name="foley-desktop", subtype="FILE_PATH", default="",
                        description="The foley-desktop executable (empty: the one on PATH)")

    def draw(self, context):
        self.layout.prop(self, "cli")


class FoleySettings(bpy.types.PropertyGroup):
    strip: StringProperty(name="Movie", description="The movie strip to make Foley for")
    frame_start: IntProperty(name="Start", description="First scene frame of the range")
    frame_end: IntProperty(name="End", description="Scene frame after the range")
    prompt: StringProperty(name="Sound", description="What should sound there, e.g. "
                           "'footsteps on wet pavement'")
    seed: IntProperty(name="Seed", default=1, min=0)
    variations: IntProperty(name="Takes", default=1, min=1, max=8,
                            description="How many takes (seeds seed, seed+1 …)")
    mode: EnumProperty(name="Mode", default="MODEL", items=(
        ("MODEL", "Model", "Generate the sound with the model"),
        ("LIBRARY", "Library", "Lay recordings from your sound library on the markers")))
    markers: EnumProperty(name="Markers", default="SCENE", items=(
        ("SCENE", "Scene markers", "The timeline markers inside the range: press M while the "
         "scene plays to spot, or Auto-spot to have the picture spotted, then move or delete "
         "them"),
        ("AUTO", "Auto-spot", "Let the app spot the picture while it generates"),
        ("NONE", "None", "No markers: the model times the sound from the picture alone")))
    stems: BoolProperty(name="Dialogue / background stems", default=False,
                        description="Also place the dialogue and background stems")
    project: StringProperty(name="Project", subtype="FILE_PATH", default="",
                            description="The .foley project (empty: next to the .blend file)")
    status: StringProperty(name="Status", default="")
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR", default=0.0)
    running: BoolProperty(default=False)


def _settings(context) -> FoleySettings:
    return context.scene.foley_desktop


def _cli(context) -> str:
    addon = context.preferences.addons.get(__package__)
    configured = bpy.path.abspath(addon.preferences.cli) if addon and addon.preferences.cli else ""
    cli = core.find_cli(configured)
    if cli is None:
        raise RuntimeError("foley-desktop not found: install Foley Desktop or set its path in "
                           "the add-on's preferences")
    return cli


def _movie_strip(context, settings):
    ed = context.scene.sequence_editor
    if ed is None:
        return None
    strip = ed.sequences_all.get(settings.strip) if settings.strip else ed.active_strip
    return strip if strip is not None and strip.type == "MOVIE" else None


def _paths(settings, strip) -> tuple[str, str]:
    """(project file, export folder)."""
    if settings.project:
        project = bpy.path.abspath(settings.project)
    else:
        base = bpy.path.abspath("//") if bpy.data.filepath else tempfile.gettempdir()
        project = os.path.join(base, "foley", Path(bpy.path.abspath(strip.filepath)).stem + ".foley")
    os.makedirs(os.path.dirname(project), exist_ok=True)
    return project, os.path.splitext(project)[0] + "_export"


def _fps(scene):
    return core.scene_fps(scene.render.fps, scene.render.fps_base)


def _redraw(context) -> None:
    screen = context.screen
    for area in (screen.areas if screen else []):
        if area.type == "SEQUENCE_EDITOR":
            area.tag_redraw()


def place(scene, strip, project: str, files: list[str]) -> list:
    """Replace the strips placed for `project` by sound strips for `files`, at their frames."""
    ed = scene.sequence_editor
    old = [s for s in ed.sequences_all if s.get(TAG) == project]
    used = [s.channel for s in ed.sequences_all if s not in old]
    base = min((s.channel for s in old), default=max(used, default=0) + 1)
    for s in old:
        ed.sequences.remove(s)
    placed = []
    lanes: dict[int, list[tuple[int, int]]] = {}
    fps = _fps(scene)
    for p in core.placements(files, int(strip.frame_start), fps):
        length = max(1, round(p.samples * fps / core.SAMPLE_RATE))
        # Overlapping takes go to the next channel up, stems above the takes.
        channel = base if p.kind == "take" else base + 8
        while any(a < p.frame + length and p.frame < b for a, b in lanes.get(channel, [])):
            channel += 1
        lanes.setdefault(channel, []).append((p.frame, p.frame + length))
        name = Path(p.path).stem if p.kind == "take" else f"{p.kind} {Path(p.path).stem}"
        s = ed.sequences.new_sound(name[:60], p.path, channel, p.frame)
        s[TAG] = project
        s["foley_desktop_kind"] = p.kind
        placed.append(s)
    return placed


def _finish(context, entry) -> None:
    settings = _settings(context)
    job = entry["job"]
    settings.running = False
    settings.progress = job.fraction
    settings.status = job.status
    if job.error or job.cancelled:
        return
    entry.get("on_done", _place_takes)(context, entry)


def scene_markers(scene, a: int, b: int) -> list:
    """The timeline markers on frames a..b-1."""
    return [m for m in scene.timeline_markers if a <= m.frame < b]


def _place_markers(context, entry) -> None:
    """Auto-spot's proposals as timeline markers named auto:<kind>, replacing the earlier
    ones of the range that still carry that name (the editor's own markers stay)."""
    scene, settings = context.scene, _settings(context)
    a, b = entry["range"]
    for m in scene_markers(scene, a, b):
        if m.name.startswith(core.AUTO_PREFIX):
            scene.timeline_markers.remove(m)
    found = core.spotted_frames(entry["job"].steps[-1], entry["clip_start"], _fps(scene))
    for frame, kind in found:
        if a <= frame < b:
            scene.timeline_markers.new(core.AUTO_PREFIX + kind, frame=frame)
    settings.status = (f"Auto-spot: {len(found)} marker(s); check each on the picture, move "
                       "(G) or delete (X) the wrong ones, then Generate")


def _place_takes(context, entry) -> None:
    settings = _settings(context)
    job = entry["job"]
    files = core.exported_files(job.steps[-1])
    strip = context.scene.sequence_editor.sequences_all.get(entry["strip"])
    if strip is None:
        settings.status = "the movie strip is gone; nothing placed"
        return
    placed = place(context.scene, strip, entry["project"], files)
    notes = core.exported_notes(job.steps[-1])
    settings.status = f"{job.status}: placed {len(placed)} strip(s)" + (f" — {notes[0]}" if notes else "")


class _JobOperator:
    wait: BoolProperty(default=False, options={"SKIP_SAVE"},
                       description="Run to the end before returning (scripts, blender -b)")

    def prepare(self, context, settings, need_prompt: bool):
        """(movie strip, first frame, frame after the range, CLI) for a new job, or None after
        telling the user why not (a job running, no strip, no prompt, an empty range, no CLI)."""
        if context.scene.name in _JOBS:
            self.report({"WARNING"}, "a Foley job is already running")
            return None
        strip = _movie_strip(context, settings)
        if strip is None:
            self.report({"ERROR"}, "pick a movie strip")
            return None
        if need_prompt and not settings.prompt.strip():
            self.report({"ERROR"}, "describe the sound first")
            return None
        a = max(settings.frame_start, strip.frame_final_start)
        b = min(settings.frame_end, strip.frame_final_end)
        if b <= a:
            self.report({"ERROR"}, "the range is empty or outside the movie strip")
            return None
        try:
            cli = _cli(context)
        except RuntimeError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        return strip, a, b, cli

    def start(self, context, steps, strip, project, **extra):
        settings = _settings(context)
        job = core.Job(steps)
        entry = {"job": job, "strip": strip.name, "project": project, **extra}
        _JOBS[context.scene.name] = entry
        settings.running, settings.progress, settings.status = True, 0.0, job.status
        if self.wait or bpy.app.background or context.window is None:
            job.run()
            _finish(context, entry)
            _JOBS.pop(context.scene.name, None)
            return {"FINISHED"} if not job.error else {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        entry = _JOBS.get(context.scene.name)
        if entry is None:
            context.window_manager.event_timer_remove(self._timer)
            return {"CANCELLED"}
        job = entry["job"]
        done = job.poll()
        settings = _settings(context)
        settings.progress, settings.status = job.fraction, job.status
        _redraw(context)
        if done:
            context.window_manager.event_timer_remove(self._timer)
            _finish(context, entry)
            _JOBS.pop(context.scene.name, None)
            _redraw(context)
            return {"FINISHED"}
        return {"RUNNING_MODAL"}


class FOLEY_OT_generate(_JobOperator, bpy.types.Operator):
    """Generate Foley for the range with Foley Desktop and place the takes"""

    bl_idname = "foley.generate"
    bl_label = "Generate"

    def execute(self, context):
        settings = _settings(context)
        job = self.prepare(context, settings, need_prompt=True)
        if job is None:
            return {"CANCELLED"}
        strip, a, b, cli = job
        fps = _fps(context.scene)
        project, out_dir = _paths(settings, strip)
        # Scene frames -> the clip's own time: its first frame is at the strip's frame_start.
        t0 = int(a - strip.frame_start)
        t1 = int(b - strip.frame_start)
        markers, note = "", ""
        if settings.markers == "AUTO":
            markers = "auto"
        elif settings.markers == "SCENE":
            marks = [(m.frame, m.name) for m in scene_markers(context.scene, a, b)]
            markers = core.markers_arg(marks, int(strip.frame_start), fps, settings.prompt)
            if not marks:
                note = "no markers in the range: timed from the picture alone"
        steps = core.generate_steps(cli, bpy.path.abspath(strip.filepath), project,
                                    core.seconds_arg(t0, fps), core.seconds_arg(t1, fps),
                                    settings.prompt.strip(), settings.seed, settings.variations,
                                    out_dir, settings.stems, settings.mode.lower(), markers)
        settings.strip = strip.name
        if note:
            self.report({"INFO"}, note)
        return self.start(context, steps, strip, project)


class FOLEY_OT_spot(_JobOperator, bpy.types.Operator):
    """Propose markers from the picture (footsteps, hits) as timeline markers in the range"""

    bl_idname = "foley.spot"
    bl_label = "Auto-spot"

    def execute(self, context):
        settings = _settings(context)
        job = self.prepare(context, settings, need_prompt=False)
        if job is None:
            return {"CANCELLED"}
        strip, a, b, cli = job
        fps = _fps(context.scene)
        step = core.spot_step(cli, bpy.path.abspath(strip.filepath),
                              core.seconds_arg(int(a - strip.frame_start), fps),
                              core.seconds_arg(int(b - strip.frame_start), fps))
        settings.strip = strip.name
        return self.start(context, [step], strip, "", on_done=_place_markers, range=(a, b),
                          clip_start=int(strip.frame_start))


class FOLEY_OT_reimport(_JobOperator, bpy.types.Operator):
    """Export the project again and move the strips to where the app now has the takes"""

    bl_idname = "foley.reimport"
    bl_label = "Re-import"

    def execute(self, context):
        settings = _settings(context)
        strip = _movie_strip(context, settings)
        if strip is None:
            self.report({"ERROR"}, "pick the movie strip the Foley was made for")
            return {"CANCELLED"}
        project, out_dir = _paths(settings, strip)
        if not os.path.exists(project):
            self.report({"ERROR"}, f"no project yet: {project} (Generate first)")
            return {"CANCELLED"}
        try:
            cli = _cli(context)
        except RuntimeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return self.start(context, [core.export_step(cli, project, out_dir, settings.stems)],
                          strip, project)


class FOLEY_OT_cancel(bpy.types.Operator):
    """Stop the running Foley job (nothing half-written is left)"""

    bl_idname = "foley.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        entry = _JOBS.get(context.scene.name)
        if entry is not None:
            entry["job"].cancel()
        return {"FINISHED"}


class FOLEY_OT_range_from_strip(bpy.types.Operator):
    """Use the active movie strip and its visible range"""

    bl_idname = "foley.range_from_strip"
    bl_label = "From Strip"

    def execute(self, context):
        settings = _settings(context)
        ed = context.scene.sequence_editor
        strip = ed.active_strip if ed else None
        if strip is None or strip.type != "MOVIE":
            self.report({"ERROR"}, "select a movie strip")
            return {"CANCELLED"}
        settings.strip = strip.name
        settings.frame_start, settings.frame_end = strip.frame_final_start, strip.frame_final_end
        return {"FINISHED"}


class SEQUENCER_PT_foley(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Foley"
    bl_label = "Foley Desktop"

    def draw(self, context):
        layout = self.layout
        settings = _settings(context)
        ed = context.scene.sequence_editor
        if ed is not None:
            layout.prop_search(settings, "strip", ed, "sequences_all")
        row = layout.row(align=True)
        row.prop(settings, "frame_start")
        row.prop(settings, "frame_end")
        layout.operator("foley.range_from_strip", icon="SEQ_STRIP_DUPLICATE")
        layout.prop(settings, "prompt")
        layout.prop(settings, "mode")
        row = layout.row(align=True)
        row.prop(settings, "markers", text="")
        row.operator("foley.spot", icon="MARKER_HLT")
        if settings.markers == "SCENE":
            n = len(scene_markers(context.scene, settings.frame_start, settings.frame_end))
            layout.label(text=f"{n} marker{'s' if n != 1 else ''} in the range (M adds one)")
        row = layout.row(align=True)
        row.prop(settings, "seed")
        row.prop(settings, "variations")
        layout.prop(settings, "stems")
        layout.prop(settings, "project")
        if settings.running:
            layout.prop(settings, "progress", slider=True, text="Progress")
            layout.operator("foley.cancel", icon="CANCEL")
        else:
            layout.operator("foley.generate", icon="PLAY_SOUND")
            layout.operator("foley.reimport", icon="FILE_REFRESH")
        if settings.status:
            layout.label(text=settings.status)


CLASSES = (FoleyPreferences, FoleySettings, FOLEY_OT_generate, FOLEY_OT_spot, FOLEY_OT_reimport,
           FOLEY_OT_cancel, FOLEY_OT_range_from_strip, SEQUENCER_PT_foley)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.foley_desktop = PointerProperty(type=FoleySettings)


def unregister():
    for entry in list(_JOBS.values()):
        entry["job"].cancel()
    _JOBS.clear()
    del bpy.types.Scene.foley_desktop
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
