"""The fusion trainer's pause term and its start from a shipped network
(scripts/train_separation_fusion.py, issue #29's twelfth round): the pause residual it trains on
is the evaluation's measure, and a network started from an export computes what that export
computes in ONNX Runtime."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from foley_desktop.separation import evaluate as ev
from foley_desktop.separation import fusion_net

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trainer():
    spec = importlib.util.spec_from_file_location(
        "train_separation_fusion", ROOT / "scripts" / "train_separation_fusion.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pause_db_by_hand(trainer):
    """Two clips: the first keeps a tenth of the mixture's amplitude in its one quiet frame
    (-20 dB), the second has no quiet frame (weight 0)."""
    A = torch.ones(2, 3, 4, dtype=torch.complex64)
    D = torch.zeros(2, 3, 4, dtype=torch.complex64)
    D[0, 1] = 0.1
    quiet = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    p, has = trainer.pause_db(D, A, quiet)
    assert p[0].item() == pytest.approx(-20.0, abs=1e-4)
    assert has.tolist() == [1.0, 0.0]


def test_pause_term_raises_the_loss_only_above_the_floor(trainer):
    """The rule's network (w = 0.5) on a batch where the gate lets the background through in
    the clean line's pauses: the pause weight adds weight x (residual - floor), and nothing
    once the floor is above the residual."""
    rng = np.random.default_rng(3)
    K = 60
    y = np.zeros((K, fusion_net.C), np.complex64)
    y[20:40] = rng.standard_normal((20, fusion_net.C)) + 1j * rng.standard_normal((20, fusion_net.C))
    noise = 0.3 * (rng.standard_normal((K, fusion_net.C))
                   + 1j * rng.standard_normal((K, fusion_net.C))).astype(np.complex64)
    A = (y + noise).astype(np.complex64)
    item = {"feats": fusion_net.features(A, y + 0.5 * noise, y + 0.8 * noise), "A": A,
            "S": (y + 0.5 * noise).astype(np.complex64), "T": (y + 0.8 * noise).astype(np.complex64),
            "gate": np.ones(K, np.float32), "Y": y, "band": np.int32(fusion_net.C)}
    model = trainer.build_model(16, 8, [1, 2, 4])
    b = trainer._batch([item], K, np.random.default_rng(0), 8)
    assert b["quiet"][0, :20].min() == 1.0 and b["quiet"][0, 20:40].max() == 0.0
    with torch.no_grad():
        sdr, pause, has = trainer.clip_terms(model, b)
        base = trainer.loss_fn(model, b)
        hi = trainer.loss_fn(model, b, 0.5, -80.0)
        lo = trainer.loss_fn(model, b, 0.5, 0.0)
    assert has.item() == 1.0 and -20.0 < pause.item() < 0.0  # the open gate lets it through
    assert base.item() == pytest.approx(-sdr.item(), abs=1e-5)
    assert hi.item() == pytest.approx(base.item() + 0.5 * (pause.item() + 80.0), abs=1e-4)
    assert lo.item() == pytest.approx(base.item(), abs=1e-6)


def test_started_from_the_shipped_export_it_computes_what_onnx_runtime_does(trainer):
    import onnxruntime as ort

    model = trainer.build_model(16, 8, [1, 2, 4])
    trainer.init_from_onnx(model, fusion_net.model_path())
    feats = np.random.default_rng(5).uniform(-1, 1, (1, fusion_net.N_IN, 40, fusion_net.C))
    feats = feats.astype(np.float32)
    sess = ort.InferenceSession(str(fusion_net.model_path()), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"feats": feats})[0]
    with torch.no_grad():
        got = model(torch.from_numpy(feats))[0].numpy()
    assert got.shape == want.shape == (1, 1, 40 - 16, fusion_net.C)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_trimmed_training_line_touches_its_silence(trainer):
    """--trim on the real Debian dev lines (scripts/fetch_speech_corpus.py): the line cut to
    its voice before the 0.75 s of silence, so its first and last 10 ms are within 40 dB of
    its loudest (the pauses touch the words)."""
    from foley_desktop.separation import corpus

    utts: dict = {}
    for u in corpus.list_utterances():
        if u.split == "dev":
            utts.setdefault(u.package, []).append(u)
    assert utts, "no Debian speech: run scripts/fetch_speech_corpus.py"
    bgs = [np.full(48000, 0.01, np.float32)]
    s, _, _ = trainer._line_mixture(utts, bgs, np.random.default_rng(1), trim=True)
    line = s[ev.PAD:len(s) - ev.PAD]
    assert np.abs(s[:ev.PAD]).max() == 0.0 and np.abs(s[len(s) - ev.PAD:]).max() == 0.0
    e = (line[:len(line) // 480 * 480].reshape(-1, 480) ** 2).mean(axis=1)
    assert e[0] > e.max() * 1e-4 and e[-1] > e.max() * 1e-4
    s0, _, _ = trainer._line_mixture(utts, bgs, np.random.default_rng(1))
    assert len(s0) > len(s)  # the same draw untrimmed keeps its recorded silence
