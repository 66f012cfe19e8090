"""spotting/onsets: the onset detector and matcher on real recordings placed at known times."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from foley_desktop.spotting import onsets

IMPACT = "usr/share/sonic-pi/samples/perc_impact1.flac"      # CC0 recorded impact
STEPS = "usr/share/scratch/Media/Sounds/Human/Footsteps-1.wav"  # CC-BY-SA recorded steps


def _read_48k(path) -> np.ndarray:
    if not path.exists():
        pytest.skip(f"{path.name} not fetched (scripts/fetch_test_media.sh)")
    a, sr = sf.read(str(path), dtype="float32", always_2d=True)
    a = a.mean(axis=1)
    if sr != onsets.SR:
        a = np.interp(np.arange(int(len(a) * onsets.SR / sr)) * (sr / onsets.SR),
                      np.arange(len(a)), a).astype(np.float32)
    return a


def _place(sound: np.ndarray, times_s, length_s: float, noise_db: float = -60.0) -> np.ndarray:
    """The recording added at each time over a quiet noise floor (so silence is not digital)."""
    rng = np.random.default_rng(3)
    out = rng.normal(0, 10 ** (noise_db / 20), int(length_s * onsets.SR)).astype(np.float32)
    for t in times_s:
        i = round(t * onsets.SR)
        n = min(len(sound), len(out) - i)
        out[i:i + n] += sound[:n]
    return out


def test_log_bands_are_the_codec_analysis(media_root):
    # Identical numbers to foley-tiny's codec, so moving the detector changed no figure.
    codec = pytest.importorskip("foley_desktop.train.codec")
    a = _read_48k(media_root / STEPS)[: 3 * onsets.SR]
    assert np.array_equal(onsets.log_bands(a), codec.encode(a))


def test_detects_a_real_impact_at_known_times(media_root):
    hit = _read_48k(media_root / IMPACT)[: int(0.4 * onsets.SR)]
    times = [0.5, 1.13, 1.9, 2.42, 3.3]
    est = onsets.detect_onsets(_place(hit, times, 4.0))
    assert len(est) == len(times)
    assert np.max(np.abs(est - np.array(times))) < 0.015


def test_resamples_and_downmixes_input(media_root):
    hit = _read_48k(media_root / IMPACT)[: int(0.4 * onsets.SR)]
    times = [0.4, 1.5, 2.6]
    a48 = _place(hit, times, 3.2)
    stereo_16k = np.stack([a48[::3], a48[::3]], axis=1)          # (samples, channels)
    est = onsets.detect_onsets(stereo_16k, sr=16000)
    assert onsets.match(times, est, 0.03)[0] == 3


def test_footsteps_recording_steps_are_regular(media_root):
    # A person walking: steps ~0.4-0.8 s apart; the detector must not fire between them.
    est = onsets.detect_onsets(_read_48k(media_root / STEPS))
    gaps = np.diff(est)
    assert len(est) >= 5
    assert np.median(gaps) > 0.3 and gaps.min() >= 0.2


def test_match_is_one_to_one_and_greedy():
    ref = [1.0, 1.05, 2.0]
    est = [1.02, 3.0]
    # Only one of the two close references can take the single estimate near them.
    assert onsets.match(ref, est, 0.1) == (1, 3, 2)
    assert onsets.match(ref, est, 0.01) == (0, 3, 2)
    assert onsets.match([], est, 0.1) == (0, 0, 2)
    assert onsets.match(ref, [], 0.1) == (0, 3, 0)
    assert onsets.onset_f1(ref, est, 0.1) == pytest.approx(2 * 1 / 5)
    assert onsets.onset_f1([], [], 0.1) == 1.0
    assert onsets.onset_f1([], [1.0], 0.1) == 0.0


def test_sync_score_against_markers(media_root):
    hit = _read_48k(media_root / IMPACT)[: int(0.4 * onsets.SR)]
    times = [0.6, 1.4, 2.5]
    take = _place(hit, times, 3.5)
    on = onsets.sync_score(take, times)
    assert on["f1_40ms"] == 1.0 and on["f1_100ms"] == 1.0 and on["n_onsets"] == 3
    late = onsets.sync_score(take, [t + 0.07 for t in times])   # 70 ms late markers
    assert late["f1_40ms"] == 0.0 and late["f1_100ms"] == 1.0
    off = onsets.sync_score(take, [0.2, 1.0, 2.0, 3.0])
    assert off["f1_100ms"] == 0.0 and off["recall"] == 0.0 and off["precision"] == 0.0
