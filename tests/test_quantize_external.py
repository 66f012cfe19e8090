"""`foley-desktop quantize` on graphs that keep their weights in an external data file (every
converted graph over 64 MiB, and the only way past protobuf's 2 GB limit): static and mixed
INT8 write their variant with its own `.data` file, listed and hashed in the manifest, and the
engine runs it. (The > 2 GB case itself is exercised by scripts/bench_hunyuan_int8.py
--static; a test-sized graph uses the same code paths.)"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.engine.package import load_package, sha256_file
from foley_desktop.quantize import devpkg, external
from foley_desktop.quantize.job import quantize_package
from foley_desktop.quantize.views import variant_view

SR = 48000


@pytest.fixture(scope="module")
def ext_pkg(tmp_path_factory):
    """A dev package whose denoiser's weights are moved into denoiser.fp32.onnx.data."""
    folder = devpkg.build(tmp_path_factory.mktemp("qx") / "dit", dim=64, blocks=2, steps=3)
    graph = folder / "denoiser.fp32.onnx"
    model = onnx.load(str(graph))
    onnx.save_model(model, str(graph), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="denoiser.fp32.onnx.data", size_threshold=256)
    m = json.loads((folder / "manifest.json").read_text())
    entry = m["graphs"]["denoiser"]["variants"]["fp32"]
    entry.update(sha256=sha256_file(graph), bytes=graph.stat().st_size)
    data = folder / "denoiser.fp32.onnx.data"
    m.setdefault("files", {})[data.name] = {"sha256": sha256_file(data), "bytes": data.stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(m, indent=2))
    assert external.data_files(graph) == [data]
    return folder


@pytest.mark.parametrize("mode", ["int8-static", "int8-mixed"])
def test_external_data_graph_quantizes_and_runs(ext_pkg, tmp_path, mode):
    pkg = tmp_path / "pkg"
    shutil.copytree(ext_pkg, pkg)
    summary = quantize_package(pkg, mode, graphs=["denoiser"], steps=3, tolerance=0.2, min_speedup=0.0,
                               log=lambda *a: None)
    assert "error_vs_fp32" in summary["graphs"]["denoiser"]
    m = json.loads((pkg / "manifest.json").read_text())
    v = m["graphs"]["denoiser"]["variants"][mode]
    graph = pkg / v["file"]
    data = pkg / (v["file"] + ".data")
    # the variant's weights are in its own data file, which the manifest lists and hashes
    assert external.data_files(graph) == [data]
    assert m["files"][data.name]["sha256"] == sha256_file(data)
    assert sha256_file(graph) == v["sha256"]
    load_package(pkg).verify_all()
    assert not [p for p in pkg.iterdir() if p.name.startswith(".")]   # no work files left
    view, picked = variant_view(load_package(pkg), mode)
    eng = Engine(view, precision="auto", provider="cpu", threads=1)
    audio = generate(GenerateRequest(video=None, start=0, end=SR, prompt="door slam", seeds=[3]),
                     engine=eng).takes[0].audio
    assert picked["denoiser"] == mode and np.isfinite(audio).all() and len(audio) == SR
    # replacing the variant removes the old data file and its manifest entry
    quantize_package(pkg, mode, graphs=["denoiser"], steps=3, tolerance=0.2, min_speedup=0.0,
                     log=lambda *a: None)
    m2 = json.loads((pkg / "manifest.json").read_text())
    new = m2["graphs"]["denoiser"]["variants"][mode]["file"]
    if new != v["file"]:
        assert not data.exists() and data.name not in m2["files"]
    load_package(pkg).verify_all()

