"""The shipped Conv-TasNet speech enhancers (issue #29): the pretrained weights
(resources/models/separation/convtasnet-enh16k/, made by scripts/fetch_convtasnet.py; the
`fused` backend's) and the same network fine-tuned here on Debian speech
(convtasnet-debian-v2/, scripts/train_convtasnet.sh; the default backend's).

Output length rule: the graph pads its decoder output at the end to the input's length, so
the output has exactly as many samples as the input (any length >= 32 samples, one 2 ms
encoder frame). The output is the input's scale times about -6000 (polarity inverted): a
caller scales it, e.g. by its least-squares projection onto the mixture.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "resources/models/separation/convtasnet-enh16k"
MODEL_NAME = "convtasnet_enh16k_int8.onnx"
SHA256 = "f371dd6ae0acf6850467a3e865bb3ee555841ff988efaff21bf1ae0630723ab3"
TUNED_DIR = ROOT / "resources/models/separation/convtasnet-debian-v2"
TUNED_SHA256 = "34d81b40ee7d9f8c7b3c9c3c1e08035e9be891ce07dc71d25f64e74373a58ef0"
BOTH = pytest.mark.parametrize("folder", [MODEL_DIR, TUNED_DIR], ids=["pretrained", "tuned"])
MEDIA = Path.home() / ".cache/foley-desktop/media/root/usr/share"
SPEECH = MEDIA / "pocketsphinx/test/data/cards/001.wav"
NOISE = MEDIA / "games/minetest/games/minetest_game/mods/env_sounds/sounds/env_sounds_water.1.ogg"
SR = 16000


def _session(folder: Path = MODEL_DIR):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(folder / MODEL_NAME), so,
                                providers=["CPUExecutionProvider"])


def _run(sess, x: np.ndarray) -> np.ndarray:
    return sess.run(None, {"input": x[None, None].astype(np.float32)})[0].reshape(-1)


def _si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    from foley_desktop.separation.evaluate import si_sdr

    return si_sdr(est, ref)


def _read16(path: Path) -> np.ndarray:
    import soundfile as sf
    import soxr

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return x if sr == SR else soxr.resample(x, sr, SR).astype(np.float32)


@BOTH
def test_shipped_file_matches_its_sha256(folder):
    sha = SHA256 if folder == MODEL_DIR else TUNED_SHA256
    data = (folder / MODEL_NAME).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    assert len(data) < 20_000_000
    assert sha in (folder / "README.md").read_text()


def test_default_backend_runs_the_fine_tuned_weights_and_fused_the_pretrained():
    from foley_desktop.separation.base import make_separator
    from foley_desktop.separation.tasnet import FINE_TUNED, PRETRAINED, model_path

    assert model_path(PRETRAINED) == MODEL_DIR / MODEL_NAME
    assert model_path(FINE_TUNED) == TUNED_DIR / MODEL_NAME
    assert Path(make_separator("default", 1)._tasnet_model) == TUNED_DIR / MODEL_NAME
    assert make_separator("fused", 1)._tasnet_model is None  # model_path(): pretrained


def _script(name: str):
    """A module of scripts/ (not a package), loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fetch_script_names_the_same_file_and_hash():
    mod = _script("fetch_convtasnet")
    assert mod.SHIPPED_NAME == MODEL_NAME
    assert mod.SHIPPED_SHA256 == SHA256


@BOTH
@pytest.mark.parametrize("n", [32, 33, 1000, 16000, 16007])
def test_output_has_the_input_length(n, folder):
    sess = _session(folder)
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    assert _run(sess, x).shape == (n,)


@pytest.mark.skipif(not (SPEECH.is_file() and NOISE.is_file()),
                    reason="test media missing: run scripts/fetch_test_media.sh")
@BOTH
def test_recorded_speech_in_noise_comes_out_closer_to_the_speech(folder):
    speech = _read16(SPEECH)
    noise = np.resize(_read16(NOISE), len(speech))
    noise *= np.sqrt(np.sum(speech ** 2) / np.sum(noise ** 2))  # 0 dB
    mix = (speech + noise) * 0.5
    speech = speech * 0.5
    y = _run(_session(folder), mix)
    assert y.shape == mix.shape and np.all(np.isfinite(y))
    # the raw output is about -6000 x the speech in the input: polarity inverted (the
    # fine-tuning kept that scale, which the separator divides by: tasnet.GAIN)
    g = float(np.dot(y, speech) / np.dot(speech, speech))
    assert -7500 < g < -4500, g
    y = y * (np.dot(y, mix) / np.dot(y, y))
    before = _si_sdr(mix, speech)
    after = _si_sdr(y, speech)
    assert after > before + 6.0, (before, after)


def test_training_augmentation_speed_and_tilt():
    """train_convtasnet.py --speed/--tilt: a line played 0.9-1.1 x as fast keeps its length
    in that ratio; the tilt scales each frequency by 1 + g x the 1 kHz high-pass; the same draw
    gives the same line."""
    mod = _script("train_convtasnet")
    t = np.arange(32000) / 16000
    x = (np.sin(2 * np.pi * 200 * t) + np.sin(2 * np.pi * 5000 * t)).astype(np.float32)
    assert np.array_equal(mod.augment(x, np.random.default_rng(0), 0.0, 0.0), x)
    for seed in range(5):
        y = mod.augment(x, np.random.default_rng(seed), 0.1, 0.0)
        assert 0.9 * len(x) - 2 <= len(y) <= 1.1 * len(x) + 2 and len(y) != len(x)
        z = mod.augment(x, np.random.default_rng(seed), 0.0, 0.5)
        X, Z = np.abs(np.fft.rfft(x)), np.abs(np.fft.rfft(z))
        # gain 1 + g |HP(f)|, |HP(f)| = f / sqrt(f^2 + 1 kHz^2): one g at 200 Hz and 5 kHz
        g_lo = (Z[400] / X[400] - 1) / (200 / np.hypot(200, 1000))
        g_hi = (Z[10000] / X[10000] - 1) / (5000 / np.hypot(5000, 1000))
        assert abs(g_lo - g_hi) < 0.01 and 0.01 < abs(g_hi) <= 0.5
        again = mod.augment(x, np.random.default_rng(seed), 0.1, 0.5)
        assert np.array_equal(again, mod.augment(x, np.random.default_rng(seed), 0.1, 0.5))


def test_tuned_model_is_int8_except_its_depthwise_convolutions():
    """convtasnet-debian-v2's layout (export --float-depthwise): every 1x1 convolution of TCN
    blocks 2-23 reads INT8 weights, every depthwise one float weights."""
    import re

    import onnx

    g = onnx.load(str(TUNED_DIR / MODEL_NAME)).graph
    init = {t.name: t for t in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    kinds = {"int8": 0, "float": 0}
    for n in g.node:
        b = re.search(r"/TCN\.(\d+)/", n.name)
        if n.op_type != "Conv" or not b or int(b.group(1)) < 2 or "mask_net" in n.name:
            continue
        groups = next((a.i for a in n.attribute if a.name == "group"), 1)
        w = n.input[1]
        quantised = w in prod and prod[w].op_type == "DequantizeLinear"
        assert quantised == (groups == 1), n.name
        assert quantised or init[w].data_type == onnx.TensorProto.FLOAT
        kinds["int8" if quantised else "float"] += 1
    assert kinds == {"int8": 22 * 3 - 1, "float": 22}
