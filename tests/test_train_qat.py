"""QAT (foley_desktop/train/qat.py): a few fine-tuning steps of a tiny randomly initialised
foley-tiny model through the real batch pipeline, QDQ export, and the ONNX Runtime graph against
the fake-quant PyTorch forward. Needs torch (the `train` extra); skipped without it."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from foley_desktop.train import qat
from foley_desktop.train.model import Config
from foley_desktop.train.text import MAX_TOKENS, UNCOND_CAPTIONS
from foley_desktop.train.train import FoleyTiny

CFG = Config(latent_ch=8, d=32, blocks=2, heads=2, mlp=2, text_dim=24, vis_dim=16, frame_size=16)


def _tiny_data(folder, n=6, frames=4, per=4, seed=0):
    """A training set in train.py's on-disk layout (latents, frames, meta, text feature cache)."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    np.save(folder / "latents.npy", rng.standard_normal((n, CFG.latent_ch, frames * per)).astype(np.float16))
    np.save(folder / "frames.npy", rng.integers(0, 256, (n, frames, 16, 16, 3), dtype=np.uint8))
    caps = [f"caption {i % 3}" for i in range(n)]
    (folder / "meta.json").write_text(json.dumps({"clips": [{"caption": c} for c in caps]}))
    allcaps = sorted(set(caps) | set(UNCOND_CAPTIONS))
    mask = np.zeros((len(allcaps), MAX_TOKENS), np.uint8)
    mask[:, :5] = 1
    np.savez(folder / "text.npz", caps=np.array(allcaps), mask=mask,
             feats=rng.standard_normal((len(allcaps), MAX_TOKENS, CFG.text_dim)).astype(np.float16))
    return folder


def _model(seed=0):
    torch.manual_seed(seed)
    m = FoleyTiny(CFG)
    with torch.no_grad():   # the real init zeroes ada/out; random weights make every layer count
        for mod in m.modules():
            if isinstance(mod, (torch.nn.Linear, torch.nn.Conv1d)):
                mod.weight.normal_(0, 0.15)
                mod.bias.normal_(0, 0.1)
    return m.eval()


def _rel(a, b):
    return float(np.sqrt(np.sum((a - b) ** 2) / np.sum(b ** 2)))


@pytest.mark.parametrize("conv,ranges", [(False, "learn"), (True, "freeze")])
def test_qat_steps_export_qdq_matches_fake_quant(tmp_path, conv, ranges):
    torch.set_num_threads(1)
    data = _tiny_data(tmp_path / "data")
    model = _model()
    qden, names, stats = qat.finetune(model, conv, 6, data=data, lr=1e-3, batch=4, crop=8,
                                      observe_steps=3, learn_ranges=ranges == "learn",
                                      ema_decay=0.5, log=lambda m: None)
    assert stats["steps_done"] == 6
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in model.denoiser.modules())
    assert len(names) == n_linear + (CFG.blocks if conv else 0)
    acts = qat.act_quants(qden)
    assert acts and all(not a.observing for a in acts)
    if ranges == "learn":
        # learned ranges left the observed ones
        moved = [abs(float(a.scale) - a.qparams_from_range(float(a.lo), float(a.hi))[0]) > 0
                 for a in acts]
        assert any(moved)
    # the fine-tuned weights differ from the start
    start = dict(model.denoiser.named_parameters())
    assert any(not torch.equal(p, start[k]) for k, p in qat.plain_state(qden).items()
               if k in start)

    out = tmp_path / "qdq.onnx"
    info = qat.export_qdq(qden, names, out, tmp_path / "work")
    assert info["layers"] == len(names)
    g = onnx.load(str(out))
    ops = [n.op_type for n in g.graph.node]
    assert ops.count("QuantizeLinear") == len(names) + (CFG.blocks if conv else 0)
    int8_weights = [i for i in g.graph.initializer if i.data_type == onnx.TensorProto.INT8
                    and i.name.endswith("_w_q")]
    assert len(int8_weights) == len(names)

    ex = qat.denoiser_example(CFG, frames=48, batch=2, seed=3)
    feeds = {n: v.numpy() for n, v in zip(qat.DENOISER_INPUTS, ex)}
    with torch.no_grad():
        fq = qden(*ex).numpy()
    plain = ort.InferenceSession(info["fp32_graph"], providers=["CPUExecutionProvider"])
    y32 = plain.run(None, feeds)[0]
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y8 = sess.run(None, feeds)[0]
    assert y8.shape == fq.shape and np.isfinite(y8).all()
    err_fq = _rel(y8, fq)          # QDQ graph vs the fake-quant forward it came from
    err_32 = _rel(y8, y32)         # quantization itself: must be visibly non-zero
    assert err_fq < 0.02, err_fq
    assert err_32 > 5 * err_fq, (err_32, err_fq)
