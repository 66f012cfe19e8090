"""The shipped foley-tiny decoder graph against the project's own analysis (numpy) and real
recordings: exact lengths, level, transient timing. onnxruntime only (no torch)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from foley_desktop.engine.package import load_package
from foley_desktop.train import codec

PKG = "foley-tiny"


@pytest.fixture(scope="module")
def decoder():
    pkg = load_package(PKG)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(pkg.graph_file("decoder", "fp32")), so,
                                providers=["CPUExecutionProvider"])
    return lambda z: sess.run(None, {"latent": z[None].astype(np.float32)})[0].reshape(-1)


def _onset(x: np.ndarray) -> int:
    env = np.convolve(x.astype(np.float64) ** 2, np.ones(96) / 96, mode="same")
    return int(np.argmax(env >= env.max() * 10 ** (-20 / 10)))


def test_graph_matches_reference_decoder_and_lengths(decoder):
    rng = np.random.default_rng(1)
    for frames in (1, 7, 100, 1031):     # 1031 > the phase table's period
        z = rng.normal(-0.5, 1.0, size=(codec.N_BANDS, frames)).astype(np.float32)
        y = decoder(z)
        assert len(y) == frames * codec.HOP
        np.testing.assert_allclose(y, codec.decode(z), atol=2e-4 * max(1.0, np.abs(y).max()))
    z = rng.normal(size=(codec.N_BANDS, 50)).astype(np.float32)
    assert np.array_equal(decoder(z), decoder(z))       # deterministic: no randomness in the graph


def test_white_noise_keeps_its_level(decoder):
    x = np.random.default_rng(0).standard_normal(3 * codec.SR).astype(np.float32) * 0.1
    y = decoder(codec.encode(x))
    db = 20 * np.log10(np.sqrt(np.mean(y[4800:-4800] ** 2)) / np.sqrt(np.mean(x[4800:-4800] ** 2)))
    assert abs(db) < 0.5


def test_silence_decodes_to_silence(decoder):
    y = decoder(codec.encode(np.zeros(codec.SR, np.float32)))
    assert np.abs(y).max() < 1e-3


@pytest.mark.parametrize("name", ["default_gravel_footstep.1.ogg", "default_wood_footstep.1.ogg",
                                  "default_place_node_hard.1.ogg", "doors_door_close.ogg"])
def test_real_recording_resynthesis_keeps_transients(decoder, media_root, name):
    from foley_desktop.train.sounds import load_audio

    path = next((media_root / "usr/share/games/minetest/games/minetest_game/mods").glob(f"*/sounds/{name}"))
    x = load_audio(path)
    x = np.concatenate([np.zeros(7000, np.float32), x, np.zeros(9600, np.float32)])
    y = decoder(codec.encode(x))[: len(x)]
    # The 20 ms synthesis window spreads an attack over its frame, so the decoded onset (at
    # -20 dB of the peak) comes up to about one hop early: measured 2-12 ms on these files.
    # The bound is 12.5 ms; it is not the 10 ms the design aimed for (see MODEL_CARD.md).
    assert abs(_onset(y) - _onset(x)) <= 600
    # Band energies survive the round trip: re-analysis agrees within a few dB where it is loud
    # (random-phase noise re-analysed in 1-2 bin wide low bands fluctuates by ~3 dB).
    zx, zy = codec.encode(x), codec.encode(y)
    loud = zx > np.percentile(zx, 80)
    err_db = np.abs(zy[loud] - zx[loud]).mean() * codec.LOG_STD * 10 / np.log(10)
    assert err_db < 4.0
    e_x, e_y = np.sum(x ** 2), np.sum(y ** 2)
    # Total energy: within 1.5 dB for steps and doors; the low, boomy block thud loses ~3 dB
    # (known limitation of the filtered-noise decoder for strongly tonal low sounds).
    assert abs(10 * np.log10(e_y / e_x)) < 3.5
