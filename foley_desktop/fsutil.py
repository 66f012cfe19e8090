"""Writes that never leave a half-written file behind."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from foley_desktop.errors import FoleyError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file next to `path`; on success fsync and rename it over `path`.

    On any exception the temp file is removed and `path` is untouched (an earlier version of
    it survives). OSErrors (full disk, read-only folder) become a `FoleyError` naming the path.
    """
    path = Path(path)
    try:
        # The writer's pid is in the name, so a later run can tell a temp file left by a killed
        # writer (sweep_stale_temps) from one another process is still writing.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=path.parent)
    except OSError as exc:
        raise FoleyError(f"cannot write {path}: {exc.strerror or exc}") from exc
    ok = False
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        ok = True
    except OSError as exc:
        raise FoleyError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_temp_path(path: str | os.PathLike) -> Path:
    """A temp path in the same folder as `path`, for writers that need a file name (PyAV)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=path.suffix + ".tmp",
                               dir=path.parent)
    os.close(fd)
    return Path(tmp)


def temp_name(path: str | os.PathLike) -> Path:
    """`.NAME.PID.partial` beside `path`: a fixed temp name for writers that rename at the end."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


# .NAME.PID.XXXX.tmp (atomic_write), .NAME.PID.partial (temp_name), and the pid-less names
# earlier versions left (.NAME.partial, .NAME.XXXX.tmp, .STEM.XXXX.partialSUFFIX).
_TEMP = re.compile(r"^\..+?\.(?:(?P<pid>\d+)\.)?"
                   r"(?:[A-Za-z0-9_]+\.tmp|(?:[A-Za-z0-9_]{8}\.)?partial(?:\.[A-Za-z0-9]+)?)$")
OLD_TEMP_S = 3600  # a pid-less temp file older than this is left over from a killed run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's live process
        return True
    return True


def sweep_stale_temps(folder: str | os.PathLike, now: float | None = None) -> int:
    """Remove the hidden temp files a killed writer left in `folder` (its pid is gone, or the
    name has no pid and is over an hour old); returns how many. Temp files of live writers
    stay. Called before a job writes into a folder, so kill -9 leaves no debris for long."""
    import time

    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(os.fspath(folder)))
    except OSError:
        return 0
    for e in entries:
        if not e.name.startswith(".") or not e.is_file(follow_symlinks=False):
            continue
        m = _TEMP.match(e.name)
        if m is None:
            continue
        pid = m.group("pid")
        try:
            stale = (not _alive(int(pid)) if pid and int(pid) != os.getpid() else
                     (not pid and now - e.stat().st_mtime > OLD_TEMP_S))
        except (OSError, ValueError):
            continue
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(e.path)
                removed += 1
                log.info("removed %s, a temp file left by a writer that was killed", e.path)
    return removed
