"""The shuttle mix (J/L: backwards, 2x/4x/8x) and the transport's audio clock, without a device.

tests/test_playback_device.py plays the same through a real PortAudio stream; these check the
edges that are awkward to reach there (the clip's start and end, every rate) quickly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from foley_desktop.media.timebase import SAMPLE_RATE as SR
from foley_desktop.ui.playback import LaneMix, Mixer, output_latency_setting


def make_mixer() -> tuple[Mixer, np.ndarray]:
    rng = np.random.default_rng(7)
    bed = rng.uniform(-0.5, 0.5, (2, 3000)).astype(np.float32)
    take = rng.uniform(-0.3, 0.3, 500).astype(np.float32)
    m = Mixer()
    m.beds["original"] = bed
    m.clips = [(1000, take)]
    m.lanes["original"] = LaneMix(gain_db=-6.0)
    full = bed.astype(np.float64) * 10 ** (-6 / 20)
    full[:, 1000:1500] += take
    return m, np.clip(full, -1, 1)


@pytest.mark.parametrize("rate", [1, 2, 4, 8, -1, -2, -4, -8])
@pytest.mark.parametrize("start", [0, 37, 1200, 2990, 3000])
def test_render_shuttle_matches_reference(rate, start):
    m, full = make_mixer()
    padded = np.concatenate([np.zeros((2, 4000)), full, np.zeros((2, 4000))], axis=1)
    frames, pos = 64, start
    got = []
    for _ in range(5):  # consecutive blocks: the position carries over exactly
        block, pos = m.render_shuttle(pos, frames, rate)
        assert block.shape == (2, frames) and block.dtype == np.float32
        got.append(block)
    out = np.concatenate(got, axis=1)
    speed, n = abs(rate), 5 * frames
    s = start + 4000
    src = padded[:, s:s + speed * n] if rate > 0 else padded[:, s - speed * n:s][:, ::-1]
    want = src.reshape(2, n, speed).mean(axis=2)
    assert pos == start + rate * n
    np.testing.assert_allclose(out, want, atol=2e-6)


def test_reverse_reads_the_block_before_the_position():
    m, full = make_mixer()
    block, pos = m.render_shuttle(2000, 100, -1)
    np.testing.assert_allclose(block, full[:, 1900:2000][:, ::-1], atol=2e-6)
    assert pos == 1900
    # At the clip's start, backwards plays silence rather than wrapping or failing.
    block, pos = m.render_shuttle(0, 100, -2)
    assert not block.any() and pos == -200


def test_solo_and_mute_apply_to_the_shuttle_mix():
    m, _full = make_mixer()
    m.lanes["foley"].solo = True
    block, _ = m.render_shuttle(1500, 250, -2)  # source 1000..1500: the take alone
    take = m.clips[0][1].astype(np.float64)
    np.testing.assert_allclose(block[0], take[::-1].reshape(250, 2).mean(axis=1), atol=2e-6)
    m.lanes["foley"].solo, m.lanes["foley"].mute = False, True
    block, _ = m.render_shuttle(1500, 250, -2)
    bed = m.beds["original"][0, 1000:1500].astype(np.float64) * 10 ** (-6 / 20)
    np.testing.assert_allclose(block[0], bed[::-1].reshape(250, 2).mean(axis=1), atol=2e-6)


def test_latency_setting(monkeypatch):
    monkeypatch.delenv("FOLEY_DESKTOP_AUDIO_LATENCY", raising=False)
    assert output_latency_setting() == "high"
    monkeypatch.setenv("FOLEY_DESKTOP_AUDIO_LATENCY", "0.25")
    assert output_latency_setting() == 0.25
    monkeypatch.setenv("FOLEY_DESKTOP_AUDIO_LATENCY", "low")
    assert output_latency_setting() == "low"
    monkeypatch.setenv("FOLEY_DESKTOP_AUDIO_LATENCY", "soon")
    assert output_latency_setting() == "high"


def test_transport_holds_until_sound_then_follows_it(qapp):
    from foley_desktop.ui.transport import Transport

    tr = Transport()
    tr.set_media(10 * SR, Fraction(25))
    tr.seek(SR)
    heard: list[int | None] = [None]
    tr.clock_source = lambda: heard[0]
    for rate in (1, 2, -1, -4):
        tr.play(rate)
        heard[0] = None  # no block played yet
        assert tr.current_time() == SR
        heard[0] = SR - rate * 4800  # the first block still in the output buffer
        assert tr.current_time() == SR
        heard[0] = SR + rate * 960  # sound is out: the picture follows it, at any rate
        assert tr.current_time() == SR + rate * 960
        tr.stop()
