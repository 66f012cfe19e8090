"""Writes that never leave a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from foley_desktop.errors import FoleyError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file next to `path`; on success fsync and rename it over `path`.

    On any exception the temp file is removed and `path` is untouched (an earlier version of
    it survives). OSErrors (full disk, read-only folder) become a `FoleyError` naming the path.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)
