"""One writer per project: an advisory lock beside the project file.

`P.foley.lock` is locked with `flock` by whoever edits the project: a CLI command for the span
of its read-modify-write (so eight parallel `project add-segment` all land, one after another),
`generate --project` for its whole run, the window for as long as the project is open. The
kernel drops an `flock` when its process dies, kill -9 included, so a crashed editor never
leaves a lock behind; the JSON written into the file only says who holds it, for the message.

Locks are re-entrant within a process (the window's saves, a command that saves twice).
Where `fcntl` is missing (Windows) the lock is a no-op and says so in `held_by`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from foley_desktop.errors import ProjectError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

WAIT_S = 10.0          # how long a command waits for another writer before giving up
_held: dict[str, tuple[int, int]] = {}   # real lock path -> (fd, depth) held by this process
_guard = threading.Lock()


def lock_path(project_path: str | os.PathLike) -> Path:
    real = Path(os.path.realpath(project_path))
    return real.with_name(real.name + ".lock")


def held_by(project_path: str | os.PathLike) -> dict | None:
    """Who holds the project's lock (pid, user, host, app, since), or None when nobody does."""
    path = lock_path(project_path)
    if fcntl is None or not path.exists():
        return None
    with _guard:
        if str(path) in _held:
            return _owner()
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            return json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}") or {"pid": "?"}
        except (OSError, ValueError):
            return {"pid": "?"}
        finally:
            os.close(fd)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    return None


def describe(owner: dict) -> str:
    who = owner.get("app", "another program")
    bits = [f"pid {owner.get('pid', '?')}"]
    if owner.get("user"):
        bits.append(f"user {owner['user']}")
    if owner.get("host") and owner.get("host") != socket.gethostname():
        bits.append(f"on {owner['host']}")
    if owner.get("since"):
        bits.append(f"since {owner['since']}")
    return f"{who} ({', '.join(bits)})"


def _owner(app: str = "foley-desktop") -> dict:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = ""
    return {"pid": os.getpid(), "user": user, "host": socket.gethostname(), "app": app,
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def acquire(project_path: str | os.PathLike, wait_s: float | None = None,
            app: str = "foley-desktop") -> Path:
    """Take the project's lock (waiting up to `wait_s`, default WAIT_S or the environment's
    FOLEY_DESKTOP_LOCK_WAIT_S, for another writer), or raise a one-line `ProjectError` naming
    who holds it. Pair with `release`."""
    if wait_s is None:
        wait_s = float(os.environ.get("FOLEY_DESKTOP_LOCK_WAIT_S", WAIT_S))
    path = lock_path(project_path)
    if fcntl is None:
        return path
    key = str(path)
    with _guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            return path
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ProjectError(f"cannot lock {project_path}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                try:
                    owner = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
                except (OSError, ValueError):
                    owner = {}
                os.close(fd)
                raise ProjectError(f"{Path(project_path).name} is being edited by "
                                   f"{describe(owner or {'pid': '?'})}; try again when it is "
                                   "done") from None
            time.sleep(0.05)
    info = json.dumps(_owner(app)).encode("utf-8")
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
    with _guard:
        _held[key] = (fd, 1)
    return path


def release(project_path: str | os.PathLike) -> None:
    path = lock_path(project_path)
    if fcntl is None:
        return
    key = str(path)
    with _guard:
        if key not in _held:
            return
        fd, depth = _held[key]
        if depth > 1:
            _held[key] = (fd, depth - 1)
            return
        del _held[key]
    # The file stays (removing it would race with a writer that just opened it); only the
    # owner text goes, so a reader sees nobody.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextlib.contextmanager
def locked(project_path: str | os.PathLike, wait_s: float | None = None) -> Iterator[Path]:
    path = acquire(project_path, wait_s)
    try:
        yield path
    finally:
        release(project_path)
