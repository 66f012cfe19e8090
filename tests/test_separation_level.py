"""The default backend's level front end: DeepFilterNet3 hears the input at a set level, and
its estimate is turned back down. The default: a causal running level (turned up only).
`dfn-prepass` (experimental): with the whole input at hand (the file job, `separate_array`) a
pre-pass measures the level first (mean power in a 2 s window centred on each 100 ms frame,
set to -30 dBFS, gain -20..+30 dB; the VAD hears the levelled signal too); a stream without
the pre-pass falls back to the causal level."""

from __future__ import annotations

import numpy as np
import pytest

from foley_desktop.media import read_audio, write_wav
from foley_desktop.separation import evaluate as ev
from foley_desktop.separation import separate
from foley_desktop.separation.base import make_separator, separate_array
from foley_desktop.separation.default import (
    LEVEL_FRAME,
    DeepFilterSeparator,
    LevelMeter,
    frame_levels,
)

SR = 48000
PRE = "dfn-prepass"


def _sisdri(s, x, pre_pass=True, **options):
    d, b = separate_array(make_separator(PRE, 1, **options), x[None], pre_pass=pre_pass)
    np.testing.assert_allclose(d + b, x[None], atol=1e-6)
    return ev.si_sdr(d[0], s) - ev.si_sdr(x, s), ev.first_second_sisdri(d[0], s, x)


def test_quiet_input_is_separated_like_loud_input(parts):
    """35 dB down (RMS -54 dBFS) DeepFilterNet3 alone breaks down (measured on this mixture:
    SI-SDRi -27.5 dB against 8.99 at full level). With the level measured first the quiet
    clip gets exactly the loud clip's input level, so the same result (8.76 / 8.76 dB),
    its first second of speech included (8.21 / 8.21); the causal front end, which does not
    know the level yet and leaves the VAD at the input's level, measured 7.32 overall and
    1.56 dB in the first second."""
    s, n = parts
    g = 10 ** (-35 / 20)
    loud, loud_first = _sisdri(s, s + n)
    quiet, quiet_first = _sisdri(s * g, (s + n) * g)
    assert loud > 7.0 and abs(quiet - loud) < 0.1, (loud, quiet)
    assert abs(quiet_first - loud_first) < 0.2 and quiet_first > 6.0, (loud_first, quiet_first)
    causal, causal_first = _sisdri(s * g, (s + n) * g, pre_pass=False)
    assert quiet_first > causal_first + 4.0, (quiet_first, causal_first)
    assert causal > _sisdri(s * g, (s + n) * g, input_level_db=None)[0] + 10.0


def test_a_level_step_inside_the_clip_is_followed(parts):
    """The same mixture 35 dB down, then at full level, in one clip: a level measured over the
    whole clip leaves the quiet half far too quiet for DeepFilterNet3 (measured -75.6 dB,
    loud half 8.59); the 2 s window follows the step (measured 8.76 / 7.51 dB)."""
    s, n = parts
    g = 10 ** (-35 / 20)
    x = np.concatenate([(s + n) * g, s + n])
    ref = np.concatenate([s * g, s])
    half = len(s)

    def halves(**options):
        d, _ = separate_array(make_separator(PRE, 1, **options), x[None])
        return [ev.si_sdr(d[0, a:b], ref[a:b]) - ev.si_sdr(x[a:b], ref[a:b])
                for a, b in ((0, half), (half, 2 * half))]

    windowed = halves()
    whole = halves(level_window_s=None)
    assert windowed[0] > 7.5 and windowed[1] > 6.5, windowed
    assert whole[0] < 0.0 < whole[1], whole


def test_the_previous_default_is_kept_for_comparison(parts):
    s, n = parts
    x = (s + n)[None, :48000] * 0.01
    d0, _ = separate_array(make_separator("dfn", 1, input_level_db=None), x)
    d1, _ = separate_array(make_separator("dfn-plain", 1), x)
    np.testing.assert_array_equal(d0, d1)
    assert make_separator("dfn-plain", 1).pre_pass() is None
    assert make_separator("dfn", 1).pre_pass() is None  # the default stays causal


def test_causal_front_end_unchanged_at_full_level_and_the_same_for_any_block_size(parts):
    s, n = parts
    x = (s + n)[None, :96000]
    d0, _ = separate_array(make_separator("dfn", 1, input_level_db=None), x)
    d1, _ = separate_array(make_separator("dfn", 1), x, block=48000, pre_pass=False)
    d2, _ = separate_array(make_separator("dfn", 1), x, block=999, pre_pass=False)
    # RMS above -30 dBFS from the first hop on: the causal gain stays 1.
    np.testing.assert_allclose(d1, d0, atol=1e-7)
    np.testing.assert_allclose(d2, d0, atol=1e-7)
    q = x * 0.01
    d3, _ = separate_array(make_separator("dfn", 1), q, block=48000, pre_pass=False)
    d4, _ = separate_array(make_separator("dfn", 1), q, block=999, pre_pass=False)
    np.testing.assert_allclose(d3, d4, atol=1e-7)
    assert np.abs(d3).max() > 1e-4


