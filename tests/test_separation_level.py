"""`dfn-level`: the default backend with DeepFilterNet3 fed a level-normalised input (quiet
clips are turned up to a running RMS of -30 dBFS before DeepFilterNet3, its estimate turned
back down; never turned down)."""

from __future__ import annotations

import numpy as np

from foley_desktop.separation import evaluate as ev
from foley_desktop.separation.base import backends, make_separator, separate_array


def _sisdri(backend, s, x):
    d, b = separate_array(make_separator(backend, 1), x[None])
    np.testing.assert_allclose(d + b, x[None], atol=1e-6)
    return ev.si_sdr(d[0], s) - ev.si_sdr(x, s)


def test_mask_exponent_option(parts):
    x = (parts[0] + parts[1])[None, :96000]
    d1, _ = separate_array(make_separator("default", 1), x)
    d2, _ = separate_array(make_separator("default", 1, mask_exponent=1.0), x)
    d3, _ = separate_array(make_separator("default", 1, mask_exponent=0.8), x)
    np.testing.assert_array_equal(d1, d2)
    assert np.sum(d3 ** 2) > np.sum(d1 ** 2)  # |M| <= 1 mostly: a softer mask keeps more


def test_registered_with_the_default_latency():
    assert "dfn-level" in backends()
    assert make_separator("dfn-level", 2).latency == make_separator("default", 2).latency


def test_quiet_input_is_separated_like_loud_input(parts):
    """35 dB down (RMS -54 dBFS) DeepFilterNet3 alone breaks down (measured on this
    mixture: default SI-SDRi -27.5 dB, 8.99 at full level); with the level front end 7.32 dB
    (the first half second, before the running level has settled, costs the rest)."""
    s, n = parts
    g = 10 ** (-35 / 20)
    loud = _sisdri("dfn-level", s, s + n)
    quiet = _sisdri("dfn-level", s * g, (s + n) * g)
    assert quiet > loud - 2.5 and loud > 7.0, (loud, quiet)
    assert quiet > _sisdri("default", s * g, (s + n) * g) + 10.0


def test_same_as_default_at_full_level_and_any_block_size(parts):
    s, n = parts
    x = (s + n)[None, :96000]
    d0, _ = separate_array(make_separator("default", 1), x)
    d1, _ = separate_array(make_separator("dfn-level", 1), x, block=48000)
    d2, _ = separate_array(make_separator("dfn-level", 1), x, block=999)
    # RMS above -30 dBFS from the first hop on: the gain stays 1, the default's output.
    np.testing.assert_allclose(d1, d0, atol=1e-7)
    np.testing.assert_allclose(d2, d0, atol=1e-7)
    q = x * 0.01
    d3, _ = separate_array(make_separator("dfn-level", 1), q, block=48000)
    d4, _ = separate_array(make_separator("dfn-level", 1), q, block=999)
    np.testing.assert_allclose(d3, d4, atol=1e-7)
    assert np.abs(d3).max() > 1e-4
