"""The converter's streaming export and precision variants (foley_desktop/convert/stream.py):
graphs traced without parameters and given their weights from a memory-mapped file must compute
what the ordinary export computes, and the streamed INT8 / FP16 variants must agree with
onnxruntime's own converters."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch", reason="the converter needs the train extra (torch)")
from torch import nn

from foley_desktop.convert import export as ex
from foley_desktop.convert import stream


class Mixed(nn.Module):
    """Every way the exporter uses a weight: Linear on 3-D input (MatMul of a Transpose), on
    2-D input (Gemm transB=1), Conv1d, LayerNorm, a parameter used directly, one Linear used twice."""

    def __init__(self):
        super().__init__()
        self.big = nn.Linear(512, 640)             # 1.25 MiB: stored on a 64 KiB boundary
        self.vec = nn.Linear(64, 512)
        self.conv = nn.Conv1d(640, 64, 3, padding=1)
        self.norm = nn.LayerNorm(64)
        self.shared = nn.Linear(64, 64, bias=False)
        self.table = nn.Parameter(torch.randn(1, 1, 64))

    def forward(self, x, v):
        h = self.big(x)                             # [B, T, 640]
        h = self.conv(h.transpose(1, 2)).transpose(1, 2) + self.table
        h = self.shared(self.shared(self.norm(h)))
        return h + self.vec(v)[:, None, :64]


def _inputs(B=2, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, 512, generator=g), torch.randn(B, 64, generator=g)


AXES = {"x": {0: "B", 1: "T"}, "v": {0: "B"}, "y": {0: "B", 1: "T"}}


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    torch.manual_seed(0)
    ref = Mixed().eval()
    plain = ex.export(ref, _inputs(), root / "plain.onnx", ["x", "v"], ["y"], AXES)
    # the same weights through the streaming path: meta module, weight file, no-param trace
    with torch.device("meta"):
        meta = Mixed()
    wf, perms = stream.load_into_weight_file(meta, ref.state_dict(), root / "w.weights")
    streamed = ex.export_streamed(meta.eval(), _inputs(), root / "streamed.onnx", ["x", "v"], ["y"],
                                  AXES, wf, perms)
    return {"root": root, "ref": ref, "plain": plain, "streamed": streamed, "streamed_module": meta,
            "perms": perms}


def test_streamed_graph_computes_what_the_plain_export_computes(graphs):
    x, v = _inputs(B=3, T=11, seed=5)
    with torch.no_grad():
        want = graphs["ref"](x, v).numpy()
        via_views = graphs["streamed_module"](x, v).numpy()
    # the memory-mapped parameters are the weights (a transposed view sums in another order)
    assert np.abs(via_views - want).max() <= 1e-6 * np.abs(want).max()
    feeds = {"x": x.numpy(), "v": v.numpy()}
    plain = ex.run_graph(graphs["plain"], feeds)[0]
    got = ex.run_graph(graphs["streamed"], feeds)[0]
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert np.abs(got - plain).max() <= 1e-5 * np.abs(want).max()


def test_streamed_graph_has_its_weights_as_aligned_external_initializers(graphs):
    m = onnx.load(str(graphs["streamed"]), load_external_data=False)
    assert [i.name for i in m.graph.input] == ["x", "v"]
    inits = {i.name: i for i in m.graph.initializer}
    producers = {o for n in m.graph.node for o in n.output}
    for n in m.graph.node:
        assert not (n.op_type == "Transpose" and n.input[0] in inits), "weight transposes are folded"
        for i in n.input:
            assert not i or i in inits or i in producers or i in ("x", "v"), i
    assert graphs["perms"]["big.weight"] == (1, 0) and graphs["perms"]["conv.weight"] is None
    big = [i for i in inits.values() if list(i.dims) == [512, 640]]
    assert len(big) == 1
    info = {e.key: e.value for e in big[0].external_data}
    assert info["location"] == "streamed.onnx.data" and int(info["offset"]) % stream.ALIGN == 0
    # the shared Linear appears once, not once per use
    assert sum(1 for i in inits.values() if list(i.dims) == [64, 64]) == 1
    assert not (graphs["root"] / "w.weights").exists()   # the weight file became the data file


@pytest.mark.parametrize("recipe,per_channel", [("int8", True), ("int8-unfused", False)])
def test_streamed_int8_matches_onnxruntime_quantize_dynamic(graphs, tmp_path, recipe, per_channel):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src = graphs["streamed"]
    ours, count = stream.to_int8(src, tmp_path / "ours.onnx", recipe=recipe)
    assert count == 4        # big (MatMul), shared twice (MatMul), vec (Gemm); conv is left alone
    # the app's recipe: 7-bit weights (reduce_range), which no CPU's int16 pair sums saturate
    quantize_dynamic(str(graphs["plain"]), str(tmp_path / "ort.onnx"), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gemm"], reduce_range=True, per_channel=per_channel)
    x, v = _inputs(B=2, T=9, seed=3)
    feeds = {"x": x.numpy(), "v": v.numpy()}
    want = ex.run_graph(src, feeds)[0]
    a = ex.run_graph(ours, feeds)[0]
    b = ex.run_graph(tmp_path / "ort.onnx", feeds)[0]
    scale = np.abs(want).max()
    assert np.abs(a - b).max() <= 0.02 * scale              # the same quantisation, up to rounding
    assert 0 < np.abs(a - want).max() <= 0.1 * scale        # really quantised, still close
    m = onnx.load(str(ours), load_external_data=False)
    ops = [n.op_type for n in m.graph.node]
    # the default recipe: one fused kernel per weight product, the shared-input ones included
    kernels = ("DynamicQuantizeMatMul", "MatMulIntegerToFloat") if recipe == "int8" else ("MatMulInteger",)
    assert sum(ops.count(k) for k in kernels) == 4 and "Gemm" not in ops and "MatMul" not in ops
    if recipe == "int8":   # no product is left to onnxruntime's fusion to find
        assert "MatMulInteger" not in ops and "Cast" not in ops
    assert any(i.data_type == onnx.TensorProto.INT8 and list(i.dims) == [512, 640] for i in m.graph.initializer)
    big = next(n for n in m.graph.initializer if list(n.dims) == [512, 640])
    q = stream.read(big, ours.parent)
    assert q.min() >= -64 and q.max() <= 64 and max(-int(q.min()), int(q.max())) == 64
    if per_channel:   # every output column reaches the range's end
        assert (np.abs(q).max(axis=0) == 64).all()


def test_streamed_fp16_matches_the_in_memory_converter(graphs, tmp_path):
    from onnxruntime.transformers.float16 import convert_float_to_float16

    ours = ex.to_fp16(graphs["streamed"], tmp_path / "half.onnx")
    theirs = convert_float_to_float16(onnx.load(str(graphs["plain"])), keep_io_types=True)
    onnx.save(theirs, str(tmp_path / "theirs.onnx"))
    x, v = _inputs(B=2, T=5, seed=4)
    feeds = {"x": x.numpy(), "v": v.numpy()}
    want = ex.run_graph(graphs["streamed"], feeds)[0]
    a = ex.run_graph(ours, feeds)[0]
    b = ex.run_graph(tmp_path / "theirs.onnx", feeds)[0]
    scale = np.abs(want).max()
    assert np.abs(a - b).max() <= 0.01 * scale
    assert np.abs(a - want).max() <= 0.02 * scale
    m = onnx.load(str(ours), load_external_data=False)
    big = next(i for i in m.graph.initializer if list(i.dims) == [512, 640])
    assert big.data_type == onnx.TensorProto.FLOAT16 and big.data_location == onnx.TensorProto.EXTERNAL
    assert (tmp_path / "half.onnx.data").stat().st_size < (graphs["root"] / "streamed.onnx.data").stat().st_size * 0.6


def test_check_session_maps_external_weights_without_copying(tmp_path):
    """A 64 MiB weight: with prepacking off, the session's process memory grows by far less
    than the weight (it is read through the page cache), which is how a 20 GB graph is checked."""
    import subprocess
    import sys
    import textwrap

    w = np.random.default_rng(0).standard_normal((2048, 8192), dtype=np.float32)
    graph = tmp_path / "g.onnx"
    writer = stream.DataWriter(stream.data_path(graph))
    init = stream.put(writer, stream.data_path(graph).name, "W", w)
    writer.close()
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 2048])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 8192])], [init])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(graph))
    code = textwrap.dedent(f"""
        import numpy as np
        from foley_desktop.convert import stream
        def anon():
            for line in open("/proc/self/status"):
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) // 1024
        before = anon()
        s = stream.check_session({str(graph)!r})
        y = s.run(None, {{"x": np.ones((2, 2048), np.float32)}})[0]
        print(anon() - before, float(y.sum()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) < 32, f"session added {out[0]} MiB of process memory for a 64 MiB weight"
    assert abs(float(out[1]) - float((np.ones((2, 2048), np.float32) @ w).sum())) < 1.0


def test_engine_leaves_large_external_weights_mapped(graphs, monkeypatch):
    """The engine's sessions skip prepacking for graphs whose external weights are a large
    share of RAM (a converted XXL), and keep onnxruntime's default otherwise."""
    import onnxruntime as ort

    from foley_desktop.engine import session

    path = graphs["streamed"]
    size = stream.data_path(path).stat().st_size
    assert session.keeps_weights_mapped(path, ram=2 * size)            # half the RAM
    assert not session.keeps_weights_mapped(path, ram=100 * size)
    assert not session.keeps_weights_mapped(graphs["root"] / "nodata.onnx", ram=1)
    monkeypatch.setattr(session, "PREPACK_MAX_SHARE", 0.0)
    so = session._session_options(1, path)
    assert so.get_session_config_entry("session.disable_prepacking") == "1"
    x, v = _inputs(B=1, T=4, seed=9)
    feeds = {"x": x.numpy(), "v": v.numpy()}
    mapped = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    packed = ort.InferenceSession(str(path), session._session_options(1),
                                  providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.abs(mapped - packed).max() <= 1e-5 * np.abs(packed).max()


def test_readiness_order_runs_each_node_as_soon_as_it_can():
    from onnx import helper

    # exporter-style order: both "early" values are computed first and read only at the end
    nodes = [helper.make_node("Relu", ["x"], ["early1"], name="e1"),
             helper.make_node("Relu", ["x"], ["early2"], name="e2"),
             helper.make_node("Relu", ["x"], ["a"], name="a"),
             helper.make_node("Relu", ["a"], ["b"], name="b"),
             helper.make_node("Add", ["b", "early1"], ["c"], name="c"),
             helper.make_node("Add", ["c", "early2"], ["y"], name="y")]
    order = [n.name for n in stream.readiness_order(list(reversed(nodes)), {"x"})]
    # every input is defined before it is read, and first-ready nodes come first
    assert order.index("a") < order.index("b") < order.index("c") < order.index("y")
    assert set(order[:3]) == {"e1", "e2", "a"}
    cyclic = [helper.make_node("Relu", ["q"], ["p"]), helper.make_node("Relu", ["p"], ["q"])]
    with pytest.raises(ValueError, match="cycle"):
        stream.readiness_order(cyclic, {"x"})
