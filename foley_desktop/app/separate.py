"""Separate a project's clip into dialogue and background stems (the window's File ▸ Separate
and `project separate`): the separation job, then the stems and speech regions as the project
records them (`SetStems`), so the Dialogue and Background lanes and the export use them."""

from __future__ import annotations

from pathlib import Path

from foley_desktop.errors import ProjectError
from foley_desktop.jobs import CancelToken, ProgressFn
from foley_desktop.project.commands import SetStems
from foley_desktop.project.model import Project


def check_separable(project: Project) -> None:
    """Raise ProjectError (one line) when there is nothing to separate: a clip without audio,
    or a clip that is not where the project says. Said before any job starts."""
    if project.media_info.get("audio_channels", 1) == 0:
        raise ProjectError(f"{project.media.name} has no audio: nothing to separate")
    if not project.media.exists():
        raise ProjectError(f"the clip is missing: {project.media}")


def stems_folder(project: Project) -> Path:
    """Where a saved project's stems go: its cache folder, beside the takes."""
    return project.cache_dir / "stems"


def separate_project(project: Project, out_dir: str | Path | None = None,
                     backend: str = "default", progress: ProgressFn | None = None,
                     cancel: CancelToken | None = None) -> SetStems:
    """Run separation on the project's clip into `out_dir` (default: `stems_folder`) and
    return the command that records the stems and speech regions (not applied: the window
    pushes it on its undo stack, the CLI applies and saves it)."""
    from foley_desktop.separation.job import separate

    out = Path(out_dir) if out_dir is not None else stems_folder(project)
    result = separate(str(project.media), out, backend=backend, progress=progress,
                      cancel=cancel)
    end = project.duration_samples
    speech = [(max(0, int(a)), min(end, int(b))) for a, b in result.speech_regions]
    return SetStems({"dialogue": Path(result.dialogue_path),
                     "background": Path(result.background_path)},
                    [(a, b) for a, b in speech if a < b])
