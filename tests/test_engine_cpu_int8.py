"""INT8 on CPUs without VNNI (engine/cpu.py): the detector agrees with what onnxruntime's own
kernel computes on this machine, 7-bit weights are exact everywhere, and the engine passes over
full-range INT8 variants where they would saturate."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from foley_desktop.engine import cpu, testpkg
from foley_desktop.engine.generate import Engine, pick_variants
from foley_desktop.engine.package import load_package

K = 64


def _matmul_integer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """U8 [1, K] x S8 [K, 1] through onnxruntime's CPU MatMulInteger (the kernel dynamic INT8
    graphs run), zero points 0."""
    g = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "mmi",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, K]),
         helper.make_tensor_value_info("b", TensorProto.INT8, [K, 1])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 1])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"a": a, "b": b})[0]


@pytest.fixture(autouse=True)
def _fresh_detection(monkeypatch):
    monkeypatch.delenv("FOLEY_DESKTOP_INT8_SATURATES", raising=False)
    cpu.int8_saturates.cache_clear()
    yield
    cpu.int8_saturates.cache_clear()


def test_detector_agrees_with_the_kernel_on_this_machine():
    a = np.full((1, K), 255, np.uint8)
    full = _matmul_integer(a, np.full((K, 1), 127, np.int8))[0, 0]
    seven = _matmul_integer(a, np.full((K, 1), cpu.SAFE_WEIGHT_RANGE, np.int8))[0, 0]
    assert seven == 255 * cpu.SAFE_WEIGHT_RANGE * K          # 7-bit weights: exact on any CPU
    saturated = full != 255 * 127 * K
    if saturated:   # pairs of products clipped to int16
        assert full == 32767 * (K // 2)
    assert cpu.int8_saturates() == saturated


def _pkg(tmp_path, weight_range):
    folder = testpkg.build(tmp_path / "pkg")
    m = json.loads((folder / "manifest.json").read_text())
    for g in m["graphs"].values():
        v = g["variants"].get("int8")
        if v is not None:
            if weight_range is None:
                v.pop("weight_range", None)      # an older package: range not recorded
            else:
                v["weight_range"] = weight_range
    (folder / "manifest.json").write_text(json.dumps(m))
    return load_package(folder)


def test_a_bad_weight_range_is_refused_with_a_message(tmp_path):
    from foley_desktop.errors import ModelPackageError

    with pytest.raises(ModelPackageError, match="weight_range must be an integer"):
        _pkg(tmp_path, "64")


def test_auto_passes_over_full_range_int8_where_it_saturates(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_INT8_SATURATES", "1")
    old = _pkg(tmp_path, None)
    notes: list[str] = []
    picked = pick_variants(old, "auto", "cpu", notes)
    assert "int8" not in picked.values() and set(picked.values()) == {"fp32"}
    assert notes and all("passed over" in n and "VNNI" in n for n in notes)
    # a graph with nothing but a full-range INT8 variant still runs it, with a warning
    m = json.loads((old.path / "manifest.json").read_text())
    del m["graphs"]["denoiser"]["variants"]["fp32"]
    (old.path / "manifest.json").write_text(json.dumps(m))
    notes = []
    assert pick_variants(load_package(old.path), "auto", "cpu", notes)["denoiser"] == "int8"
    assert any(n.startswith("denoiser: only int8") for n in notes)
    # asked for explicitly, it runs, with a warning
    notes = []
    assert "int8" in pick_variants(old, "int8", "cpu", notes).values()
    assert notes and all("degraded" in n for n in notes)


def test_seven_bit_int8_is_used_on_any_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_INT8_SATURATES", "1")
    pkg = _pkg(tmp_path, cpu.SAFE_WEIGHT_RANGE)
    notes: list[str] = []
    assert "int8" in pick_variants(pkg, "auto", "cpu", notes).values() and notes == []


def test_full_range_int8_is_kept_where_products_do_not_saturate(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_INT8_SATURATES", "0")
    old = _pkg(tmp_path, None)
    notes: list[str] = []
    assert "int8" in pick_variants(old, "auto", "cpu", notes).values() and notes == []


def test_engine_reports_what_it_passed_over(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_INT8_SATURATES", "1")
    eng = Engine(_pkg(tmp_path, None), provider="cpu")
    assert set(eng.variants.values()) == {"fp32"} and eng.notes


def test_explicit_fp32_runs_a_graph_that_has_only_int8():
    """The shipped text encoder is INT8 only (its FP32 file would be 90 MB): --precision fp32
    runs every other graph in FP32 and says so in the label."""
    from foley_desktop.engine.generate import load_model, variant_label

    picked = pick_variants(load_model(None), "fp32", "cpu", [])
    assert picked["text_encoder"] == "int8" and picked["denoiser"] == "fp32"
    assert variant_label(picked) == "fp32 (text_encoder int8)"


def test_shipped_model_int8_graphs_hold_seven_bit_weights():
    """The manifest's claim and the files agree: every INT8 weight of the shipped model is
    within -64..64, so its INT8 variants run exactly on CPUs without VNNI too."""
    import onnx
    from onnx import numpy_helper

    from foley_desktop.engine.generate import load_model

    pkg = load_model(None)
    checked = 0
    for role, g in pkg.graphs.items():
        for name, v in g.variants.items():
            if not cpu.is_int8(name, v):
                continue
            assert v.get("weight_range") == cpu.SAFE_WEIGHT_RANGE, (role, name)
            m = onnx.load(str(pkg.graph_file(role, name)))
            q = [numpy_helper.to_array(i) for i in m.graph.initializer
                 if i.data_type == TensorProto.INT8 and i.dims and np.prod(i.dims) > 1]
            assert q, (role, name)
            assert max(int(np.abs(x.astype(np.int16)).max()) for x in q) <= cpu.SAFE_WEIGHT_RANGE
            checked += 1
    assert checked >= 3    # text encoder, visual encoder, denoiser
