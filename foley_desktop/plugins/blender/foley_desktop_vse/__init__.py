"""Foley Desktop for Blender's Video Sequence Editor.

Sequencer ▸ sidebar (N) ▸ Foley: pick the movie strip and a frame range, describe the sound,
spot it (Blender's timeline markers: M while playing, or Auto-spot, which proposes them from
the picture for the editor to correct), Generate with the model or from the sound library.
The add-on runs the `foley-desktop` command line of an installed Foley Desktop in a
background process (progress and Cancel in the panel), then places the takes — and, on request,
the dialogue / background stems — as sound strips on new channels, each at the frame its BWF
TimeReference names. "Re-import" exports the project again and puts the strips where the app
now has them (after editing segments, choosing other takes or regenerating in the app).

The bpy parts live in `addon.py`, imported on register, so that importing this package
outside Blender (the app's bundle collects every module) needs no bpy.
"""

bl_info = {
    "name": "Foley Desktop",
    "author": "Foley Desktop",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Sequencer > Sidebar > Foley",
    "description": "Generate synchronized Foley for a movie strip with the Foley Desktop CLI",
    "category": "Sequencer",
}


def register():
    from . import addon

    addon.register()


def unregister():
    from . import addon

    addon.unregister()
