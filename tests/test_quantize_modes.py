"""Every quantize mode on a real package (testpkg + a DiT-like denoiser and a CNN visual
encoder, built with onnx.helper): variants written with correct hashes, the engine loads and
runs each, the quantized graphs really contain quantized ops, and a failure leaves the
package as it was."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.engine.package import load_package, sha256_file
from foley_desktop.errors import FoleyError, MediaError, ModelPackageError
from foley_desktop.quantize import devpkg, measure
from foley_desktop.quantize.job import quantize_package
from foley_desktop.quantize.variants import NewVariant, write_variants
from foley_desktop.quantize.views import variant_view

SR = 48000


@pytest.fixture(scope="module")
def base_pkg(tmp_path_factory):
    return devpkg.build(tmp_path_factory.mktemp("q") / "dit", dim=64, blocks=2, steps=3)


@pytest.fixture
def pkg(base_pkg, tmp_path):
    dst = tmp_path / "pkg"
    shutil.copytree(base_pkg, dst)
    return dst


def _check_entries(folder):
    m = json.loads((folder / "manifest.json").read_text())
    for g in m["graphs"].values():
        for v in g["variants"].values():
            f = folder / v["file"]
            assert f.is_file()
            assert sha256_file(f) == v["sha256"]
            assert f.stat().st_size == v["bytes"]
    return m


def _run(folder, variant, video=None):
    view, picked = variant_view(load_package(folder), variant)
    eng = Engine(view, precision="auto", provider="cpu", threads=1)
    res = generate(GenerateRequest(video=video, start=0, end=SR, prompt="door slam", seeds=[3]),
                   engine=eng)
    audio = res.takes[0].audio
    assert len(audio) == SR and np.isfinite(audio).all()
    return audio, picked, eng


def test_all_modes_write_hashed_variants_the_engine_runs(pkg, clip_tank):
    before = json.loads((pkg / "manifest.json").read_text())
    ref, _, _ = _run(pkg, "fp32", clip_tank)
    for mode in ("fp16", "int8-dynamic", "int8-static", "int8-mixed"):
        s = quantize_package(pkg, mode, clips=[clip_tank], prompts=["engine idle"],
                             min_speedup=0.0, log=lambda *a: None)
        m = _check_entries(pkg)
        assert s["variant"] == mode
        written = [r for r, g in m["graphs"].items() if mode in g["variants"]]
        assert "denoiser" in written, (mode, s["graphs"])
        for role in written:
            entry = m["graphs"][role]["variants"][mode]
            assert entry["recipe"] == mode
            path = pkg / entry["file"]
            if mode == "fp16":
                inits = onnx.load(str(path)).graph.initializer
                assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in inits)
            else:
                assert measure.quantized_nodes(path) > 0
            assert entry["quantize"]["error_vs_fp32"] <= 0.1
        audio, picked, eng = _run(pkg, mode, clip_tank)
        assert picked["denoiser"] == mode and eng.variants["denoiser"] == mode
        # Small but real differences from FP32 (not the same graph, not garbage).
        err = np.sqrt(np.mean((audio - ref) ** 2) / np.mean(ref ** 2))
        assert 0 < err < 0.5, (mode, err)
    # The variants that were there stay untouched.
    after = json.loads((pkg / "manifest.json").read_text())
    for role, g in before["graphs"].items():
        for name, v in g["variants"].items():
            assert after["graphs"][role]["variants"][name]["sha256"] == v["sha256"]
    # Static INT8 of the CNN visual encoder used the captured frames (1 window of 1 clip).
    vis = after["graphs"]["visual_encoder"]["variants"]["int8-static"]["quantize"]
    assert vis["calibration_samples"] == 1 and "Conv" in vis["ops"]


def test_mixed_keeps_float_where_error_is_measured_too_high(pkg, clip_tank):
    manifest = (pkg / "manifest.json").read_bytes()
    lines = []
    # A tolerance no quantized group can meet: every group stays float, so no graph gains a
    # variant and the job refuses rather than writing an empty one.
    with pytest.raises(FoleyError, match="no graph"):
        quantize_package(pkg, "int8-mixed", clips=[clip_tank], min_speedup=0.0,
                         tolerance=1e-9, log=lines.append)
    assert (pkg / "manifest.json").read_bytes() == manifest
    assert any("0/" in line and "node groups within tolerance" in line for line in lines)


def test_mixed_group_errors_are_measured_per_group(pkg, clip_tank):
    s = quantize_package(pkg, "int8-mixed", clips=[clip_tank], min_speedup=0.0, tolerance=0.03,
                         log=lambda *a: None)
    d = s["graphs"]["denoiser"]
    # The MatMul form was chosen by timing both forms of the whole graph against FP32.
    assert d["matmul_form"] in ("dynamic", "static")
    assert set(d["matmul_form_ms"]) == {"fp32", "dynamic", "static"}
    assert {"/inp", "/out"} <= set(d["group_errors"])
    assert any(g.startswith("/blocks.1") for g in d["group_errors"])
    assert all(e >= 0 for e in d["group_errors"].values())
    assert d["combined_error"] <= 0.03
    bad = sorted(g for g, e in d["group_errors"].items() if e > 0.03)
    assert all(g in d["float_groups"] for g in bad)


def test_failed_write_leaves_package_unchanged(pkg, tmp_path):
    manifest = (pkg / "manifest.json").read_bytes()
    files = sorted(p.name for p in pkg.iterdir())
    good = tmp_path / "g.onnx"
    shutil.copy(pkg / "denoiser.fp32.onnx", good)
    with pytest.raises(ModelPackageError):
        write_variants(pkg, [NewVariant("denoiser", "x", good, "int8-dynamic", {}),
                             NewVariant("nonexistent", "x", good, "int8-dynamic", {})])
    assert (pkg / "manifest.json").read_bytes() == manifest
    assert sorted(p.name for p in pkg.iterdir()) == files


def test_user_mistakes_are_one_line_errors(pkg, tmp_path):
    manifest = (pkg / "manifest.json").read_bytes()
    with pytest.raises(MediaError, match="not found"):
        quantize_package(pkg, "int8-static", clips=[tmp_path / "missing.mp4"], log=lambda *a: None)
    with pytest.raises(FoleyError, match="unknown mode"):
        quantize_package(pkg, "int4", log=lambda *a: None)
    with pytest.raises(FoleyError, match="no graph"):
        quantize_package(pkg, "fp16", graphs=["vocoder"], log=lambda *a: None)
    assert (pkg / "manifest.json").read_bytes() == manifest
    assert not [p for p in pkg.iterdir() if p.name.startswith(".quantize-")]


def test_shipped_package_is_refused(base_pkg, tmp_path, monkeypatch):
    shipped = tmp_path / "res" / "models" / "dit"
    shutil.copytree(base_pkg, shipped)
    monkeypatch.setenv("FOLEY_DESKTOP_RESOURCES", str(tmp_path / "res"))
    manifest = (shipped / "manifest.json").read_bytes()
    with pytest.raises(FoleyError, match="shipped copy"):
        quantize_package("test-dit", "int8-dynamic", log=lambda *a: None)
    assert (shipped / "manifest.json").read_bytes() == manifest


def test_cli_quantize_and_models_verify(pkg, capsys):
    from foley_desktop.cli import main

    assert main(["quantize", str(pkg), "--mode", "int8-dynamic", "--name", "int8",
                 "--per-channel", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["variant"] == "int8" and s["graphs"]["denoiser"]["per_channel"] is True
    load_package(pkg).verify_all()
    assert main(["quantize", str(pkg), "--mode", "int8-static", "--calibration",
                 str(pkg / "nope.mp4")]) == 2
    assert "nope.mp4" in capsys.readouterr().err
