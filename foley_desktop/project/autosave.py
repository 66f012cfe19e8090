"""Autosave and crash recovery.

The autosave of `P.foley` is `.P.foley.autosave` in the same folder (so its relative paths mean
the same thing); a project never saved autosaves into the user data folder under its creation
id. The GUI calls `write_autosave` from a timer while the project has unsaved changes and
`discard_autosave` after a real save; on opening, `find_recovery` tells whether an autosave is
newer than the file and differs from it, and `load_recovery` reads it (its `path` set to the
real project file, so "save" writes there).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from foley_desktop.errors import FoleyError, ProjectError
from foley_desktop.fsutil import atomic_write
from foley_desktop.paths import user_data_dir
from foley_desktop.project import io
from foley_desktop.project.model import Project


def autosave_path(project: Project | Path) -> Path:
    if isinstance(project, Project):
        if project.path is None:
            key = hashlib.sha1(f"{project.media}|{project.created}".encode()).hexdigest()[:12]
            return user_data_dir() / "autosave" / f"untitled-{key}.foley.autosave"
        path = project.path
    else:
        path = Path(os.path.abspath(project))
    return path.parent / f".{path.name}.autosave"


def write_autosave(project: Project) -> Path:
    """Write the project's current state beside it; the project's own file is not touched."""
    target = autosave_path(project)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Relative paths are resolved against the folder the project will be saved in.
    folder = project.path.parent if project.path is not None else target.parent
    text = io.dumps(project, folder)
    try:
        with atomic_write(target, "w") as fh:
            fh.write(text)
    except FoleyError as exc:
        raise ProjectError(f"autosave failed: {exc}") from exc
    return target


def find_recovery(project_path: str | os.PathLike) -> Path | None:
    """The autosave to offer when opening `project_path`, or None.

    Offered when it exists and either the project file is missing or the autosave is newer and
    says something different (an autosave equal to the file is stale and is removed).
    """
    project_path = Path(os.path.abspath(project_path))
    auto = autosave_path(project_path)
    if not auto.exists():
        return None
    if not project_path.exists():
        return auto
    if auto.stat().st_mtime_ns < project_path.stat().st_mtime_ns:
        return None
    try:
        same = io.load(auto).__dict__ | {"path": None} == io.load(project_path).__dict__ | {"path": None}
    except ProjectError:
        same = False
    if same:
        discard_autosave(project_path)
        return None
    return auto


def load_recovery(project_path: str | os.PathLike) -> Project:
    """Read the autosave of `project_path`; saving the result writes the real project file."""
    project_path = Path(os.path.abspath(project_path))
    auto = autosave_path(project_path)
    doc_project = io.load(auto)
    doc_project.path = project_path
    return doc_project


def discard_autosave(project: Project | Path) -> None:
    try:
        autosave_path(project).unlink()
    except FileNotFoundError:
        pass
