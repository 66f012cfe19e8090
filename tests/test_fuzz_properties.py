"""Property tests (Hypothesis) for what tests/test_timebase.py and test_export_bwf.py leave out.

Timeline arithmetic at every rate an editor meets: samples -> timecode -> samples lands on the
start of the frame holding the sample, and timecode order is time order (29.97 and 59.94 both
drop-frame and not). The BWF writer against two independent readers (soundfile for samples,
wavinfo for the chunks) on arbitrary audio, channel counts and metadata text.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import soundfile as sf
import wavinfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foley_desktop.export.bwf import Bext, IXml, write_bwf
from foley_desktop.media.timebase import (
    frame_to_samples,
    parse_time,
    samples_to_frame,
    samples_to_timecode,
    timecode_to_samples,
)

RATES = [(Fraction(24000, 1001), False), (Fraction(24), False), (Fraction(25), False),
         (Fraction(30000, 1001), True), (Fraction(30000, 1001), False), (Fraction(30), False),
         (Fraction(50), False), (Fraction(60000, 1001), True), (Fraction(60000, 1001), False)]
DAY = 48000 * 3600 * 24


@settings(max_examples=300, deadline=None)
@given(samples=st.integers(0, DAY - 48000), rate=st.sampled_from(RATES))
def test_samples_timecode_samples_is_the_frame_start(samples, rate):
    fps, drop = rate
    tc = samples_to_timecode(samples, fps, drop_frame=drop)
    assert (";" in tc) == drop
    back = timecode_to_samples(tc, fps)
    assert back == frame_to_samples(samples_to_frame(samples, fps), fps)
    assert back <= samples < back + 48000 / fps + 1
    # The parser the CLI uses for --start / --end reads a timecode the same way.
    assert parse_time(tc, fps) == back


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, DAY - 48000), b=st.integers(0, DAY - 48000), rate=st.sampled_from(RATES))
def test_timecode_order_is_time_order(a, b, rate):
    fps, drop = rate
    ta, tb = (timecode_to_samples(samples_to_timecode(x, fps, drop_frame=drop), fps) for x in (a, b))
    if a <= b:
        assert ta <= tb
    else:
        assert ta >= tb


# Control characters cannot appear in XML 1.0 at all; everything else must survive.
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels=st.integers(1, 3), n=st.integers(0, 3000), subtype=st.sampled_from(["PCM_24", "FLOAT"]),
       seed=st.integers(0, 2**32 - 1), tref=st.integers(0, DAY), desc=text, note=text,
       scale=st.sampled_from([0.0, 1e-6, 0.5, 1.0, 4.0]))
def test_bwf_writer_against_soundfile_and_wavinfo(tmp_path, channels, n, subtype, seed, tref, desc,
                                                  note, scale):
    a = (np.random.default_rng(seed).uniform(-1, 1, (channels, n)) * scale).astype(np.float32)
    f = write_bwf(tmp_path / "p.wav", a, subtype=subtype, bext=Bext(description=desc, time_reference=tref),
                  ixml=IXml(project="p", note=note, time_reference=tref))
    data, sr = sf.read(str(f), always_2d=True, dtype="float64")
    assert sr == 48000 and data.shape == (n, channels)
    if subtype == "FLOAT":
        assert np.array_equal(data.T.astype(np.float32), a)
    elif n:  # clipped to full scale, then within half a 24-bit step
        assert np.abs(data.T - np.clip(a, -1, 1 - 1 / 8388608)).max() <= 0.5 / 8388608 + 1e-9
    if n == 0:
        return  # wavinfo cannot read an empty data chunk (libsndfile's own files neither)
    info = wavinfo.WavInfoReader(str(f))
    assert info.fmt.channel_count == channels and info.data.frame_count == n
    assert info.bext.time_reference == tref
    # bext text is ASCII in a 256-byte field (others become "?").
    assert info.bext.description == desc.encode("ascii", "replace").decode()[:256]
    assert (info.ixml.raw_xml.find("./NOTE").text or "") == note
