"""Blender Video Sequence Editor add-on: `foley_desktop_vse/` is the add-on folder Blender loads
(zip it, or copy it into Blender's scripts/addons). It imports only bpy and the standard
library; the work runs in the `foley-desktop` CLI of an installed Foley Desktop."""
