"""`foley-desktop` command line.

Each subcommand lives in `foley_desktop/commands/<name>.py` and exposes
``HELP: str``, ``configure(parser)`` and ``run(args) -> int``. A subcommand whose module does
not exist yet is listed in `PLANNED` and exits 2 saying so, rather than pretending.
With no subcommand the GUI opens (with a path, that clip).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from foley_desktop import __version__
from foley_desktop.errors import Cancelled, FoleyError

# name -> (one-line help, issue that builds it). Order is the order in --help.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("show what a media file contains (duration, streams, timecode)", "#2"),
    "generate": ("generate Foley audio for a clip or a project's segments", "#3"),
    "models": ("list installed model packages, their variants and sizes", "#3"),
    "spot": ("propose event markers (footsteps, hits) from the picture", "#23"),
    "library": ("index and search your sound-effects library", "#24"),
    "separate": ("split a clip's audio into dialogue and background stems", "#7"),
    "project": ("create, edit and inspect .foley projects headlessly", "#8"),
    "export": ("export a project's stems, takes and timeline files", "#8"),
    "quantize": ("write FP16 / INT8 variants into a model package", "#5"),
    "bench": ("benchmark every precision variant of a model package", "#5"),
    "convert": ("convert HunyuanVideo-Foley checkpoints into a model package", "#10"),
}


def _command_module(name: str):
    try:
        return importlib.import_module(f"foley_desktop.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"foley_desktop.commands.{name}":
            return None
        raise


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
    for name, (help_text, issue) in SUBCOMMANDS.items():
        module = _command_module(name)
        if module is None:
            p = sub.add_parser(name, help=f"{help_text} [not built yet: {issue}]",
                               description=f"{help_text}. Not built yet (issue {issue}).")
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            p.set_defaults(_run=_not_built(name, issue))
        else:
            p = sub.add_parser(name, help=module.HELP, description=module.HELP)
            module.configure(p)
            p.set_defaults(_run=module.run)
    return parser


def _not_built(name: str, issue: str):
    def run(_args) -> int:
        print(f"foley-desktop {name}: not built yet (planned in issue {issue}).", file=sys.stderr)
        return 2

    return run


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `foley-desktop` or `foley-desktop CLIP` opens the GUI.
    if not argv or (len(argv) == 1 and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS):
        return main_gui(argv)
    if hasattr(signal, "SIGPIPE"):
        # `foley-desktop … | head -1`: end quietly when the reader goes away, as cat does,
        # instead of a BrokenPipeError traceback.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
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
    except ModuleNotFoundError as exc:  # the desktop bundle leaves the developer tools out
        if getattr(sys, "frozen", False) and (exc.name or "").startswith(("foley_desktop.", "torch", "onnx")):
            print(f"foley-desktop {args.command}: not part of the desktop app ({exc.name} is "
                  "left out); run it from a Python install", file=sys.stderr)
            return 2
        raise


def main_gui(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from foley_desktop.ui.app import run_app
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("foley_desktop.ui"):
            print("foley-desktop: the desktop window is not built yet (issue #6); "
                  "use the subcommands (see --help).", file=sys.stderr)
            return 2
        raise
    except ImportError as exc:  # Qt's system libraries missing, e.g. libxcb-cursor0
        print(f"foley-desktop: cannot start the window: {exc}. "
              "See README: system packages.", file=sys.stderr)
        return 2
    path = argv[0] if argv else None
    if path is not None and not os.path.exists(path):
        print(f"foley-desktop: error: no such file: {path}", file=sys.stderr)
        return 2
    return run_app(path)


if __name__ == "__main__":
    sys.exit(main())
