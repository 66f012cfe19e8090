"""The editor's preferences as one typed value (the window stores it with QSettings,
`ui/settings.py`; the CLI builds one from its flags).

Every key, its type, its default and, where it is a choice, the list it is chosen from are
here and only here: the precision list is the engine's (`engine.package.PRECISIONS`), the
provider list the engine's (`engine.providers.CHOICES`), the export formats the export's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from foley_desktop.engine.package import PRECISIONS as _PACKAGE_PRECISIONS

PRECISION_CHOICES: tuple[str, ...] = ("auto",) + tuple(_PACKAGE_PRECISIONS)
# engine/providers.py imports onnxruntime; its CHOICES are the same four names. Kept literal
# here so the preferences load without onnxruntime, and checked equal by the tests.
PROVIDER_CHOICES: tuple[str, ...] = ("auto", "tensorrt", "cuda", "cpu")
EXPORT_FORMATS: tuple[str, ...] = ("wav24", "wav32f")


class Key(str, Enum):
    """The stored preference keys (the QSettings names)."""

    DEFAULT_MODEL = "default_model"
    PRECISION = "precision"
    PROVIDER = "provider"
    EXPORT_FORMAT = "export_format"
    CACHE_DIR = "cache_dir"


CHOICES: dict[Key, tuple[str, ...]] = {Key.PRECISION: PRECISION_CHOICES,
                                       Key.PROVIDER: PROVIDER_CHOICES,
                                       Key.EXPORT_FORMAT: EXPORT_FORMATS}


@dataclass(frozen=True)
class Preferences:
    default_model: str = ""      # "" = the engine's default package
    precision: str = "auto"      # one of PRECISION_CHOICES (a segment's own choice wins)
    provider: str = "auto"       # one of PROVIDER_CHOICES
    export_format: str = "wav24"  # one of EXPORT_FORMATS
    cache_dir: str = ""          # "" = the platform cache folder

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str):
                raise TypeError(f"preference {f.name} must be text, not {type(value).__name__}")
            allowed = CHOICES.get(Key(f.name))
            if allowed is not None and value not in allowed:
                raise ValueError(f"preference {f.name} must be one of {', '.join(allowed)}, "
                                 f"not {value!r}")

    def get(self, key: Key | str) -> str:
        return getattr(self, Key(key).value)

    def replace(self, **changes: Any) -> Preferences:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Preferences:
        """From a settings store: missing keys take their default, a value of the wrong type
        or outside its choices (an old or hand-edited file) too."""
        out: dict[str, str] = {}
        defaults = cls()
        for f in fields(cls):
            value = stored.get(f.name)
            if not isinstance(value, str):
                continue
            allowed = CHOICES.get(Key(f.name))
            if allowed is None or value in allowed:
                out[f.name] = value
        return dataclasses.replace(defaults, **out)
