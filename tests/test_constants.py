"""One home for each constant: the app's sample rate is media.timebase.SAMPLE_RATE, the
precisions engine.package.PRECISIONS, the providers engine.providers.ORDER / CHOICES.

A module that needs the sample rate imports it; defining another 48000 fails here (the Blender
add-on, which runs without the app, keeps a copy that says why).
"""

from __future__ import annotations

import ast
from pathlib import Path

from foley_desktop.engine import generate, package, providers
from foley_desktop.media import timebase

PKG = Path(__file__).resolve().parent.parent / "foley_desktop"
HOME = "media/timebase.py"
# runs inside Blender's Python without the app installed: a copy, said so in the file
ALLOWED = {"plugins/blender/foley_desktop_vse/core.py"}


def _own_sample_rates(path: Path) -> list[str]:
    """Module-level names bound to the literal 48000 (SR = 48000, SAMPLE_RATE: int = 48_000)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if isinstance(value, ast.Constant) and value.value == timebase.SAMPLE_RATE \
                and not isinstance(value.value, bool):
            found += [f"{t.id} (line {node.lineno})" for t in targets if isinstance(t, ast.Name)]
    return found


def test_the_sample_rate_has_one_home():
    defined = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        names = _own_sample_rates(path)
        if names:
            defined[rel] = names
    assert HOME in defined, "media/timebase.py no longer defines SAMPLE_RATE"
    extra = {k: v for k, v in defined.items() if k != HOME and k not in ALLOWED}
    assert not extra, ("import foley_desktop.media.timebase.SAMPLE_RATE instead of defining "
                       f"the sample rate again: {extra}")


def test_the_detector_finds_a_copy(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import x\nSR = 48000\nRATE: int = 48_000\nN = 44100\nB = True\n",
                 encoding="utf-8")
    assert _own_sample_rates(f) == ["SR (line 2)", "RATE (line 3)"]


def test_choice_lists_agree():
    """The engine's precision preference per provider names every provider and precision."""
    assert set(generate.PREFERENCE) == set(providers.ORDER)
    for provider, order in generate.PREFERENCE.items():
        assert sorted(order) == sorted(package.PRECISIONS), provider
    choices = providers.CHOICES
    assert choices == ("auto", *providers.ORDER)
