"""mypy on the Qt-free layers, with the configuration in pyproject.toml ([tool.mypy]: which
packages, which strictness). A type error there fails CI like a failing test.

The checked packages include convert/ and train/ (the PyTorch side), with torch and
transformers read as Any (pyproject.toml says why). Cold run (empty cache) on the 2-core
development machine: about 8 s of CPU for the whole configuration (with torch followed it was
about 30 s); the cache lives in a temporary folder so each run is cold and nothing is left in
the checkout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mypy", reason="mypy is in the dev extra")


def _mypy(cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache),
                           "--no-error-summary", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_qt_free_layers_typecheck(tmp_path):
    proc = _mypy(ROOT, tmp_path / "cache")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, "mypy found type errors (pyproject.toml [tool.mypy]):\n" + out


def test_torch_side_is_checked():
    """convert/ and train/ are in the configuration's files (a package dropped from the list
    would pass unchecked)."""
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+")
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert {"foley_desktop/convert", "foley_desktop/train"} <= set(cfg["files"])


def test_typecheck_is_not_toothless(tmp_path):
    """The same configuration reports a planted Optional misuse in one of the checked packages
    (a check that cannot fail would pass an empty file list, or a config mypy does not read)."""
    pkg = tmp_path / "foley_desktop"
    (pkg / "media").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "media" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "media" / "planted.py").write_text(
        "def f(x: int | None = None):\n"
        "    y = x + 1\n"                            # Optional used as int
        "    return y  # type: ignore[misc]\n",      # an ignore that silences nothing
        encoding="utf-8")
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    proc = _mypy(tmp_path, tmp_path / "cache", "--config-file", str(cfg),
                 "foley_desktop/media/planted.py")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "planted.py:2: error" in out and "[operator]" in out, out
    assert 'planted.py:3: error: Unused "type: ignore" comment' in out, out
