"""Timeline: ruler, thumbnails, waveform and stem lanes, the Foley lane with segments."""

from foley_desktop.ui.timeline.canvas import LANES, SegmentItem, TimelineCanvas
from foley_desktop.ui.timeline.widget import TimelineWidget

__all__ = ["LANES", "SegmentItem", "TimelineCanvas", "TimelineWidget"]
