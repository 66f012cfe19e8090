"""Graphs whose weights live in an external data file (`<graph>.onnx.data`).

Protobuf cannot serialise a model over 2 GB, so every step of `foley-desktop quantize` that
writes a graph must keep such weights outside it: onnxruntime's quantizers are asked for
external data, copies and renamings move the data file with the graph, and node renaming
touches the graph's structure only (the renamed graph sits beside its data file).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import onnx
from onnx import TensorProto

TWO_GB = 2**31 - 1


def locations(model: onnx.ModelProto) -> set[str]:
    out = set()
    for init in model.graph.initializer:
        if init.data_location == TensorProto.EXTERNAL:
            out |= {e.value for e in init.external_data if e.key == "location"}
    return out


def data_files(path: Path) -> list[Path]:
    """The external data files a graph refers to (none for a self-contained graph)."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    return [path.parent / loc for loc in sorted(locations(model))]


def is_large(path: Path) -> bool:
    """True when the graph keeps weights outside or is too large to be re-serialised whole:
    quantizers must then write external data too."""
    path = Path(path)
    return bool(data_files(path)) or path.stat().st_size > TWO_GB // 2


def total_bytes(path: Path) -> int:
    return Path(path).stat().st_size + sum(p.stat().st_size for p in data_files(path) if p.exists())


def save_structure(model: onnx.ModelProto, src: Path, dst: Path) -> None:
    """Write `model` (loaded from `src` without its external data) as `dst`, in the same folder,
    so that it reads the very same data file (no copy; onnx refuses hard-linked data files)."""
    src, dst = Path(src), Path(dst)
    if locations(model) and src.parent.resolve() != dst.parent.resolve():
        raise ValueError(f"{dst}: a graph with external data must be written beside {src}")
    onnx.save_model(model, str(dst))


def move_graph(src: Path, dst: Path) -> None:
    """Move `src` to `dst`, its data file (if any) to `<dst name>.data` with the graph's
    references renamed to match; `src` and its data are gone afterwards."""
    src, dst = Path(src), Path(dst)
    model = onnx.load(str(src), load_external_data=False)
    locs = locations(model)
    if len(locs) > 1:
        raise ValueError(f"{src}: weights in {len(locs)} external files; expected one")
    if locs:
        (loc,) = locs
        new = dst.name + ".data"
        _move(src.parent / loc, dst.parent / new)
        for init in model.graph.initializer:
            for e in init.external_data:
                if e.key == "location":
                    e.value = new
        onnx.save_model(model, str(dst))
        src.unlink()
    else:
        _move(src, dst)


def _move(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError:              # another file system
        shutil.copyfile(src, dst)
        src.unlink()
