"""The prompt-adherence judge (foley_desktop/train/classifier.py): it learns to separate two
sound classes from real-shaped audio features, its ONNX export gives the torch network's
answers, and its Fréchet distance behaves as the closed form says."""
from __future__ import annotations

import numpy as np
import pytest

from foley_desktop.train import classifier as clf
from foley_desktop.train import codec


def _burst_patch(rng, high: bool) -> np.ndarray:
    """1 s with one to three noise bursts, band-limited low (< 1 kHz) or high (> 4 kHz)."""
    n = clf.WIN * codec.HOP
    a = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(1, 4))):
        m = int(rng.integers(2400, 12000))
        spec = np.fft.rfft(rng.standard_normal(m))
        f = np.fft.rfftfreq(m, 1 / codec.SR)
        spec[(f < 4000) if high else (f > 1000)] = 0
        b = np.fft.irfft(spec, m).astype(np.float32) * np.hanning(m).astype(np.float32)
        s = int(rng.integers(0, n - m))
        a[s:s + m] += b * 10 ** (rng.uniform(-20, 0) / 20)
    a += rng.standard_normal(n).astype(np.float32) * 1e-4
    return clf.patch_features(codec.encode(a)[:, :clf.WIN])


def _set(rng, k):
    x = np.stack([_burst_patch(rng, i % 2 == 1) for i in range(k)])
    return x, np.arange(k) % 2


def test_patch_features_ignore_level():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(clf.WIN * codec.HOP).astype(np.float32) * 0.1
    p1 = clf.patch_features(codec.encode(a)[:, :clf.WIN])
    p2 = clf.patch_features(codec.encode(a * 0.01)[:, :clf.WIN])    # -40 dB
    # Equal up to the codec's absolute -90 dB floor, which a few dips of the quiet copy touch.
    assert np.mean(np.abs(p1 - p2) > 1e-2) < 0.01
    assert p1.min() >= clf.FLOOR_DB * clf._DB_TO_Z - 1e-6


def test_few_steps_separate_two_classes_and_onnx_agrees(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    x, y = _set(rng, 48)
    xv, yv = _set(rng, 24)
    net = clf._net(2)
    with torch.no_grad():
        before = float(np.mean(net(torch.from_numpy(xv))[0].argmax(1).numpy() == yv))
    loss = clf.fit(net, x, y, epochs=6, seed=0, bs=16, lr=3e-3, log=lambda m: None)
    with torch.no_grad():
        logits, emb = net(torch.from_numpy(xv))
    acc = float(np.mean(logits.argmax(1).numpy() == yv))
    assert acc >= 0.9, (before, acc, loss)
    assert emb.shape == (len(xv), clf.EMB_DIM)
    # The exported graph answers like the network (what the evaluation runs).
    clf.export(net, tmp_path, {"labels": ["low", "high"]})
    a = clf.AudioClassifier(tmp_path, threads=1)
    lg, em = a.run(xv)
    assert np.allclose(lg, logits.numpy(), atol=1e-4)
    assert np.allclose(em, emb.numpy(), atol=1e-4)


def test_frechet_zero_for_identical_sets_and_symmetric():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((60, 8)) @ rng.standard_normal((8, 8))
    b = rng.standard_normal((40, 8)) * 2 + 1
    assert clf.frechet_between(a, a) == pytest.approx(0.0, abs=1e-8)
    assert clf.frechet_between(a, b) == pytest.approx(clf.frechet_between(b, a), rel=1e-9)
    assert clf.frechet_between(a, b) > 1.0


def test_frechet_mean_shift_closed_form():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((50, 6)) @ rng.standard_normal((6, 6))
    prev = 0.0
    for k in (0.5, 1.0, 2.0, 4.0):
        delta = k * np.array([1.0, -2.0, 0.5, 0.0, 1.0, 3.0])
        d = clf.frechet_between(a, a + delta)
        # Same covariance: only the squared mean difference remains.
        assert d == pytest.approx(float(delta @ delta), rel=1e-6)
        assert d > prev
        prev = d


def test_frechet_of_known_gaussians():
    mu = np.zeros(4)
    s1 = np.diag([1.0, 4.0, 9.0, 0.25])
    s2 = np.diag([4.0, 1.0, 9.0, 1.0])
    # Diagonal: sum of (sigma1 - sigma2)^2.
    assert clf.frechet_distance(mu, s1, mu, s2) == pytest.approx(1 + 1 + 0 + 0.25)
    # Rotated full covariances: the distance is invariant to a common rotation.
    q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((4, 4)))
    assert clf.frechet_distance(mu, q @ s1 @ q.T, mu + 1, q @ s2 @ q.T) == pytest.approx(2.25 + 4)


