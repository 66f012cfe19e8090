"""The one output-path policy: a job never writes onto one of its own inputs.

Every command that writes files calls `check_outputs(outputs, inputs)` before any work starts:
an output that is (or resolves, through symbolic or hard links, to) an input file is refused
with one line naming both, as is an output that names a folder or sits in a missing one. Paths
are compared by what they point at, so `-o ./clip.mp4`, a symlink to the clip and a hard link
are all caught.

Where a file goes that the user did not name (`default_folder`): beside the clip or project
it belongs to when that folder is the user's own, never inside the app's own files (the shipped
demo clip, the installed package, a source checkout), nor into a folder the user cannot
write: those outputs go to the documents folder's "Foley Desktop" (FOLEY_DESKTOP_OUTPUT
overrides it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from foley_desktop.errors import FoleyError
from foley_desktop.paths import builtin_resources_dir, resources_dir

OUTPUT_FOLDER_NAME = "Foley Desktop"


def app_folders() -> list[Path]:
    """The app's own files: its package, its resources and, in a source checkout, the
    checkout (outputs placed there would sit among the sources)."""
    package = Path(__file__).resolve().parent
    out = [package, builtin_resources_dir().resolve(), resources_dir().resolve()]
    root = package.parent
    if (root / "pyproject.toml").is_file() or (root / ".git").exists():
        out.append(root)
    return out


def user_output_dir() -> Path:
    """The documents folder's "Foley Desktop" (FOLEY_DESKTOP_OUTPUT overrides it)."""
    env = os.environ.get("FOLEY_DESKTOP_OUTPUT")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_documents_dir()) / OUTPUT_FOLDER_NAME


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def default_folder(near: str | os.PathLike | None, create: bool = True) -> Path:
    """The folder for outputs of `near` (a clip or project file) the user did not name: its
    own folder when that is the user's, else `user_output_dir()` (created when `create`)."""
    if near is not None:
        folder = Path(near).resolve().parent
        if (folder.is_dir() and os.access(folder, os.W_OK)
                and not any(_inside(folder, app) for app in app_folders())):
            return folder
    out = user_output_dir()
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:   # one of them does not exist (yet): compare where they would resolve
        return a.resolve(strict=False) == b.resolve(strict=False)


def check_outputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike],
                  error: type[FoleyError] = FoleyError, suffixes: tuple[str, ...] = ()) -> None:
    """Raise `error` (one line) unless every output may be written: not an input of the job,
    not a folder, in an existing folder, and (when `suffixes` are given) named with one of them."""
    ins = [Path(p) for p in inputs if p is not None]
    for out in (Path(p) for p in outputs):
        if out.is_dir():
            raise error(f"{out} is a folder: give a file name (e.g. {out / 'foley.wav'})")
        if not out.parent.is_dir():
            raise error(f"cannot write {out}: no such folder {out.parent}")
        for src in ins:
            if _same(out, src):
                raise error(f"refusing to write {out}: it is an input of this job ({src}); "
                            "choose another output name")
        if suffixes and out.suffix.lower() not in suffixes:
            raise error(f"{out}: the file is written as {suffixes[0].lstrip('.').upper()}; "
                        f"name it {out.with_suffix(suffixes[0]).name}")


def check_output_dir(out_dir: str | os.PathLike, names: Iterable[str],
                     inputs: Iterable[str | os.PathLike], error: type[FoleyError] = FoleyError
                     ) -> None:
    """The files `names` a job will write into `out_dir` must not be any of its inputs."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise error(f"{out_dir} is a file, not a folder")
    ins = [Path(p) for p in inputs if p is not None]
    for name in names:
        target = out_dir / name
        for src in ins:
            if _same(target, src):
                raise error(f"refusing to write {target}: it is an input of this job; choose "
                            "another output folder")
