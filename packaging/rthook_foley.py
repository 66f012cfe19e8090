"""PyInstaller runtime hook: runs inside the frozen app before its first import.

It points the app at what the spec put inside the bundle. A variable already set by the user
wins (`setdefault`), so a tester can aim the bundle at other resources.
"""

import glob
import os
import sys

_root = sys._MEIPASS  # the bundle's `_internal/` folder

# paths.resources_dir() reads this (see foley_desktop/paths.py).
os.environ.setdefault("FOLEY_DESKTOP_RESOURCES", os.path.join(_root, "resources"))

# separation/rnnoise.py finds librnnoise through the pyrnnoise package's folder, which the
# bundle does not carry as a package (its Python side pulls matplotlib): name the file.
_rnnoise = os.path.join(_root, "pyrnnoise", "librnnoise.so")
if os.path.isfile(_rnnoise):
    os.environ.setdefault("FOLEY_RNNOISE_LIB", _rnnoise)

if sys.platform.startswith("linux"):
    # sounddevice asks ctypes.util.find_library("portaudio"), which on Linux consults only
    # ldconfig's cache (and gcc/ld), never the bundle: a user without libportaudio2 installed
    # would get no playback. Answer with the bundled copy first, for any bundled library.
    import ctypes.util

    _system_find_library = ctypes.util.find_library

    def _find_library(name):
        base = f"lib{name}.so"
        hits = sorted(p for p in glob.glob(os.path.join(glob.escape(_root), glob.escape(base) + "*"))
                      if os.path.basename(p) == base or os.path.basename(p).startswith(base + "."))
        return hits[0] if hits else _system_find_library(name)

    ctypes.util.find_library = _find_library
