"""`foley-desktop` command line.

Each subcommand lives in `foley_desktop/commands/<name>.py` and exposes
``HELP: str``, ``configure(parser)`` and ``run(args) -> int``. With no subcommand the GUI opens
(with a path, that clip).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from foley_desktop import __version__, logs
from foley_desktop.errors import Cancelled, FoleyError

# The subcommands, in the order --help lists them (each module's HELP is its line there).
SUBCOMMANDS: tuple[str, ...] = ("probe", "generate", "models", "spot", "library", "separate",
                                "project", "export", "quantize", "bench", "convert")


def _command_module(name: str):
    return importlib.import_module(f"foley_desktop.commands.{name}")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line (not the usage block) and exits 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Options holding text for the model or the index (not paths): they must be valid UTF-8.
_TEXT_OPTIONS = ("prompt", "negative", "name", "text")


def _check_text(args) -> None:
    for key in _TEXT_OPTIONS:
        value = getattr(args, key, None)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise FoleyError(f"--{key} is not valid UTF-8 text: check the terminal's "
                                 "encoding") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="foley-desktop",
        description="Generate synchronized Foley for video clips, offline. "
        "Without a subcommand the desktop app opens.",
    )
    parser.add_argument("--version", action="version", version=f"foley-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = _command_module(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        # Run as the program (not called in-process by a test or a host): the package's
        # warnings (skipped files, fallbacks) go to stderr; FOLEY_LOG=debug shows more.
        logs.configure()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `foley-desktop` or `foley-desktop CLIP` opens the GUI.
    if not argv or (len(argv) == 1 and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS):
        return main_gui(argv)
    if hasattr(signal, "SIGPIPE"):
        # `foley-desktop … | head -1`: end quietly when the reader goes away, as cat does,
        # instead of a BrokenPipeError traceback.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        # A parent may hand us SIGPIPE blocked (the mask survives exec; audio libraries block it
        # in their threads): then the write fails with EPIPE instead, caught below.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGPIPE})
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        _check_text(args)
        return int(args._run(args) or 0)
    except Cancelled:
        print("foley-desktop: cancelled; nothing was written.", file=sys.stderr)
        return 130
    except FoleyError as exc:
        print(f"foley-desktop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("foley-desktop: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`) with SIGPIPE blocked: not an error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ModuleNotFoundError as exc:  # the desktop bundle leaves the developer tools out
        if getattr(sys, "frozen", False) and (exc.name or "").startswith(("foley_desktop.", "torch", "onnx")):
            print(f"foley-desktop {args.command}: not part of the desktop app ({exc.name} is "
                  "left out); run it from a Python install", file=sys.stderr)
            return 2
        raise


def _no_display() -> bool:
    """Linux without a display to open a window on (an SSH session, a server): Qt would abort
    with a screenful about platform plugins."""
    return (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def main_gui(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the foley-desktop-gui program itself (see main)
        logs.configure()
    argv = list(sys.argv[1:] if argv is None else argv)
    path = argv[0] if argv else None
    if path is not None and not os.path.exists(path):
        import difflib

        close = difflib.get_close_matches(path, SUBCOMMANDS, n=1)
        hint = f" (did you mean `foley-desktop {close[0]}`?)" if close else ""
        print(f"foley-desktop: error: no such file: {path}{hint}", file=sys.stderr)
        return 2
    if _no_display():
        print("foley-desktop: no display to open the window on (DISPLAY is not set): run it "
              "in a desktop session, or use the commands (foley-desktop --help)", file=sys.stderr)
        return 2
    try:
        from foley_desktop.ui.app import run_app
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("foley_desktop.ui"):
            print("foley-desktop: this installation has no desktop window "
                  f"({exc.name} is missing): reinstall foley-desktop, or use the subcommands "
                  "(see --help).", file=sys.stderr)
            return 2
        raise
    except ImportError as exc:  # Qt's system libraries missing, e.g. libxcb-cursor0
        print(f"foley-desktop: cannot start the window: {exc}. "
              "See README: system packages.", file=sys.stderr)
        return 2
    return run_app(path)


if __name__ == "__main__":
    sys.exit(main())
