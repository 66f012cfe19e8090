"""Load and save `.foley` project files.

Paths in the file are relative to the file's folder (POSIX separators) so a project folder can
be moved or shared with its clip beside it; the clip may live anywhere (a relative path with
"..", or absolute on another drive). Files the app writes itself (takes, separated stems) must
lie inside the project folder: a file that points them elsewhere is refused, so a hand-edited
or hostile project can never make the app write outside its folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foley_desktop import __version__
from foley_desktop.errors import FoleyError, ProjectError
from foley_desktop.fsutil import atomic_write
from foley_desktop.project import lock
from foley_desktop.project.model import Project, Segment, Take
from foley_desktop.project.schema import FORMAT_VERSION, migrate, validate
from foley_desktop.spotting.markers import Marker, sorted_unique

if TYPE_CHECKING:
    from foley_desktop.media.probe import MediaInfo  # imported when probing: PyAV

PROJECT_SUFFIX = ".foley"
MAX_FILE_BYTES = 64 * 2**20   # a project of 10,000 segments with takes is ~10 MiB


def _to_rel(path: Path, folder: Path) -> str:
    path = Path(os.path.abspath(path))
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive on Windows: keep it absolute
        return path.as_posix()


def _from_rel(text: str, folder: Path) -> Path:
    return Path(os.path.normpath(folder / Path(text)))


def is_inside(path: Path, folder: Path) -> bool:
    """True when `path` (after resolving "..", symlinks) lies inside `folder`."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def ensure_writable_inside(path: Path, folder: Path) -> Path:
    """Refuse a path the app would write to outside the project folder."""
    if not is_inside(path, folder):
        raise ProjectError(f"refusing to write {path}: it is outside the project folder {folder}")
    return path


def to_dict(project: Project, folder: Path) -> dict[str, Any]:
    """The JSON document for `project` as saved in `folder`."""
    return {
        "format_version": FORMAT_VERSION,
        "app": f"foley-desktop {__version__}",
        "name": project.name,
        "created": project.created,
        "media": _to_rel(project.media, folder),
        "media_info": dict(project.media_info),
        "segments": [
            {
                "id": s.id, "start": int(s.start), "end": int(s.end), "prompt": s.prompt,
                "negative": s.negative, "seed": s.seed, "variations": s.variations,
                "steps": s.steps, "guidance": s.guidance, "visual_guidance": s.visual_guidance,
                "model": s.model,
                "precision": s.precision, "gain_db": s.gain_db,
                **({"literal_prompt": True} if s.literal_prompt else {}),
                **({"markers": [m.to_dict() for m in s.markers]} if s.markers else {}),
                **({"mode": s.mode} if s.mode != "model" else {}),
                **({"between_markers": s.between_markers}
                   if s.between_markers != "auto" else {}),
                **({"spot_roi": [int(v) for v in s.spot_roi]} if s.spot_roi is not None else {}),
                **({"pinned": list(s.pinned)} if s.pinned else {}),
                "takes": [
                    {"id": t.id, "path": _to_rel(t.path, folder), "seed": t.seed, "model": t.model,
                     "version": t.version, "variant": t.variant, "provider": t.provider,
                     "created": t.created,
                     **({"prompt_used": t.prompt_used} if t.prompt_used else {}),
                     **({"mode": t.mode} if t.mode != "model" else {}),
                     **({"params": t.params} if t.params else {}),
                     **({"sources": t.sources} if t.sources else {}),
                     **({"sync": t.sync} if t.sync is not None else {})}
                    for t in s.takes
                ],
                "active_take": s.active_take,
            }
            for s in project.segments
        ],
        "stems": {k: _to_rel(v, folder) for k, v in sorted(project.stems.items())},
        "settings": dict(project.settings),
        "speech": [[int(a), int(b)] for a, b in project.speech],
    }


def from_dict(doc: dict[str, Any], folder: Path, path: Path | None = None) -> Project:
    """Build a `Project` from a document (migrated and validated here)."""
    doc = migrate(doc)
    validate(doc)
    segments = []
    for s in doc["segments"]:
        takes = []
        for t in s.get("takes", []):
            take_path = _from_rel(t["path"], folder)
            if not is_inside(take_path, folder):
                raise ProjectError(f"invalid project file: take {t['id']} points outside the "
                                   f"project folder ({t['path']})")
            takes.append(Take(id=t["id"], path=take_path, seed=t["seed"], model=t.get("model", ""),
                              version=t.get("version", ""), variant=t.get("variant", ""),
                              provider=t.get("provider", ""), created=t.get("created", ""),
                              prompt_used=t.get("prompt_used", ""), mode=t.get("mode", "model"),
                              params=dict(t.get("params", {})),
                              sources=[dict(x) for x in t.get("sources", [])],
                              sync=t.get("sync")))
        segments.append(Segment(
            id=s["id"], start=s["start"], end=s["end"], prompt=s["prompt"],
            negative=s.get("negative"), seed=s.get("seed"), variations=s.get("variations", 1),
            steps=s.get("steps"), guidance=s.get("guidance"),
            visual_guidance=s.get("visual_guidance"), model=s.get("model"),
            precision=s.get("precision", "auto"), gain_db=float(s.get("gain_db", 0.0)),
            literal_prompt=bool(s.get("literal_prompt", False)),
            markers=sorted_unique(Marker.from_dict(m) for m in s.get("markers", [])),
            mode=s.get("mode", "model"), pinned=list(s.get("pinned", [])),
            between_markers=s.get("between_markers", "auto"),
            spot_roi=_roi(s.get("spot_roi")),
            takes=takes, active_take=s.get("active_take")))
    stems = {}
    for kind, rel in doc.get("stems", {}).items():
        p = _from_rel(rel, folder)
        if not is_inside(p, folder):
            raise ProjectError(f"invalid project file: stem {kind} points outside the project "
                               f"folder ({rel})")
        stems[kind] = p
    info = dict(doc["media_info"])
    info.setdefault("drop_frame", False)
    info.setdefault("audio_channels", 2)
    return Project(media=_from_rel(doc["media"], folder), media_info=info, segments=segments,
                   stems=stems, settings=dict(doc.get("settings", {})),
                   speech=[(int(a), int(b)) for a, b in doc.get("speech", [])], name=doc.get("name", ""),
                   created=doc.get("created", ""), path=path)


