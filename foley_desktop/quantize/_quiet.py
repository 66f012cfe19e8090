"""ONNX Runtime's quantizer logs advice ("please consider pre-processing") on the root logger;
the quantize report says what matters, so that chatter is muted while it runs."""

from __future__ import annotations

import contextlib
import logging
import warnings


@contextlib.contextmanager
def quiet():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
