"""Sampler, windowing and post-processing against closed forms and BS.1770 reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from foley_desktop.engine import post, sampler, windows
from foley_desktop.errors import Cancelled
from foley_desktop.jobs import CancelToken

SR = 48000


# ---------------------------------------------------------------- sampler

def linear_ode(target):
    """v = T - x: x(t) = T + (x0 - T) e^{-t} from t = 0 to 1."""
    def denoise(x, t):
        return target[None] - x
    return denoise


def sampler_error(method, steps):
    rng = np.random.default_rng(0)
    target = rng.standard_normal((3, 5))
    noise = rng.standard_normal((1, 3, 5)).astype(np.float32)
    cfg = sampler.SamplerConfig(method=method, steps=steps)
    out = sampler.sample(linear_ode(target), noise, cfg, guided=False).astype(np.float64)
    exact = target + (noise[0] - target) * math.exp(-1.0)
    return float(np.abs(out[0] - exact).max())


def test_euler_is_first_order_and_heun_second_order():
    e = [sampler_error("euler", n) for n in (8, 16, 32)]
    h = [sampler_error("heun", n) for n in (8, 16, 32)]
    # Halving the step halves Euler's error and quarters Heun's (its last step is Euler's,
    # which adds an O(h^2) term, hence the looser bound).
    assert 1.8 < e[0] / e[1] < 2.2 and 1.8 < e[1] / e[2] < 2.2
    assert h[0] / h[1] > 3.3 and h[1] / h[2] > 3.3
    assert h[2] < e[2] / 20


def test_straight_path_is_exact_for_both_times_and_any_shift():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((2, 4, 6))
    noise = rng.standard_normal((2, 4, 6)).astype(np.float32)
    for time in ("noise_to_data", "data_to_noise"):
        def v(x, t, time=time):
            tau = t.reshape(-1, 1, 1) / 1000.0
            if time == "noise_to_data":     # x = (1-t) n + t d -> v = d - n
                return (data - x) / np.maximum(1 - tau, 1e-9)
            return (x - data) / np.maximum(tau, 1e-9)   # x = (1-t) d + t n -> v = n - d
        for method in ("euler", "heun"):
            cfg = sampler.SamplerConfig(method=method, steps=5, time=time,
                                        timestep_scale=1000.0, shift=3.0)
            out = sampler.sample(v, noise, cfg, guided=False)
            np.testing.assert_allclose(out, data, atol=1e-5)


def test_guidance_batches_conditional_then_unconditional_rows():
    seen = []
    tc, tu = np.full((2, 3), 1.0), np.full((2, 3), -1.0)

    def denoise(x, t):
        seen.append(len(x))
        S = len(x) // 2
        target = np.concatenate([np.repeat(tc[None], S, 0), np.repeat(tu[None], S, 0)])
        return target - x     # both halves share x, so the guided ODE is linear in T_g
    noise = np.zeros((3, 2, 3), np.float32)
    cfg = sampler.SamplerConfig(method="euler", steps=200, guidance=2.5)
    out = sampler.sample(denoise, noise, cfg, guided=True)
    assert set(seen) == {6} and len(seen) == 200
    t_g = tu + 2.5 * (tc - tu)                      # = 4
    np.testing.assert_allclose(out[0], t_g * (1 - math.exp(-1)), rtol=5e-3)


def test_inpainted_frames_end_exactly_as_known_and_evaluations_are_counted():
    rng = np.random.default_rng(2)
    known = rng.standard_normal((1, 2, 8)).astype(np.float32)
    mask = np.zeros((1, 1, 8), np.float32)
    mask[..., :3] = 1
    steps = []
    out = sampler.sample(lambda x, t: -x, rng.standard_normal((1, 2, 8)).astype(np.float32),
                         sampler.SamplerConfig(method="heun", steps=4), guided=False,
                         known=known, known_mask=mask, on_step=lambda k, n: steps.append((k, n)))
    np.testing.assert_array_equal(out[..., :3], known[..., :3])
    assert steps == [(k, 7) for k in range(1, 8)]     # 2 * 4 - 1 evaluations


def test_output_filter_removes_isolated_outliers_and_keeps_steps_in_place():
    x = np.zeros((2, 3, 40))
    x[..., 20:] = 4.0                      # an attack: must stay at frame 20
    x[0, 1, 7] = 9.0                       # one-frame outliers (sampling noise): must go
    x[1, 2, 30] = -9.0
    cfg = sampler.SamplerConfig(latent_median=5)
    out = sampler.output_filter(x.astype(np.float32), cfg)
    assert out.shape == x.shape and out.dtype == np.float32
    step = np.zeros(40)
    step[20:] = 4.0
    np.testing.assert_array_equal(out, np.broadcast_to(step, x.shape))
    # A burst of 3 frames (30 ms, a short real event) survives a 5-frame window unchanged.
    y = np.zeros((1, 1, 20), np.float32)
    y[..., 8:11] = 2.0
    np.testing.assert_array_equal(sampler.output_filter(y, cfg), y)
    # Off by default and for window 1; even windows are refused (no centred median).
    z = np.random.default_rng(0).standard_normal((1, 2, 9)).astype(np.float32)
    np.testing.assert_array_equal(sampler.output_filter(z, sampler.SamplerConfig()), z)
    np.testing.assert_array_equal(
        sampler.output_filter(z, sampler.SamplerConfig(latent_median=1)), z)
    with pytest.raises(ValueError, match="odd"):
        sampler.output_filter(z, sampler.SamplerConfig(latent_median=4))


def test_sampler_stops_on_cancel_between_steps():
    token = CancelToken()
    calls = []

    def denoise(x, t):
        calls.append(1)
        if len(calls) == 3:
            token.cancel()
        return -x
    with pytest.raises(Cancelled):
        sampler.sample(denoise, np.ones((1, 1, 4), np.float32),
                       sampler.SamplerConfig(steps=50), guided=False, cancel=token)
    assert len(calls) == 3


def test_noise_is_seeded_and_frame_major():
    a = sampler.initial_noise(7, (10, 4))
    b = sampler.initial_noise(7, (25, 4))
    np.testing.assert_array_equal(a, b[:10])        # longer segments start the same way
    assert not np.array_equal(a, sampler.initial_noise(8, (10, 4)))


# ---------------------------------------------------------------- windows

@pytest.mark.parametrize("needed", [1, 199, 200, 201, 360, 361, 1000, 1234])
def test_window_plan_covers_exactly(needed):
    plan = windows.plan(needed, 200, 40)
    assert plan.total_frames >= needed
    assert plan.starts[0] == 0
    assert all(b - a == 160 for a, b in zip(plan.starts, plan.starts[1:]))
    assert len(plan.starts) == 1 or plan.starts[-1] + 40 < needed   # no useless last window


def _rms_db(x):
    return 10 * math.log10(np.mean(np.asarray(x, np.float64) ** 2))


def test_crossfade_keeps_power_of_uncorrelated_and_of_identical_signals():
    rng = np.random.default_rng(3)
    n = 48000
    a = rng.standard_normal(3 * n)
    b = rng.standard_normal(3 * n)
    out = windows.join([a[:2 * n], b[:2 * n]], n, n)      # 1 s crossfade of unrelated noise
    mid = out[n + n // 4: n + 3 * n // 4]
    assert abs(_rms_db(mid) - _rms_db(a)) < 0.2
    t = np.arange(3 * n) / SR
    s = np.sin(2 * np.pi * 440 * t)
    out = windows.join([s[:2 * n], s[n:3 * n]], n, n)     # the same tone continued
    np.testing.assert_allclose(out, s, atol=1e-5)          # no +3 dB bump, no seam


def test_gains_are_equal_power_for_uncorrelated_parts():
    ga, gb = windows.crossfade_gains(np.array([1.0, 0, 0, 0]), np.array([0, 1.0, 0, 0]))
    np.testing.assert_allclose(ga ** 2 + gb ** 2, 1.0)
    assert ga[0] > ga[-1] and gb[0] < gb[-1]


# ---------------------------------------------------------------- post

def tone(freq, seconds, amp=1.0, phase=0.0):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def test_bs1770_reference_values():
    # BS.1770: a 0 dBFS 997 Hz sine reads -3.01 LUFS; -20 dBFS reads -23.01.
    assert post.integrated_loudness(tone(997, 3)) == pytest.approx(-3.01, abs=0.02)
    assert post.integrated_loudness(tone(997, 3, 0.1)) == pytest.approx(-23.01, abs=0.02)
    # K-weighting: +~4 dB shelf at high frequencies, strong cut at 20 Hz.
    assert post.integrated_loudness(tone(10000, 3, 0.1)) - post.integrated_loudness(
        tone(997, 3, 0.1)) == pytest.approx(4.0 - 0.69, abs=0.15)   # 997 Hz itself is +0.69
    assert post.integrated_loudness(tone(20, 3, 0.1)) < -35
    # Gating: 3 s of near-silence after the tone are gated out (absolute gate -70 LUFS); only
    # the three 400 ms blocks that straddle the end (75, 50, 25 % tone) lower the mean.
    gated = np.concatenate([tone(997, 3, 0.1), 1e-6 * tone(997, 3)])
    expected = -23.01 + 10 * math.log10((27 + 0.75 + 0.5 + 0.25) / 30)
    assert post.integrated_loudness(gated) == pytest.approx(expected, abs=0.02)
    assert post.integrated_loudness(np.zeros(48000, np.float32)) == float("-inf")


def test_true_peak_sees_inter_sample_peaks_and_limit_holds_the_ceiling():
    x = tone(12000, 1, 1.0, phase=np.pi / 4)      # samples at +-0.707, true peak 1.0
    assert np.abs(x).max() == pytest.approx(0.7071, abs=1e-3)
    assert post.true_peak_dbtp(x) == pytest.approx(0.0, abs=0.1)
    loud = np.concatenate([tone(300, 0.5, 0.2), tone(300, 0.2, 1.6), tone(300, 1.0, 0.2)])
    y = post.limit_true_peak(loud, -1.0)
    assert post.true_peak_dbtp(y) <= -1.0 + 1e-6
    # Quiet parts well away from the burst are untouched (a limiter, not a normaliser).
    np.testing.assert_allclose(y[:12000], loud[:12000], atol=1e-6)
    np.testing.assert_allclose(y[-24000:], loud[-24000:], atol=1e-6)
    assert np.abs(y[24000:33600]).max() < 0.9 * 1.6     # the burst itself was limited
    # A signal under the ceiling passes bit-identically.
    q = tone(300, 0.5, 0.5)
    assert post.limit_true_peak(q) is q


def test_finish_removes_dc_and_reaches_the_loudness_target():
    x = tone(200, 4, 0.05) + 0.2
    y, report = post.finish(x, loudness_lufs=-18.0)
    assert abs(float(y[4800:-4800].mean())) < 1e-4
    assert report["loudness_lufs"] == pytest.approx(-18.0, abs=0.1)
    assert report["true_peak_dbtp"] <= -1.0
    y, report = post.finish(tone(200, 2, 0.9), loudness_lufs=-6.0)   # asks for too much
    assert report["true_peak_dbtp"] <= -1.0 + 1e-6


def test_finish_without_a_target_turns_a_loud_take_down_as_a_whole():
    """No loudness asked: one gain brings the true peak to the ceiling, so a soft event stays
    as much softer than a loud one as generated (the limiter would squeeze them together)."""
    loud = np.concatenate([tone(300, 0.5, 0.5), tone(300, 0.2, 8.0), tone(300, 1.0, 0.5)])
    y, report = post.finish(loud)
    assert post.true_peak_dbtp(y) == pytest.approx(-1.0, abs=0.01)
    ref = post.remove_dc(loud)
    ratio = y[2400:-2400] / np.where(np.abs(ref[2400:-2400]) > 1e-3, ref[2400:-2400], np.nan)
    ratio = ratio[np.isfinite(ratio)]
    assert np.ptp(ratio) < 1e-4                                   # one gain everywhere
    assert report["gain_db"] == pytest.approx(20 * np.log10(ratio.mean()), abs=0.01)
    assert report["gain_db"] < -18.0
    # Under the ceiling: untouched apart from the DC filter, no gain reported.
    q = tone(300, 0.5, 0.5)
    yq, rq = post.finish(q)
    np.testing.assert_allclose(yq, post.remove_dc(q), atol=1e-6)
    assert "gain_db" not in rq
