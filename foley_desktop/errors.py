"""Typed exceptions for mistakes a user can make or faults they can fix.

The CLI turns any `FoleyError` into one line on stderr and exit code 2; the GUI shows the
message in a dialog. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FoleyError(Exception):
    """Base class: the message is written for the user, in one line."""


class MediaError(FoleyError):
    """A file is missing, unreadable, not media, truncated or otherwise unusable."""


class NoStreamError(MediaError):
    """The file is media but lacks the stream (video or audio) that was asked for."""


class ModelPackageError(FoleyError):
    """A model package is missing, incomplete, tampered with or inconsistent."""


class GenerationError(FoleyError):
    """Bad generation parameters (empty prompt, bad range) or a model produced NaN/Inf."""


class ProjectError(FoleyError):
    """A project file is corrupt, of a future version, or refers to something invalid."""


class ExportError(FoleyError):
    """An export could not be written; earlier exports are left intact."""


class Cancelled(FoleyError):
    """A job was cancelled by the user; nothing partial was written."""
