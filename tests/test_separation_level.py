"""The default backend's level front end: DeepFilterNet3 is fed quiet input turned up to a
running RMS of -30 dBFS and its estimate is turned back down (never turned down; at ordinary
levels the output is the plain DeepFilterNet3 pipeline's)."""

from __future__ import annotations

import numpy as np

from foley_desktop.separation import evaluate as ev
from foley_desktop.separation.base import make_separator, separate_array


def _sisdri(s, x, **options):
    d, b = separate_array(make_separator("default", 1, **options), x[None])
    np.testing.assert_allclose(d + b, x[None], atol=1e-6)
    return ev.si_sdr(d[0], s) - ev.si_sdr(x, s)


def test_quiet_input_is_separated_like_loud_input(parts):
    """35 dB down (RMS -54 dBFS) DeepFilterNet3 alone breaks down (measured on this
    mixture: SI-SDRi -27.5 dB, 8.99 at full level); with the level front end 7.32 dB
    (the first half second, before the running level has settled, costs the rest)."""
    s, n = parts
    g = 10 ** (-35 / 20)
    loud = _sisdri(s, s + n)
    quiet = _sisdri(s * g, (s + n) * g)
    assert quiet > loud - 2.5 and loud > 7.0, (loud, quiet)
    assert quiet > _sisdri(s * g, (s + n) * g, input_level_db=None) + 10.0


def test_the_previous_default_is_kept_for_comparison(parts):
    s, n = parts
    x = (s + n)[None, :48000] * 0.01
    d0, _ = separate_array(make_separator("default", 1, input_level_db=None), x)
    d1, _ = separate_array(make_separator("dfn-plain", 1), x)
    np.testing.assert_array_equal(d0, d1)


def test_unchanged_at_full_level_and_the_same_for_any_block_size(parts):
    s, n = parts
    x = (s + n)[None, :96000]
    d0, _ = separate_array(make_separator("default", 1, input_level_db=None), x)
    d1, _ = separate_array(make_separator("default", 1), x, block=48000)
    d2, _ = separate_array(make_separator("default", 1), x, block=999)
    # RMS above -30 dBFS from the first hop on: the gain stays 1.
    np.testing.assert_allclose(d1, d0, atol=1e-7)
    np.testing.assert_allclose(d2, d0, atol=1e-7)
    q = x * 0.01
    d3, _ = separate_array(make_separator("default", 1), q, block=48000)
    d4, _ = separate_array(make_separator("default", 1), q, block=999)
    np.testing.assert_allclose(d3, d4, atol=1e-7)
    assert np.abs(d3).max() > 1e-4
