"""Moved to `foley_desktop.app.drag_files` (it has no Qt). This name is the same module object, so
`from foley_desktop.ui import drag_files` and attributes set on it (tests patch constants) still
reach the one implementation."""

import sys

from foley_desktop.app import drag_files as _moved

sys.modules[__name__] = _moved
