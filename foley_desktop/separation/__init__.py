"""Separation layer: split a clip's own audio into a dialogue stem and a background stem.

`separate(input, out_dir, backend="default", progress=None, cancel=None)` is the job;
backends implement `Separator.process_block` (see base.py); `speech_regions(path)` gives the
VAD's speech regions for the timeline. See docs/separation.md.
"""

from foley_desktop.separation.base import Separator, backends, make_separator, separate_array
from foley_desktop.separation.job import SeparationResult, separate
from foley_desktop.separation.regions import regions_from_probs, speech_regions

__all__ = ["SeparationResult", "Separator", "backends", "make_separator", "regions_from_probs",
           "separate", "separate_array", "speech_regions"]
