"""Moved to `foley_desktop.app.audio_cache` (it has no Qt). This name is the same module object, so
`from foley_desktop.ui import audio_cache` and attributes set on it (tests patch constants) still
reach the one implementation."""

import sys

from foley_desktop.app import audio_cache as _moved

sys.modules[__name__] = _moved