def test_pre_pass_gives_the_same_stems_for_any_block_size(parts):
    s, n = parts
    x = np.stack([s + n, (s + n * 0.5) * 0.3])[:, :150001] * 0.05
    d1, b1 = separate_array(make_separator(PRE, 2), x, block=48000)
    d2, b2 = separate_array(make_separator(PRE, 2), x, block=1237)
    np.testing.assert_allclose(d1, d2, atol=1e-7)
    np.testing.assert_allclose(b1, b2, atol=1e-7)
    np.testing.assert_allclose(d1 + b1, x, atol=1e-6)
    # ... and it is not the causal path: that turns the start of this quiet clip up late.
    d3, _ = separate_array(make_separator(PRE, 2), x, pre_pass=False)
    d4, _ = separate_array(make_separator("dfn", 2), x)
    assert np.abs(d3 - d1).max() > 1e-4
    np.testing.assert_array_equal(d3, d4)


def test_level_meter_frames_do_not_depend_on_blocks_and_stay_small():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 10 * SR + 1234)) * 0.1).astype(np.float32)
    sep = DeepFilterSeparator(2)
    powers = []
    for block in (SR, 777, 4800, 10 * SR + 1234):
        m = LevelMeter(sep)
        for i in range(0, x.shape[1], block):
            m.add(x[:, i:i + block])
        powers.append(m.powers())
    for p in powers[1:]:
        np.testing.assert_allclose(p, powers[0], rtol=1e-5)
    mono = x.mean(axis=0).astype(np.float64)
    assert len(powers[0]) == -(-x.shape[1] // LEVEL_FRAME)
    np.testing.assert_allclose(powers[0][3], np.mean(mono[3 * LEVEL_FRAME:4 * LEVEL_FRAME] ** 2),
                               rtol=1e-5)
    # An hour of 1 s blocks keeps 36,000 floats (144 kB), nothing of the audio itself.
    m = LevelMeter(sep)
    block = np.full((2, SR), 0.01, np.float32)
    for _ in range(3600):
        m.add(block)
    held = sum(p.nbytes for p in m._pows)
    assert held <= 36000 * 4, held
    np.testing.assert_allclose(m.powers(), 1e-4, rtol=1e-4)


def test_frame_levels_window_and_limits():
    p = np.r_[np.full(50, 1e-6), np.full(50, 1e-2)].astype(np.float32)
    whole = frame_levels(p, None)
    np.testing.assert_allclose(whole, np.mean(p), rtol=1e-5)
    win = frame_levels(p, 21)  # 2 s: +-10 frames
    np.testing.assert_allclose(win[:39], 1e-6, rtol=1e-4)
    np.testing.assert_allclose(win[61:], 1e-2, rtol=1e-4)
    np.testing.assert_allclose(win[45], (6 * 1e-2 + 15 * 1e-6) / 21, rtol=1e-4)  # 35..55
    # The gain: -30 dBFS over the level, within -20..+30 dB.
    sep = DeepFilterSeparator(1)
    sep.set_input_level(np.repeat(np.array([1e-9, 1e-6, 1e-4, 1.0], np.float32), 100))
    got = 20 * np.log10(sep._curve.gains[50::100])
    np.testing.assert_allclose(got, [30.0, 30.0, 10.0, -20.0], atol=1e-4)
    # An empty input: unit gain, no error.
    sep = DeepFilterSeparator(1)
    sep.set_input_level(np.zeros(0, np.float32))
    assert np.all(sep._curve.at(0, 100) == 1.0)


def test_pre_pass_must_come_first(parts):
    sep = make_separator(PRE, 1)
    sep.process_block(parts[0][None, :4800])
    with pytest.raises(RuntimeError):
        sep.pre_pass()


def test_memory_stays_bounded_with_a_measured_level():
    rng = np.random.default_rng(1)
    sep = DeepFilterSeparator(2)
    sep.set_input_level(np.full(400, 1e-4, np.float32))
    sizes = []
    for _i in range(40):
        sep.process_block((rng.standard_normal((2, 48000)) * 0.01).astype(np.float32))
        est = len(sep._est._spec) * 480
        sizes.append(sep._x.shape[1] + sep._pre.shape[1] + sep._S.shape[0] * 480
                     + sep._final_len + len(sep._vad_probs) * 1536 + len(sep._s) + est
                     + sum(len(g) for g in sep._lv_gains))
    assert max(sizes[5:]) <= max(sizes[:5]) + 48000
    assert max(sizes) < 4 * 48000


def test_the_file_job_and_separate_array_agree(tmp_path, parts):
    """The job measures the level from a second decode of the file; its stems are
    separate_array's on the decoded audio, with the pre-pass (not the causal path)."""
    s, n = parts
    x = np.stack([s + n, s * 0.7 + n * 0.2]) * 0.02  # quiet stereo: the pre-pass matters
    src = tmp_path / "quiet.wav"
    write_wav(src, x, subtype="FLOAT")
    audio = read_audio(src)
    seen = []
    res = separate(src, tmp_path / "out", backend=PRE, progress=seen.append, block=30000)
    d_job = read_audio(res.dialogue_path)
    d_arr, _ = separate_array(make_separator(PRE, 2), audio)
    d_causal, _ = separate_array(make_separator(PRE, 2), audio, pre_pass=False)
    np.testing.assert_allclose(d_job, d_arr, atol=1e-6)
    assert np.abs(d_causal - d_arr).max() > 1e-4
    dones = [p.done for p in seen]
    assert dones == sorted(dones) and seen[-1].fraction == 1.0
    assert seen[0].stage == "measuring the level" and "separating" in seen[-2].stage
