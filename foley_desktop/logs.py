"""Diagnostics: one logger per module (`logging.getLogger(__name__)`), configured once by the
program that runs them.

Library code never prints a diagnostic and never changes the root logger's level: it logs on
its module's logger, under "foley_desktop". What a command tells its user (results, the one-line
error) stays on stdout / stderr as it is. `configure` is called once by the entry point (the CLI
and the desktop app); tests and embedders that do not call it see the standard library's
default (warnings and errors on stderr, through the "last resort" handler).

FOLEY_LOG=debug|info|warning|error sets the level (default warning).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import TextIO

PACKAGE = "foley_desktop"
ENV = "FOLEY_LOG"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_configured: logging.Handler | None = None


def level_from_env(default: int = logging.WARNING) -> int:
    """The level FOLEY_LOG names; `default` when it is unset or not a level name."""
    name = os.environ.get(ENV, "").strip().upper()
    value = logging.getLevelName(name) if name else None
    return value if isinstance(value, int) else default


def configure(level: int | None = None, stream: TextIO | None = None) -> logging.Handler:
    """Send the package's records at `level` (default: FOLEY_LOG, else warning) to `stream`
    (stderr). Idempotent: a second call replaces the first one's handler, never adds one."""
    global _configured
    logger = logging.getLogger(PACKAGE)
    if _configured is not None:
        logger.removeHandler(_configured)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(level_from_env() if level is None else level)
    # the package's own handler prints its records; the root's handlers (if an embedding
    # program set any) do not print them a second time
    logger.propagate = False
    _configured = handler
    return handler


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


# third-party loggers muted below ERROR by quiet_third_party (their children follow)
CHATTY = ("onnxruntime",)


@contextlib.contextmanager
def quiet_third_party() -> Iterator[None]:
    """Mute what third-party tools log below ERROR while the block runs: ONNX Runtime's
    quantizer logs its advice ("please consider pre-processing …") on the *root* logger and some
    of its modules on "onnxruntime.*"; and their Python warnings. The package's own loggers are
    untouched: a filter on the root logger sees only the records logged on the root logger
    itself, not those its children propagate."""
    root = logging.getLogger()
    muted = _BelowError()
    root.addFilter(muted)
    chatty = [logging.getLogger(name) for name in CHATTY]
    levels = [logger.level for logger in chatty]
    for logger in chatty:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(muted)
        for logger, level in zip(chatty, levels):
            logger.setLevel(level)
