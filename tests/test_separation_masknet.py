"""The `masknet` separator (default pipeline + trained mask refinement) on real speech and music."""

from __future__ import annotations

import numpy as np
import pytest
from test_separation_stream import pytestmark  # noqa: F401 - the same RNNoise skip

from foley_desktop.separation import evaluate as ev
from foley_desktop.separation import masknet
from foley_desktop.separation.base import backends, make_separator, separate_array


def test_registered_and_shipped():
    assert "masknet" in backends()
    path = masknet.model_path()
    assert path.is_file() and path.stat().st_size < 5 * 2 ** 20
    assert make_separator("masknet", 2).latency == make_separator("rnnoise-mask", 2).latency


def test_block_size_does_not_change_the_result(parts):
    x = (parts[0] + parts[1])[None, :96000]
    d1, b1 = separate_array(make_separator("masknet", 1), x, block=48000)
    d2, b2 = separate_array(make_separator("masknet", 1), x, block=777)
    d3, _ = separate_array(make_separator("masknet", 1), x, block=96000)
    # Frames reach the network in different groupings: float rounding only.
    np.testing.assert_allclose(d1, d2, atol=1e-5)
    np.testing.assert_allclose(d1, d3, atol=1e-5)
    np.testing.assert_allclose(b1, b2, atol=1e-5)


def test_dump_mode_is_exactly_the_default_backend(parts):
    x = (parts[0] + parts[1])[None, :60000]
    d0, _ = separate_array(make_separator("rnnoise-mask", 1), x)
    d1, _ = separate_array(make_separator("masknet", 1, dump=True), x)
    np.testing.assert_array_equal(d0, d1)


def test_beats_rnnoise_and_its_base_and_is_silent_in_pauses(parts):
    s, n = parts
    x = s + n
    res = ev.dialogue_scores(("rnnoise", "rnnoise-mask", "masknet"), s, x)
    # Measured on this mixture (masknet-v1): SI-SDRi rnnoise 5.96, rnnoise-mask 6.78, masknet
    # 6.88 dB; pause residual rnnoise -23.5, rnnoise-mask -142.8, masknet -171.1 dB.
    assert res["masknet"][0] > res["rnnoise"][0] + 0.5, res
    assert res["masknet"][0] > res["rnnoise-mask"][0] - 0.2, res  # at least as good as its base
    assert res["masknet"][1] < -100.0, res  # gate + pause-trained mask: no musical noise


def test_missing_model_is_a_clear_error(tmp_path):
    from foley_desktop.errors import ModelPackageError

    with pytest.raises(ModelPackageError, match="mask network missing"):
        make_separator("masknet", 1, model=tmp_path / "nope.onnx")



def test_training_loss_ignores_bins_above_band_limited_speech():
    """Band-limited training speech (--recorded-share): the mixture's bins above the speech's
    bandwidth are left out of the loss terms, the rest is unchanged."""
    from foley_desktop.train import separation_mask as sm

    rng = np.random.default_rng(3)
    n = sm.SR
    speech = rng.standard_normal(n).astype(np.float32) * 0.1
    mix = speech + rng.standard_normal(n).astype(np.float32) * 0.1
    full = sm.clip_features(speech, mix)
    cut = int(np.ceil(5000.0 / (sm.SR / sm.WIN)))
    lim = sm.clip_features(speech, mix, 5000.0)
    assert np.all(lim["ax"][:, cut:] == 0) and np.all(lim["proj"][:, cut:] == 0)
    np.testing.assert_array_equal(lim["ax"][:, :cut], full["ax"][:, :cut])
    np.testing.assert_array_equal(lim["feats"], full["feats"])   # the network sees everything
    assert 0.15 < lim["es"] / full["es"] < 0.3                    # white speech: ~5/24 of it
