"""Playback through a real PortAudio output device: the app's own window, stream and callback.

No sound card here, so tests/playback_sink.py builds one: a JACK server on its dummy driver
paces the stream in real time; the default ALSA device is a `file` plugin (a raw copy of every
frame the app plays) in front of the ALSA `jack` plugin, whose ports feed a JACK client in this
process that records each sample with the time it reached the device. The app runs in a
subprocess (the ALSA environment must be set before PortAudio initializes) and plays a real
clip with a Foley take (clicks of distinct amplitudes) the way a user would: Space, J presses.

Checked: the device callback ran in real time; what the device received is, sample for sample
after the stream's lead-in silence, the mix computed here from the clip's audio and the take's
WAV (lane gains, mute, solo), forwards and reversed/decimated for J at -1x/-2x/-4x; and the
picture (the frame shown when each click is heard) is within one frame of the sound, with the
output latency set to 200 ms so that an uncompensated clock would be 6 frames off.

Timing on a shared machine: the virtual card's clock (jackd's dummy driver) runs with real-time
priority where the test may grant it, so it keeps time under load as hardware does (without it,
next to two busy processes, it played at half speed and the app's clock looked 20-150 ms ahead of
the sound: the flaky [solo_reverse] of issue #28); the app runs as a foreground program (a few
nice steps up); the played time is counted from the stream's first callback, not from the key
press, since opening the stream is not what the pace checks are about. The printed A/V line says
whether the device ran real-time. The preview's own share of [solo_reverse]'s flakiness (its
decoder at an absolute nice 5, 10 steps below the app, converting frames already late: 10-23
frames behind, 4 runs in 10 next to two busy processes) is fixed in ui/video_preview.py; the
bound here stays one frame.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import playback_sink
import pytest
import soundfile

from foley_desktop.media.timebase import SAMPLE_RATE as SR

pytestmark = pytest.mark.gui

HERE = Path(__file__).resolve().parent
SEG = (48000, 240000)  # the Foley segment: 1 s to 5 s of the clip
CLICK_AT = [12000 + 14400 * i for i in range(13)]  # in the take: 0.25 s, then every 0.3 s
CLICK_AMP = [0.2 + 0.05 * i for i in range(13)]  # tells the clicks apart when recorded
CLICK_LEN = 48
LATENCY = 0.2  # seconds asked of PortAudio (FOLEY_DESKTOP_AUDIO_LATENCY)

# name, start sample, rate, seconds, {lane: (gain dB, mute, solo)}
SCENARIOS = [
    ("mix", 57600, 1, 1.0, {"original": (-6.0, False, False), "foley": (-3.0, False, False)}),
    ("solo", 57600, 1, 2.6, {"original": (0.0, False, False), "foley": (0.0, False, True)}),
    ("mute", 144000, 1, 0.6, {"original": (0.0, False, False), "foley": (0.0, True, False)}),
    ("reverse1", 192000, -1, 0.8, {"original": (-6.0, False, False),
                                   "foley": (-3.0, False, False)}),
    ("reverse2", 216000, -2, 0.8, {"original": (-6.0, False, False),
                                   "foley": (0.0, False, False)}),
    ("reverse4", 288000, -4, 0.8, {"original": (-6.0, False, False),
                                   "foley": (0.0, False, False)}),
    ("solo_reverse", 216000, -1, 2.4, {"original": (0.0, False, False),
                                       "foley": (0.0, False, True)}),
    ("forward2", 96000, 2, 0.6, {"original": (0.0, False, False), "foley": (0.0, False, True)}),
]


def make_take(path: Path) -> np.ndarray:
    take = np.zeros(SEG[1] - SEG[0], np.float32)
    for at, amp in zip(CLICK_AT, CLICK_AMP):
        take[at:at + CLICK_LEN] = amp
    soundfile.write(path, take, SR, subtype="FLOAT")
    return take


@pytest.fixture(scope="module")
def played(tmp_path_factory, clip_hello):
    reason = playback_sink.available()
    if reason:
        pytest.skip(f"no virtual audio device: {reason}")
    try:
        import jack  # noqa: F401  (JACK-Client: records what the device plays)
    except (ImportError, OSError) as exc:
        pytest.skip(f"JACK-Client not usable: {exc}")
    tmp = tmp_path_factory.mktemp("playback-device")
    make_take(tmp / "take.wav")
    cfg = {"clip": str(clip_hello), "take": str(tmp / "take.wav"), "segment": list(SEG),
           "settings": str(tmp / "settings.ini"), "result": str(tmp / "result.json"),
           "scenarios": [{"name": n, "start": s, "rate": r, "seconds": sec,
                          "lanes": {k: list(v) for k, v in lanes.items()}}
                         for n, s, r, sec, lanes in SCENARIOS]}
    realtime = "--realtime" in playback_sink.realtime_args()
    with playback_sink.VirtualSink(tmp / "dev") as sink:
        cfg["sink"] = str(sink.raw_path)
        (tmp / "config.json").write_text(json.dumps(cfg))
        env = {**os.environ, **sink.env(), "QT_QPA_PLATFORM": "offscreen",
               "FOLEY_DESKTOP_CACHE": str(tmp / "cache"),
               "FOLEY_DESKTOP_AUDIO_LATENCY": str(LATENCY)}
        with playback_sink.CaptureClient(sink.server) as cap:
            proc = subprocess.run([sys.executable, str(HERE / "playback_sink.py"),
                                   str(tmp / "config.json")], env=env, capture_output=True,
                                  text=True, timeout=240, check=False,
                                  preexec_fn=playback_sink.foreground)
        times, captured = cap.timeline()
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp / "result.json").read_text())
    result["device_realtime"] = realtime
    return result, times, captured


def expected_mix(clip: Path, take: np.ndarray, lanes: dict) -> np.ndarray:
    """The mix of the whole clip, computed here: clip audio and take with gains, mute, solo."""
    from foley_desktop.media import read_audio

    orig = read_audio(clip).astype(np.float64)  # [2, n], sample 0 = first video frame
    if orig.shape[0] == 1:
        orig = np.repeat(orig, 2, axis=0)
    soloed = [k for k, v in lanes.items() if v[2]]

    def audible(k: str) -> bool:
        return k in soloed if soloed else not lanes[k][1]

    out = np.zeros_like(orig)
    if audible("original"):
        out += orig * 10 ** (lanes["original"][0] / 20)
    if audible("foley"):
        out[:, SEG[0]:SEG[1]] += take[None, :] * 10 ** (lanes["foley"][0] / 20)
    return np.clip(out, -1, 1)


def shuttle_output(mix: np.ndarray, start: int, rate: int, n: int) -> np.ndarray:
    """What the device should receive: n samples at `rate` from `start` (each output sample the
    mean of |rate| source samples, taken backwards for a negative rate; silence outside)."""
    speed = abs(rate)
    pad = speed * n + SR
    padded = np.concatenate([np.zeros((2, pad)), mix, np.zeros((2, pad))], axis=1)
    s = start + pad
    src = padded[:, s:s + speed * n] if rate > 0 else padded[:, s - speed * n:s][:, ::-1]
    return src.reshape(2, n, speed).mean(axis=2)


def read_sink(path: str) -> np.ndarray:
    raw = np.fromfile(path, np.float32)
    return raw.reshape(-1, 2).T


def scenario(result: dict, name: str) -> dict:
    return next(s for s in result["scenarios"] if s["name"] == name)


def test_device_is_listed_and_callback_runs_in_real_time(played):
    result, _times, _captured = played
    assert result["available"], result["reason"]
    assert result["reason"].startswith("Audio output:")
    assert "unavailable" not in result["label"].lower()
    for sc in result["scenarios"]:
        assert sc["error"] is None, (sc["name"], sc["error"])
        assert sc["underruns"] == 0, f"{sc['name']}: the device ran dry in 3 attempts (busy machine)"
        assert sc["clock_follows_audio"], f"{sc['name']}: transport not on the audio clock"
        assert abs(sc["latency"] - LATENCY) < 0.05, sc["latency"]
        out = read_sink(sc["file"])
        # Paced by the device: about the played time's worth of samples (plus the buffer), not
        # the thousands of times more a device without a clock would swallow. Played time: from
        # the stream's first callback (opening it can take long on a busy machine; what is
        # checked here is the pace once it runs) to its close.
        assert 0.6 * sc["ran"] * SR < out.shape[1] < (sc["ran"] + 2 * LATENCY + 0.3) * SR, \
            (sc["name"], out.shape[1], sc["ran"], sc["open_s"])
        assert sc["blocks"] >= 5


@pytest.mark.parametrize("name", [s[0] for s in SCENARIOS])
def test_device_received_the_exact_mix(played, clip_hello, tmp_path, name):
    result, _times, _captured = played
    sc = scenario(result, name)
    _n, start, rate, _sec, lanes = next(s for s in SCENARIOS if s[0] == name)
    assert sc["rate"] == rate
    take = soundfile.read(Path(sc["file"]).parent.parent / "take.wav", dtype="float32")[0]
    out = read_sink(sc["file"]).astype(np.float64)
    exp = shuttle_output(expected_mix(clip_hello, take, lanes), start, rate, out.shape[1])
    # The stream opens with the silence PortAudio primes its buffer with (the latency), then
    # every sample of the mix in order.
    lead = int(np.flatnonzero(np.abs(out).max(axis=0) > 0)[0]) \
        - int(np.flatnonzero(np.abs(exp).max(axis=0) > 0)[0])
    assert 0 <= lead <= (sc["latency"] + 0.05) * SR, lead
    assert not out[:, :lead].any()
    n = out.shape[1] - lead
    assert n > 0.5 * sc["ran"] * SR, (n, sc["ran"], sc["open_s"])
    err = np.abs(out[:, lead:] - exp[:, :n])
    assert err.max() < 2e-5, (name, float(err.max()), int(err.max(axis=0).argmax()))
    assert np.abs(exp[:, :n]).max() > 0.01  # a real signal was compared, not silence


def click_onsets(times: np.ndarray, audio: np.ndarray, t0: float, t1: float):
    """(time heard, clip sample) of each click the device played between t0 and t1."""
    sel = (times >= t0) & (times <= t1)
    x, t = audio[0, sel], times[sel]
    loud = np.abs(x) > 0.1
    starts = np.flatnonzero(loud & ~np.concatenate([[False], loud[:-1]]))
    found = []
    for s in starts:
        amp = float(np.median(x[s:s + CLICK_LEN]))
        i = int(np.argmin([abs(amp - a) for a in CLICK_AMP]))
        if abs(amp - CLICK_AMP[i]) < 0.01:
            found.append((float(t[s]), SEG[0] + CLICK_AT[i]))
    return found


@pytest.mark.parametrize("name", ["solo", "solo_reverse"])
def test_picture_follows_the_sound_within_one_frame(played, name):
    """Playing (Space) and playing backwards (J): when each click reaches the device, the
    transport's clock and the frame on screen are those of the click."""
    result, times, captured = played
    from fractions import Fraction

    fps = Fraction(*result["fps"])
    sc = scenario(result, name)
    clicks = click_onsets(times, captured, sc["started"], sc["started"] + sc["elapsed"])
    assert len(clicks) >= 5, clicks
    frames = np.array(sc["frames"])  # (time, frame shown)
    pos = np.array(sc["positions"])  # (time, transport position: what the picture follows)
    offsets_ms, frame_offsets = [], []
    direction = 1 if sc["rate"] > 0 else -1
    for heard, sample in clicks:
        # The transport's clock at the moment the click was heard, as time along the play
        # direction (positive: the picture is ahead of the sound)...
        clock = float(np.interp(heard, pos[:, 0], pos[:, 1]))
        offsets_ms.append(direction * (clock - sample) / SR * 1000)
        # ...and the frame on screen then.
        shown = frames[frames[:, 0] <= heard]
        frame_offsets.append(direction * (int(shown[-1, 1]) - int(sample * fps / SR)))
    print(f"A/V {name}: clock - sound = {np.round(offsets_ms, 1)} ms; frame shown - frame "
          f"heard = {frame_offsets} (latency {sc['latency']:.3f} s, device real-time: "
          f"{result['device_realtime']})")
    one_frame_ms = 1000 / float(fps)
    # The clock's offset is measured to a few ms (JACK cycles of 5.3 ms, a shared machine):
    # its median must be well inside one frame, so a clock that ignored the 200 ms latency
    # (6 frames) fails. Every click: the frame on screen is the click's frame or a neighbour.
    assert abs(float(np.median(offsets_ms))) < one_frame_ms / 2, offsets_ms
    assert max(abs(o) for o in offsets_ms) < 2 * one_frame_ms, offsets_ms
    assert max(abs(f) for f in frame_offsets) <= 1, frame_offsets