def test_unseen_prompts_are_paraphrases_never_used_in_training():
    from foley_desktop.train.evaluate import UNSEEN_PROMPTS
    from foley_desktop.train.sounds import classes
    caps = {c.name: set(c.captions) for c in classes()}
    every = set().union(*caps.values())
    assert set(UNSEEN_PROMPTS) <= set(caps) and len(UNSEEN_PROMPTS) >= 10
    for name, prompts in UNSEEN_PROMPTS.items():
        assert len(set(prompts)) == len(prompts) >= 3
        assert not set(prompts) & every, name


def test_caption_swap_pools_hold_no_evaluation_prompt_and_no_heldout_class():
    """Training wordings, validation wordings and held-out prompts are three disjoint sets."""
    from foley_desktop.train.captions import paraphrase, pools
    from foley_desktop.train.evaluate import UNSEEN_PROMPTS
    from foley_desktop.train.sounds import HELDOUT_CLASSES, classes
    from foley_desktop.train.sweep import VALIDATION_PROMPTS
    table = pools()
    unseen = {p for ps in UNSEEN_PROMPTS.values() for p in ps}
    val = {p for ps in VALIDATION_PROMPTS.values() for p in ps}
    trained_words = {w for ws in table.values() for w in ws}
    assert not unseen & trained_words and not val & trained_words and not val & unseen
    assert set(VALIDATION_PROMPTS) == set(table)
    assert not set(HELDOUT_CLASSES) & set(table)
    trained = {c.name for c in classes()} - set(HELDOUT_CLASSES)
    assert set(table) == trained and all(len(ws) >= 8 for ws in table.values())
    rng = np.random.default_rng(0)
    bg = "footsteps on gravel, with a crackling fireplace in the background"
    outs = {paraphrase(bg, "footsteps_gravel", rng, table) for _ in range(40)}
    assert len(outs) > 20
    for o in outs:
        fg, _, rest = o.partition(", with ")
        assert fg in table["footsteps_gravel"] and rest.removesuffix(" in the background") in table["fire"]
    assert paraphrase("a dog barks", "dog_bark", rng, table) in table["dog_bark"]


def test_trained_class_scores_leave_out_the_heldout_classes():
    from foley_desktop.train.evaluate import trained_class_scores
    cls = ["fire", "fire", "lava", "footsteps_snow", "dog_bark"]
    preds = {"reference_clips": ["fire", "fire", "lava", "footsteps_snow", "dog_bark"],
             "reference_clips_through_decoder": ["fire", "lava", "lava", "footsteps_snow",
                                                 "dog_bark"],
             "generated_dataset_captions": ["lava", "fire", "water_flow", "footsteps_ice",
                                            "dog_bark"]}
    r = trained_class_scores(cls, preds)
    assert r["held_out_classes"] == ["footsteps_snow", "lava"]
    assert (r["clips"], r["classes"]) == (3, 2)
    assert r["reference_clips"] == 1.0
    assert r["reference_clips_through_decoder"] == round(2 / 3, 3)
    assert r["generated_dataset_captions"] == round(2 / 3, 3)
    # a generator as good as the decoded real clips on trained classes, wrong on held-out ones
    assert r["best_whole_set_score_of_a_generator_of_trained_classes"] == 0.4


def test_extra_sources_only_add_training_recordings(monkeypatch):
    """The experimental 0 A.D. recipe never touches the held-out classes or recordings."""
    from foley_desktop.train import sounds
    assert not set(sounds.EXTRA_PATTERNS) & set(sounds.HELDOUT_CLASSES)
    assert set(sounds.EXTRA_PATTERNS) <= {c.name for c in sounds.classes()}
    assert not any("snow" in p for ps in sounds.EXTRA_PATTERNS.values() for p in ps)
    monkeypatch.setenv("FOLEY_EXTRA_SOURCES", "1")
    assert sounds.extra_sources()
    monkeypatch.setenv("FOLEY_EXTRA_SOURCES", "0")
    assert not sounds.extra_sources()
