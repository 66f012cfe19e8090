"""Default and baseline separators on real speech and music: streaming, latency, quality."""

from __future__ import annotations

import numpy as np
import pytest

from foley_desktop.separation import rnnoise

try:
    rnnoise.RNNoise()
    _RN = None
except Exception as exc:  # noqa: BLE001 - the reason is shown in the skip
    _RN = str(exc)
pytestmark = pytest.mark.skipif(_RN is not None, reason=f"RNNoise unavailable: {_RN}")

from foley_desktop.media import read_audio
from foley_desktop.separation import evaluate as ev
from foley_desktop.separation.base import make_separator, separate_array
from foley_desktop.separation.default import DeepFilterSeparator, MaskSeparator
from foley_desktop.separation.tasnet import TasNetFusionSeparator


@pytest.mark.parametrize("backend", ["default", "dfn", "rnnoise-mask", "rnnoise"])
def test_block_size_does_not_change_the_result(parts, backend):
    x = (parts[0] + parts[1])[None, :96000]
    d1, b1 = separate_array(make_separator(backend, 1), x, block=48000)
    d2, b2 = separate_array(make_separator(backend, 1), x, block=777)
    assert d1.shape == x.shape and b1.shape == x.shape
    np.testing.assert_allclose(d1, d2, atol=1e-6)
    np.testing.assert_allclose(b1, b2, atol=1e-6)
    # The stems add up to the input.
    np.testing.assert_allclose(d1 + b1, x, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("backend", ["masknet", "dfn-refine"])
def test_trained_backends_give_stems_that_sum_to_the_input_with_exact_length(parts, backend,
                                                                              channels):
    s, n = parts
    x = np.stack([s + n * (0.5 + 0.1 * c) for c in range(channels)])[:, :70001]
    d, b = separate_array(make_separator(backend, channels), x, block=12345)
    assert d.shape == x.shape and b.shape == x.shape
    assert d.dtype == np.float32 and np.isfinite(d).all()
    np.testing.assert_allclose(d + b, x, atol=1e-6)
    assert np.abs(d).max() > 1e-3  # speech found, not an all-background pass-through
    if channels == 6:  # 5.1: only the centre carries dialogue
        assert not np.any(d[[0, 1, 3, 4, 5]])


def test_default_beats_the_naive_baseline_and_is_quiet_in_pauses(parts):
    s, n = parts
    x = s + n
    res = ev.dialogue_scores(("rnnoise", "default"), s, x)
    assert res["default"][0] > res["rnnoise"][0] + 0.5, res
    assert res["default"][0] > 5.0, res
    # Pauses: what is left of the music in the dialogue stem is far below the baseline's.
    assert res["default"][1] < -50.0, res
    assert res["default"][1] < res["rnnoise"][1] - 20.0, res


def test_oracle_masks_bound_the_mask_backends(parts):
    """The ideal masks from the clean sources: exact when there is nothing to remove, and the
    phase-sensitive one (the best real mask in [0, 1]) above the ratio one."""
    s, n = parts
    x = s + n
    ref = ev.si_sdr(x, s)
    alone = ev.oracle_dialogue("oracle-psm", s, np.zeros_like(s))
    np.testing.assert_allclose(alone, s, atol=1e-5)
    irm = ev.si_sdr(ev.oracle_dialogue("oracle-irm", s, n), s) - ref
    psm = ev.si_sdr(ev.oracle_dialogue("oracle-psm", s, n), s) - ref
    assert psm > irm + 0.5 and irm > 5.0, (psm, irm)
    with pytest.raises(ValueError):
        ev.oracle_dialogue("oracle-cheat", s, n)


def test_dialogue_is_aligned_with_the_input(parts):
    s, _ = parts
    d, _ = separate_array(make_separator("default", 1), s[None])
    lags = range(-960, 961, 48)
    corr = [np.dot(np.roll(d[0], k), s) for k in lags]
    assert list(lags)[int(np.argmax(corr))] == 0


@pytest.mark.parametrize("cls", [MaskSeparator, DeepFilterSeparator, TasNetFusionSeparator])
def test_memory_stays_bounded_over_a_long_stream(cls):
    rng = np.random.default_rng(1)
    sep = cls(2)
    sizes = []
    warm = 5 + 2 * sep.latency // 48000  # the latency fills first (the default: 8 s segments)
    for _i in range(warm + 36):  # stereo noise in 1 s blocks
        sep.process_block((rng.standard_normal((2, 48000)) * 0.1).astype(np.float32))
        est = len(getattr(sep._est, "_spec", ())) * 480  # DeepFilterNet3's frames in waiting
        aux = len(sep._aux._buf) + len(sep._aux._acc) if sep._aux is not None else 0
        sizes.append(sep._x.shape[1] + sep._pre.shape[1] + sep._S.shape[0] * 480
                     + sep._T.shape[0] * 480 + len(sep._t) + aux
                     + sep._final_len + len(sep._vad_probs) * 1536 + len(sep._s) + est)
    # After warm-up nothing grows with the length of the stream: the last 12 s hold no more
    # than the 12 s after warm-up did (the default's buffers rise and fall once per segment,
    # 10.7 s, so its peaks land on different 1 s blocks: up to 3 blocks of slack).
    assert max(sizes[-12:]) <= max(sizes[warm:warm + 12]) + (3 if sep._aux else 1) * 48000
    assert max(sizes) < 4 * 48000 + 6 * sep.latency


def test_silence_gives_silent_stems():
    x = np.zeros((1, 48000), np.float32)
    d, b = separate_array(make_separator("default", 1), x)
    assert np.abs(d).max() == 0.0 and np.abs(b).max() == 0.0


def test_music_alone_stays_in_the_background(media_root):
    x = read_audio(media_root / "usr/share/sonic-pi/samples/loop_tabla.flac", mono=True)
    x = x[:, :5 * 48000]
    d, _ = separate_array(make_separator("default", 1), x)
    ratio = 10 * np.log10((np.dot(d[0], d[0]) + 1e-12) / np.dot(x[0], x[0]))
    assert ratio < -15.0, ratio
