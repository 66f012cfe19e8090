"""Diagnostics (foley_desktop/logs.py): configured once by the entry point, the package's
records on its own handler, third-party chatter on the root logger muted without touching the
package's loggers."""

from __future__ import annotations

import io
import logging

import pytest

from foley_desktop import logs


@pytest.fixture
def package_logger():
    """Restore the package logger after a test configured it."""
    logger = logging.getLogger(logs.PACKAGE)
    saved = logger.handlers[:], logger.level, logger.propagate, logs._configured
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
    logs._configured = saved[3]


def test_configure_once_sends_package_records_to_one_handler(package_logger, monkeypatch):
    monkeypatch.delenv(logs.ENV, raising=False)
    first, second = io.StringIO(), io.StringIO()
    logs.configure(stream=first)
    logs.configure(stream=second)  # a second call replaces the handler, never adds one
    log = logging.getLogger("foley_desktop.library.index")
    log.info("not shown at the default level")
    log.warning("a sound was skipped")
    assert first.getvalue() == ""
    lines = second.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith(
        "WARNING foley_desktop.library.index: a sound was skipped"), lines
    assert sum(h is logs._configured for h in package_logger.handlers) == 1
    assert len(package_logger.handlers) == 1


@pytest.mark.parametrize(("value", "level"), [("debug", logging.DEBUG), ("INFO", logging.INFO),
                                              ("error", logging.ERROR), ("", logging.WARNING),
                                              ("loud", logging.WARNING)])
def test_level_from_the_environment(monkeypatch, value, level):
    monkeypatch.setenv(logs.ENV, value)
    assert logs.level_from_env() == level


def test_quiet_third_party_mutes_the_root_logger_only(package_logger, caplog):
    out = io.StringIO()
    logs.configure(logging.INFO, stream=out)
    caplog.set_level(logging.INFO)   # caplog's handler sits on the root logger
    with logs.quiet_third_party():
        logging.getLogger().info("please consider pre-processing")   # ONNX Runtime's advice
        logging.getLogger().error("a real failure")
        logging.getLogger("onnxruntime.quantization.preprocess").info("shape inference")
        logging.getLogger("foley_desktop.quantize.dynamic").info("quantizing the denoiser")
    logging.getLogger().info("after the block")
    logging.getLogger("onnxruntime.quantization.preprocess").info("after, named")
    root_messages = [r.getMessage() for r in caplog.records if not r.name.startswith("foley")]
    assert root_messages == ["a real failure", "after the block", "after, named"]
    assert "quantizing the denoiser" in out.getvalue()
    assert logging.getLogger().filters == []   # nothing left behind
