"""The layer rules of DESIGN.md, enforced on the source (napari-style).

The rules themselves are import-linter contracts in pyproject.toml ([tool.importlinter]):
layers that point down with indirect imports included, nothing outside ui/ importing Qt, the
application layer free of the UI and Qt, PyTorch only behind the train extra. This file runs
`lint-imports` on the source, shows that the contracts do catch a violation (on a copy of the
package with two bad imports planted), and keeps the one check the contracts cannot express:
a Qt or torch import named as a string (importlib) is still an import.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "foley_desktop"
QT = ("PySide6", "PyQt5", "PyQt6", "qtpy", "superqt", "shiboken6")
TORCH_OK = ("train", "convert")  # subpackages allowed to import torch

pytest.importorskip("importlinter", reason="import-linter is in the dev extra")


def _lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_import_contracts_hold():
    proc = _lint_imports(ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, "import contracts broken (pyproject.toml [tool.importlinter]):\n" + out
    # all four contracts ran (a contract that silently vanished from the config would not fail)
    assert re.search(r"Contracts: 4 kept, 0 broken", out), out


def test_contracts_catch_planted_violations(tmp_path):
    """A copy of the package with an upward import in media/ and a lazy Qt import in engine/:
    lint-imports must fail and name both contracts."""
    shutil.copytree(PKG, tmp_path / "foley_desktop",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "foley_desktop" / "media" / "zz_planted.py").write_text(
        "from foley_desktop.export import placement  # export is above media\n", encoding="utf-8")
    (tmp_path / "foley_desktop" / "engine" / "zz_planted.py").write_text(
        "def f():\n    from PySide6 import QtCore  # lazy, still an import\n    return QtCore\n",
        encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = _lint_imports(tmp_path, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Layers point down (DESIGN.md), indirect imports included BROKEN" in out, out
    assert "Nothing outside foley_desktop.ui imports Qt BROKEN" in out, out
    assert "foley_desktop.media.zz_planted" in out and "foley_desktop.engine.zz_planted" in out, out
    assert "Contracts: 2 kept, 2 broken" in out, out


def _dynamic_imports(path: Path) -> list[str]:
    """Modules named as string constants to importlib.import_module / __import__."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            continue
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if fname in ("import_module", "__import__"):
            names.append(node.args[0].value)
    return names


def test_no_dynamic_qt_or_torch_import_below_ui():
    """import-linter reads import statements only; importlib calls with a literal name are
    checked here against the same two rules."""
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        for name in _dynamic_imports(path):
            root = name.split(".")[0]
            if (root in QT and top != "ui") or (root == "torch" and top not in TORCH_OK):
                offenders.append(f"{rel}: {name}")
    assert not offenders, "dynamic Qt/torch import outside its layer:\n" + "\n".join(offenders)
