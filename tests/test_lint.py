"""ruff with the project's rule set (pyproject.toml [tool.ruff.lint]) on the whole tree.

CHECKED names the trees that hold Python (ruff walks them; .gitignore'd paths such as data/ and
runs/ are skipped). Nothing is excluded: a new file is checked from its first commit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECKED = (
    "foley_desktop",
    "fuzz",
    "packaging",
    "resources",
    "scripts",
    "tests",
)



def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def ruff_ok():
    if _ruff("--version").returncode != 0:
        pytest.skip("ruff is in the dev extra")


def test_checked_paths_exist():
    missing = [p for p in CHECKED if not (ROOT / p).exists()]
    assert not missing, f"CHECKED names paths that are gone: {missing}"


def test_checked_paths_pass_ruff(ruff_ok):
    proc = _ruff("check", "--no-cache", "--output-format", "concise",
                 *CHECKED)
    assert proc.returncode == 0, "ruff (pyproject.toml [tool.ruff.lint]):\n" + proc.stdout + proc.stderr


def test_the_rule_set_is_the_projects(ruff_ok, tmp_path):
    """The configuration is read and its rules bite: a planted file with an unused import
    (F401), a blind except without a reason (BLE001) and a mutable default (B006) is reported
    with each code."""
    planted = tmp_path / "planted.py"
    planted.write_text("import os\n\n\ndef f(x=[]):\n    try:\n        return x\n"
                       "    except Exception:\n        return None\n", encoding="utf-8")
    proc = _ruff("check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                 "--output-format", "concise", str(planted))
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    for code in ("F401", "BLE001", "B006"):
        assert code in out, (code, out)
