"""Autosave and crash recovery.

The autosave of `P.foley` is `.P.foley.autosave` in the same folder (so its relative paths mean
the same thing). A project never saved autosaves to `untitled-<id>.foley.autosave` in the folder
that holds its unsaved takes (the GUI's `<cache>/unsaved/<clip>/`, so the takes lie inside it as
the loader demands), with a `.pid` file naming the process that owns it: at launch,
`find_untitled_recoveries` offers those whose owner is gone (killed or crashed), never one a
running window is still writing. The GUI calls `write_autosave` from a timer while the project has unsaved changes and
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


def _untitled_key(project: Project) -> str:
    media = os.path.normpath(os.path.abspath(project.media))
    return hashlib.sha1(f"{media}|{project.created}".encode()).hexdigest()[:12]


def autosave_path(project: Project | Path, untitled_folder: Path | None = None) -> Path:
    if isinstance(project, Project):
        if project.path is None:
            folder = untitled_folder if untitled_folder is not None else user_data_dir() / "autosave"
            return Path(folder) / f"untitled-{_untitled_key(project)}.foley.autosave"
        path = project.path
    else:
        path = Path(os.path.abspath(project))
    return path.parent / f".{path.name}.autosave"


def _owner_file(auto: Path) -> Path:
    return auto.with_name(auto.name + ".pid")


def _claim(auto: Path) -> None:
    with atomic_write(_owner_file(auto), "w") as fh:
        fh.write(str(os.getpid()))


def _owner_alive(auto: Path) -> bool:
    try:
        pid = int(_owner_file(auto).read_text().strip())
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    except OSError:
        return False
    return True


def write_autosave(project: Project, untitled_folder: Path | None = None) -> Path:
    """Write the project's current state beside it; the project's own file is not touched."""
    target = autosave_path(project, untitled_folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Relative paths are resolved against the folder the project will be saved in.
    folder = project.path.parent if project.path is not None else target.parent
    text = io.dumps(project, folder)
    try:
        if project.path is None:
            _claim(target)  # first, so a launch in between never takes it for a crash's
        with atomic_write(target, "w") as fh:
            fh.write(text)
    except FoleyError as exc:
        raise ProjectError(f"autosave failed: {exc}") from exc
    return target


def find_untitled_recoveries(roots: list[Path]) -> list[Path]:
    """Autosaves of never-saved projects whose process is gone, newest first.

    `roots` are folders whose sub-folders hold untitled autosaves (the GUI's `<cache>/unsaved`);
    the user data folder's `autosave/` is always searched too.
    """
    found: set[Path] = set()
    for root in [*roots, user_data_dir() / "autosave"]:
        root = Path(root)
        if root.is_dir():
            found.update(root.glob("untitled-*.foley.autosave"))
            found.update(root.glob("*/untitled-*.foley.autosave"))
    alive = [a for a in found if not _owner_alive(a)]
    return sorted(alive, key=lambda a: a.stat().st_mtime_ns, reverse=True)


def load_untitled_recovery(auto: Path) -> Project:
    """Read a never-saved project's autosave (still untitled) and claim it for this process."""
    project = io.load(auto)
    project.path = None
    _claim(auto)
    return project


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


def discard_autosave(project: Project | Path, untitled_folder: Path | None = None) -> None:
    targets = [autosave_path(project, untitled_folder)]
    if isinstance(project, Project) and project.path is not None and untitled_folder is not None:
        # Saved at last: the autosave it had while untitled goes too.
        targets.append(Path(untitled_folder) / f"untitled-{_untitled_key(project)}.foley.autosave")
    for auto in targets:
        for f in (auto, _owner_file(auto)):
            try:
                f.unlink()
            except FileNotFoundError:
                pass


def discard_untitled(auto: Path) -> None:
    """Delete one never-saved project's autosave (the user chose "Discard" when offered it)."""
    for f in (Path(auto), _owner_file(Path(auto))):
        try:
            f.unlink()
        except FileNotFoundError:
            pass