def _roi(value: Any) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    x, y, w, h = (int(v) for v in value)
    return x, y, w, h


def load(path: str | os.PathLike) -> Project:
    """Read a project file; any problem is a one-line `ProjectError`."""
    # A project opened through a symbolic link is the file the link points to: its relative
    # paths are relative to that file's folder, and saving writes that file, keeping the link.
    path = Path(os.path.realpath(os.path.abspath(path)))
    try:
        if path.exists() and not path.is_file():
            raise ProjectError(f"not a project file (a folder, pipe or device): {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ProjectError(f"{path.name} is {path.stat().st_size // 2**20} MiB: not a project "
                               f"file (they stay under {MAX_FILE_BYTES // 2**20} MiB)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"no such project file: {path}") from None
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProjectError(f"{path.name} is not a project file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path.name} is corrupt: {exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno}") from None
    except RecursionError:
        raise ProjectError(f"{path.name} is not a project file (nested too deeply)") from None
    try:
        return from_dict(doc, path.parent, path)
    except ProjectError as exc:
        raise ProjectError(f"{path.name}: {exc}") from None


def dumps(project: Project, folder: Path) -> str:
    doc = to_dict(project, folder)
    validate(doc)  # never write a file we would refuse to read
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def save(project: Project, path: str | os.PathLike | None = None) -> Path:
    """Write the project atomically to `path` (default: where it came from) and adopt that path.

    Saving into another folder ("Save As") copies the takes and stems the app generated into
    the new project's cache folder, since those must live inside the project folder.
    """
    if path is None:
        if project.path is None:
            raise ProjectError("the project has never been saved: give a file name")
        path = project.path
    # Through a symbolic link: write the file it points to (the link stays a link).
    path = Path(os.path.realpath(os.path.abspath(path)))
    if path.suffix != PROJECT_SUFFIX:
        raise ProjectError(f"project files end in {PROJECT_SUFFIX}: {path.name}")
    if not path.parent.is_dir():
        raise ProjectError(f"no such folder: {path.parent}")
    _bring_inside(project, path)
    text = dumps(project, path.parent)
    try:
        # One writer at a time (project/lock.py; re-entrant for a process that holds it).
        with lock.locked(path), atomic_write(path, "w") as fh:
            fh.write(text)
    except FoleyError as exc:
        raise ProjectError(str(exc)) from exc
    project.path = path
    return path


def _bring_inside(project: Project, new_path: Path) -> None:
    """Copy generated files that would end up outside the new project's folder into its cache."""
    folder = new_path.parent
    cache = folder / f"{new_path.stem}.foley-cache"
    moves: list[tuple[object, str, Path, Path]] = []
    for seg in project.segments:
        for take in seg.takes:
            if not is_inside(take.path, folder):
                moves.append((take, "path", take.path, cache / "takes" / seg.id / take.path.name))
    for kind, p in project.stems.items():
        if not is_inside(p, folder):
            moves.append((project.stems, kind, p, cache / "stems" / p.name))
    for owner, attr, src, dst in moves:
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                with atomic_write(dst) as out, open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 20)
            except (OSError, FoleyError) as exc:
                raise ProjectError(f"cannot copy {src.name} into {cache}: {exc}") from exc
        if isinstance(owner, dict):
            owner[attr] = dst
        else:
            setattr(owner, attr, dst)


def summarize_media(info: MediaInfo) -> dict[str, Any]:
    """The part of a `media.MediaInfo` a project keeps (see `Project.media_info`)."""
    v = info.video
    tc = info.timecode
    return {
        "duration_samples": int(info.duration_samples),
        "fps": None if v is None else f"{v.fps.numerator}/{v.fps.denominator}",
        "timecode": tc,
        "drop_frame": bool(tc and ";" in tc),
        "width": None if v is None else v.display_width,
        "height": None if v is None else v.display_height,
        "audio_channels": 0 if info.audio is None else int(info.audio.channels),
        "container": info.container,
    }


def new_project(video: str | os.PathLike, name: str = "") -> Project:
    """A project for `video` (probed now; raises `MediaError` for a file that is not media)."""
    from foley_desktop.media.probe import probe

    info = probe(video)
    if info.video is None:
        raise ProjectError(f"{Path(video).name} has no video stream: a project needs a clip")
    if info.duration_samples <= 0:
        raise ProjectError(f"{Path(video).name} has no duration")
    return Project(media=Path(os.path.abspath(video)), media_info=summarize_media(info),
                   name=name or Path(video).stem)
