"""ruff with the project's rule set (pyproject.toml [tool.ruff.lint]) on the whole tree.

CHECKED names the trees that hold Python (ruff walks them; .gitignore'd paths such as data/ and
runs/ are skipped). EXCLUDED is the one explicit way out: ruff's `--extend-exclude` glob
patterns (relative to the repository root) for files another engineer is still editing. Each
entry must match something; take it off once `ruff check` passes on what it names, so the list
only shrinks.
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

# The speech/background separation work in progress (issue #28 item 3 left it for its owner).
EXCLUDED = (
    "foley_desktop/separation",
    "scripts/*separation*",
    "scripts/fetch_speech_corpus*",
    "tests/test_separation_*",
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


def test_excluded_patterns_still_match():
    stale = [p for p in EXCLUDED if not any(ROOT.glob(p))]
    assert not stale, f"EXCLUDED names nothing any more, take it off: {stale}"


def test_checked_paths_pass_ruff(ruff_ok):
    proc = _ruff("check", "--no-cache", "--output-format", "concise",
                 "--extend-exclude", ",".join(EXCLUDED), *CHECKED)
    assert proc.returncode == 0, "ruff (pyproject.toml [tool.ruff.lint]):\n" + proc.stdout + proc.stderr


def test_the_exclusion_is_only_what_it_names(ruff_ok, tmp_path):
    """A finding in a file beside an excluded one is still reported: the patterns do not reach
    past the files they name."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "eval_separation_x.py").write_text("import os\n", encoding="utf-8")
    (tmp_path / "scripts" / "eval_other.py").write_text("import os\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(ROOT / "pyproject.toml"), "--output-format", "concise",
                           "--extend-exclude", ",".join(EXCLUDED), "scripts"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "eval_other.py" in proc.stdout and "F401" in proc.stdout, proc.stdout + proc.stderr
    assert "eval_separation_x.py" not in proc.stdout, proc.stdout


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
