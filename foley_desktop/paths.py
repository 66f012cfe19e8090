"""Where shipped resources, user data and caches live."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "foley-desktop"


def resources_dir() -> Path:
    """The shipped `resources/` folder.

    In a source checkout or editable install it is `<repo>/resources`; in an installed wheel it
    is the `foley_desktop.resources` package (pyproject maps it); a frozen bundle sets
    FOLEY_DESKTOP_RESOURCES.
    """
    env = os.environ.get("FOLEY_DESKTOP_RESOURCES")
    if env:
        return Path(env)
    return builtin_resources_dir()


def builtin_resources_dir() -> Path:
    """The resources that came with this code (checkout or installed package), whatever
    FOLEY_DESKTOP_RESOURCES says: for data the code itself needs, not swappable models."""
    repo = Path(__file__).resolve().parent.parent / "resources"
    if repo.is_dir():
        return repo
    return Path(__file__).resolve().parent / "resources"


def user_data_dir() -> Path:
    env = os.environ.get("FOLEY_DESKTOP_DATA")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_cache_dir() -> Path:
    env = os.environ.get("FOLEY_DESKTOP_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def model_search_path() -> list[Path]:
    """Folders whose sub-folders are model packages: shipped first, then the user's."""
    return [resources_dir() / "models", user_data_dir() / "models"]
