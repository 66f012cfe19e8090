"""The layer rules of DESIGN.md, enforced on the source (napari-style).

- Nothing outside foley_desktop/ui/ imports Qt.
- PyTorch is imported only by the training/conversion code behind the `train` extra.
- Lower layers never import higher ones (media < engine/separation < project/export < ui).
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "foley_desktop"
QT = ("PySide6", "PyQt5", "PyQt6", "qtpy", "superqt", "shiboken6")
TORCH_OK = ("train", "convert")  # subpackages allowed to import torch
RANK = {"media": 0, "engine": 1, "separation": 1, "quantize": 2, "spotting": 2, "library": 2,
        "project": 2, "export": 3, "ui": 4}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        yield path, top, _imports(path)


def test_no_qt_below_ui():
    offenders = [f"{p.relative_to(PKG)}: {name}" for p, top, names in _modules() if top != "ui"
                 for name in names if name.split(".")[0] in QT]
    assert not offenders, "Qt imported below ui/:\n" + "\n".join(offenders)


def test_torch_only_in_train_extra():
    offenders = [f"{p.relative_to(PKG)}: {name}" for p, top, names in _modules()
                 if top not in TORCH_OK for name in names if name.split(".")[0] == "torch"]
    assert not offenders, "torch imported outside the train extra:\n" + "\n".join(offenders)


def test_layers_point_down():
    offenders = []
    for p, top, names in _modules():
        if top not in RANK:
            continue
        for name in names:
            parts = name.split(".")
            if (parts[0] == "foley_desktop" and len(parts) > 1 and parts[1] in RANK
                    and RANK[parts[1]] > RANK[top]):
                offenders.append(f"{p.relative_to(PKG)} imports {name}")
    assert not offenders, "a lower layer imports a higher one:\n" + "\n".join(offenders)
