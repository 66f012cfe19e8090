"""The shipped foley-tiny package: manifest, hashes, size budget, each ONNX graph's behaviour,
and generation through the engine on the demo clip (events known). onnxruntime only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from foley_desktop.engine.package import load_package
from foley_desktop.engine.text import TextTokenizer

REPO = Path(__file__).resolve().parent.parent
PKG_DIR = REPO / "resources/models/foley-tiny"
DEMO = REPO / "resources/demo/footsteps_gravel.mp4"
SR = 48000


@pytest.fixture(scope="module")
def pkg():
    return load_package("foley-tiny")


def _session(pkg, role, precision):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(pkg.graph_file(role, precision)), so,
                                providers=["CPUExecutionProvider"])


def test_manifest_hashes_and_budget(pkg):
    assert pkg.path.resolve() == PKG_DIR.resolve()
    pkg.verify_all()
    m = json.loads((PKG_DIR / "manifest.json").read_text())
    listed = [v["file"] for g in m["graphs"].values() for v in g["variants"].values()] + list(m["files"])
    total = sum((PKG_DIR / f).stat().st_size for f in listed)
    assert total <= 60_000_000, total
    assert {"fp32", "int8"} <= set(m["graphs"]["denoiser"]["variants"])
    assert "int8" in m["graphs"]["text_encoder"]["variants"]
    for f in ("MODEL_CARD.md", "LICENSES.md"):
        assert (PKG_DIR / f).stat().st_size > 500


def test_text_encoder_is_a_real_sentence_encoder(pkg):
    tok = TextTokenizer(pkg)
    sess = _session(pkg, "text_encoder", "int8")
    texts = ["footsteps on gravel", "walking on a gravel path", "a glass window shatters"]
    ids, mask = tok.encode(texts)
    feats = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    assert feats.shape == (3, pkg.text["max_tokens"], 384)
    e = (feats * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert e[0] @ e[1] > 0.5 > e[0] @ e[2] + 0.2


def test_prompt_features_do_not_depend_on_the_negative_prompt(pkg):
    """The INT8 text encoder scales activations per batch: the engine encodes each text alone,
    so a prompt gives the same features whatever the negative prompt, and the same as the
    training captions got (train/text.caption_features)."""
    from foley_desktop.engine.generate import Engine, encode_texts
    from foley_desktop.train.text import caption_features
    engine = Engine(pkg, precision="int8", provider="cpu")
    a, mask = encode_texts(engine, ["footsteps on gravel", "noisy, harsh"])
    b, _ = encode_texts(engine, ["footsteps on gravel", "a very long and loud negative prompt"])
    np.testing.assert_array_equal(a[0], b[0])
    ref, ref_mask = caption_features(pkg.graph_file("text_encoder", "int8"),
                                     PKG_DIR / "tokenizer.json", ["footsteps on gravel"])
    np.testing.assert_array_equal(mask[0], ref_mask[0])
    np.testing.assert_allclose(a[0], ref[0].astype(np.float32), atol=2e-3, rtol=2e-3)
    # Encoded together, the batch-wide activation scale would have changed them.
    sess = _session(pkg, "text_encoder", "int8")
    ids, m = TextTokenizer(pkg).encode(["footsteps on gravel", "a very long and loud negative prompt"])
    together = sess.run(None, {"input_ids": ids, "attention_mask": m})[0]
    assert not np.allclose(together[0], a[0], atol=1e-3)


def test_visual_encoder_sees_motion(pkg):
    sess = _session(pkg, "visual_encoder", "fp32")
    s = pkg.streams["visual"]
    still = np.zeros((1, 20, 3, s.height, s.width), np.float32)
    moved = still.copy()
    moved[0, 10:, :, 20:30, 20:30] = 1.0          # a square appears at frame 10
    a = sess.run(None, {"frames": still})[0]
    b = sess.run(None, {"frames": moved})[0]
    assert a.shape == (1, 20, 128)
    change = np.linalg.norm(b - a, axis=2)[0]
    assert change[:6].max() < 1e-4              # two k=5 temporal convolutions reach 4 frames back
    assert change[10] > 10 * (change[:6].max() + 1e-6)


def test_denoiser_int8_tracks_fp32(pkg):
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 64, 203)).astype(np.float32),
             "t": np.array([0.3, 0.8], np.float32),
             "text_features": rng.standard_normal((2, 32, 384)).astype(np.float32) * 0.3,
             "text_mask": np.concatenate([np.ones((2, 6)), np.zeros((2, 26))], 1).astype(np.float32),
             "visual": rng.standard_normal((2, 51, 128)).astype(np.float32)}
    if pkg.takes_markers:             # 1.6.0: the event track (spotting markers)
        from foley_desktop.engine.events import event_track
        feeds["events"] = np.stack([event_track(np.array([4800.0, 9000.0]), np.ones(2), 203, 480,
                                                (0, 203)), np.zeros((203, 2), np.float32)])
    v32 = _session(pkg, "denoiser", "fp32").run(None, feeds)[0]
    v8 = _session(pkg, "denoiser", "int8").run(None, feeds)[0]
    assert v32.shape == (2, 64, 203)           # odd lengths are padded and cropped inside
    rel = np.linalg.norm(v8 - v32) / np.linalg.norm(v32)
    assert rel < 0.15, rel


def test_generate_demo_clip_follows_the_footsteps(pkg):
    from foley_desktop.engine.generate import GenerateRequest, generate
    from foley_desktop.train.evaluate import detect_onsets, f1

    events = np.array(json.loads(DEMO.with_suffix(".json").read_text())["events_seconds"])
    res = generate(GenerateRequest(video=DEMO, start=0, end=8 * SR, prompt="footsteps on gravel",
                                   seeds=[3]), package=pkg, precision="int8")
    audio = res.takes[0].audio
    assert len(audio) == 8 * SR and np.isfinite(audio).all()
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3
    hits, n_ref, n_est = f1(events, detect_onsets(audio), 0.1)
    precision, recall = hits / max(n_est, 1), hits / n_ref
    assert recall >= 0.6 and precision >= 0.6, (hits, n_ref, n_est)


def test_generate_on_markers_keeps_the_prompt_on_the_demo_clip(pkg):
    """1.6.0 follows spotting markers: the demo's footstep times given as markers with a metal
    prompt give metal hits on the markers, not footsteps from the picture."""
    if not pkg.takes_markers:
        pytest.skip("this foley-tiny takes no markers")
    from foley_desktop.engine.generate import GenerateRequest, generate
    from foley_desktop.spotting.onsets import detect_onsets, onset_f1
    from foley_desktop.train.classifier import AudioClassifier

    events = np.array(json.loads(DEMO.with_suffix(".json").read_text())["events_seconds"])
    res = generate(GenerateRequest(video=DEMO, start=0, end=8 * SR, prompt="a metal clang",
                                   seeds=[3], markers=[(round(e * SR), 1.0) for e in events]),
                   package=pkg, precision="int8")
    assert res.markers_followed is True
    audio = res.takes[0].audio
    assert onset_f1(events, detect_onsets(audio), 0.04) >= 0.8
    clf = AudioClassifier(REPO / "resources/models/foley-tiny-eval", threads=1)
    assert not clf.predict([audio])[0].startswith("footsteps")
