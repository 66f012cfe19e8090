"""Demucs backend: export randomly initialised Demucs / HTDemucs to ONNX, compare, run them.

Needs torch and demucs (the train extra); skipped with the reason when they are absent.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (train extra)")
pytest.importorskip("demucs.demucs", reason="demucs package not installed (train extra)")
pytest.importorskip("julius", reason="julius (demucs dependency) not installed")

from foley_desktop.errors import FoleyError, ModelPackageError
from foley_desktop.media import read_audio, write_wav
from foley_desktop.separation import separate
from foley_desktop.separation.base import make_separator, separate_array

REPO = Path(__file__).resolve().parent.parent


def _exporter():
    spec = importlib.util.spec_from_file_location("export_demucs_onnx",
                                                  REPO / "scripts/export_demucs_onnx.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["export_demucs_onnx"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from demucs.demucs import Demucs
    from demucs.states import get_state

    torch.manual_seed(0)
    model = Demucs(["drums", "bass", "other", "vocals"], audio_channels=2, channels=8, depth=4,
                   samplerate=44100, segment=2)
    tmp = tmp_path_factory.mktemp("demucs")
    ckpt = tmp / "model.th"
    # The layout demucs' serialize_model writes (it also stores training args via omegaconf).
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": type(model), "args": args, "kwargs": kwargs,
                "state": get_state(model, None, half=False), "training_args": {}}, ckpt)
    E = _exporter()
    out = E.export(E.load_checkpoint(ckpt), tmp / "model.onnx", segment_s=1.0)
    return model, out


def test_onnx_matches_pytorch(exported):
    import onnxruntime as ort

    model, path = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    length = sess.get_inputs()[0].shape[-1]
    x = torch.randn(1, 2, length) * 0.1
    with torch.no_grad():
        ref = model(x).numpy()
    got = sess.run(None, {"mix": x.numpy()})[0]
    assert got.shape == ref.shape == (1, 4, 2, length)
    assert np.abs(got - ref).max() <= 1e-4 * max(np.abs(ref).max(), 1e-3)


def test_backend_streams_with_fixed_latency(exported, tmp_path, media_root):
    _, path = exported
    x = read_audio(media_root / "usr/share/sonic-pi/samples/loop_amen.flac")[:, :48000 * 3]
    d1, b1 = separate_array(make_separator("demucs", 2, model=path), x, block=48000)
    d2, _ = separate_array(make_separator("demucs", 2, model=path), x, block=5000)
    np.testing.assert_allclose(d1, d2, atol=1e-6)
    np.testing.assert_allclose(d1 + b1, x, atol=1e-6)
    assert np.abs(d1).max() > 0  # the vocals stem of the network made it out
    src = tmp_path / "in.wav"
    write_wav(src, x[0])  # mono: duplicated into the model, vocals averaged back
    res = separate(src, tmp_path / "out", backend="demucs", model=path)
    d = read_audio(res.dialogue_path)
    assert d.shape == (1, x.shape[1])
    assert np.abs(d + read_audio(res.background_path) - read_audio(src)).max() < 1e-6


def test_bad_model_paths(tmp_path):
    with pytest.raises(FoleyError):
        make_separator("demucs", 2)
    with pytest.raises(ModelPackageError):
        make_separator("demucs", 2, model=tmp_path / "missing.onnx")
    ckpt = tmp_path / "model.th"
    ckpt.write_bytes(b"x")
    with pytest.raises(ModelPackageError, match="ONNX first"):
        make_separator("demucs", 2, model=ckpt)


def test_htdemucs_with_stft_outside_the_graph_matches_pytorch(tmp_path):
    from demucs.htdemucs import HTDemucs

    from foley_desktop.separation.demucs import DemucsSeparator

    torch.manual_seed(0)
    model = HTDemucs(["drums", "bass", "other", "vocals"], channels=8, depth=2, t_layers=1,
                     segment=1, nfft=1024)
    model.eval()
    path = _exporter().export(model, tmp_path / "ht.onnx")
    sep = DemucsSeparator(2, model=path)
    x = torch.randn(1, 2, sep.segment) * 0.1
    with torch.no_grad():
        ref = model(x).numpy()[0]
    got = sep.run_model(x.numpy()[0])
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-4 * max(np.abs(ref).max(), 1e-3)
    # And through the streaming interface.
    audio = (np.random.default_rng(0).standard_normal((2, 48000 * 2)) * 0.1).astype(np.float32)
    d, b = separate_array(sep, audio)
    assert d.shape == audio.shape and np.abs(d + b - audio).max() < 1e-6
