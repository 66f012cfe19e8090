"""Adding precision variants to a model package without ever leaving it inconsistent.

The new graph files are written first, under names no current manifest entry uses; only when all
of them are complete is `manifest.json` rewritten (temp file + rename, fsutil.atomic_write). A
crash at any point leaves either the old manifest (the new files are unreferenced extras) or the
new one (every file it names is complete and hashed). Files that the old manifest named for a
replaced variant are removed only after the rename.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from foley_desktop.engine.package import sha256_file
from foley_desktop.errors import ModelPackageError
from foley_desktop.fsutil import atomic_write
from foley_desktop.quantize import external
from foley_desktop.quantize.dynamic import WEIGHT_QMAX


@dataclass
class NewVariant:
    role: str          # graph role in the manifest
    name: str          # variant key, e.g. "int8-static"
    source: Path       # a finished ONNX file (anywhere; it is moved into the package)
    recipe: str        # "fp16", "int8-dynamic", "int8-static", "int8-mixed"
    details: dict      # recorded in the manifest entry (op types, excluded nodes, errors …)


def _free_name(folder: Path, role: str, name: str, taken: set[str]) -> str:
    base = f"{role}.{name}.onnx"
    if base not in taken and not (folder / base).exists():
        return base
    i = 2
    while f"{role}.{name}.{i}.onnx" in taken or (folder / f"{role}.{name}.{i}.onnx").exists():
        i += 1
    return f"{role}.{name}.{i}.onnx"


def write_variants(folder: Path, new: list[NewVariant]) -> dict:
    """Move the new graphs into `folder` and add them to its manifest (atomically); returns
    the new manifest. An existing variant of the same name is replaced."""
    folder = Path(folder)
    mpath = folder / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    taken = {v["file"] for g in manifest["graphs"].values() for v in g["variants"].values()}
    taken |= set(manifest.get("files", {}))
    old_files = []
    moved = []
    try:
        for nv in new:
            graph = manifest["graphs"].get(nv.role)
            if graph is None:
                raise ModelPackageError(f"{mpath}: no graph {nv.role!r}")
            rel = _free_name(folder, nv.role, nv.name, taken)
            taken.add(rel)
            dst = folder / rel
            if external.data_files(nv.source):
                # weights outside the graph (> 2 GB graphs): the data file moves with it as
                # `<file>.data`, hashed like every package file
                external.move_graph(nv.source, dst)
                data = dst.with_name(dst.name + ".data")
                moved.append(data)
                manifest.setdefault("files", {})[data.name] = {"sha256": sha256_file(data),
                                                               "bytes": data.stat().st_size}
            elif _same_fs(nv.source, folder):
                os.replace(nv.source, dst)
            else:
                _copy(nv.source, dst)
            moved.append(dst)
            prev = graph["variants"].get(nv.name)
            if prev is not None:
                old_files.append(prev["file"])
                old_files.append(prev["file"] + ".data")
            graph["variants"][nv.name] = {"file": rel, "sha256": sha256_file(dst),
                                          "bytes": dst.stat().st_size, "recipe": nv.recipe,
                                          **_int8_range(nv.recipe),
                                          **({"quantize": nv.details} if nv.details else {})}
        with atomic_write(mpath, "w") as fh:
            fh.write(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        for p in moved:            # the old manifest is still in force: drop the orphans
            p.unlink(missing_ok=True)
        raise
    still = {v["file"] for g in manifest["graphs"].values() for v in g["variants"].values()}
    still |= {v["file"] + ".data" for g in manifest["graphs"].values() for v in g["variants"].values()}
    dropped = [rel for rel in old_files if rel not in still]
    for rel in dropped:
        (folder / rel).unlink(missing_ok=True)
    if any(rel in manifest.get("files", {}) for rel in dropped):
        for rel in dropped:
            manifest["files"].pop(rel, None)
        with atomic_write(mpath, "w") as fh:
            fh.write(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _int8_range(recipe: str) -> dict:
    """Every INT8 recipe of the app writes 7-bit weights; the engine reads this to know the
    variant is safe on CPUs without VNNI (engine/cpu.py)."""
    return {"weight_range": WEIGHT_QMAX} if recipe.startswith("int8") else {}


def _same_fs(src: Path, folder: Path) -> bool:
    try:
        return os.stat(src).st_dev == os.stat(folder).st_dev
    except OSError:
        return False


def _copy(src: Path, dst: Path) -> None:
    import shutil

    tmp = dst.with_name(f".{dst.name}.partial")
    shutil.copyfile(src, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dst)
