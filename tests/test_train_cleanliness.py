"""The evaluation's cleanliness figures on real audio: a LibriVox sentence is speech to the
shipped VAD and a drum loop is not; clipping, DC and the finishing stage are counted as such."""
from __future__ import annotations

import numpy as np

from foley_desktop.train import cleanliness


def test_speech_is_found_in_a_sentence_and_not_in_drums_and_crowd_is_apart(parts):
    speech, drums = parts
    assert cleanliness.speech_share(speech) > 0.4
    assert cleanliness.speech_share(drums) < 0.05
    r = cleanliness.report([drums, speech], [drums, speech], ["impact", "crowd"])["generated"]
    assert r["speech_share_max"] < 0.05 and r["clips_with_speech_over_10pct"] == 0
    assert r["speech_share_mean_crowd"] > 0.4
    r = cleanliness.report([speech], [speech], ["impact"])["generated"]
    assert r["clips_with_speech_over_10pct"] == 1


def test_clipping_dc_and_the_finished_take():
    rng = np.random.default_rng(0)
    a = (0.1 * rng.standard_normal(48000)).astype(np.float32) + 0.1
    a[100:130] = 1.5
    r = cleanliness.report([a], [a * 0.1], ["fire"])
    g = r["generated"]
    assert g["clipped_samples"] == 30 and g["peak_dbfs_max"] > 3.0
    assert abs(g["dc_max"] - float(np.mean(a))) < 1e-5
    assert g["finished_true_peak_dbtp_max"] <= -0.9 and g["finished_dc_max"] < 1e-3
    assert r["reference_audio"]["clipped_samples"] == 0
    assert g["loudness_lufs"]["min"] == g["loudness_lufs"]["max"]
