"""mux_audio: picture stream-copied untouched, the WAV added in sync, written atomically."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from media_factory import cfr_pts, write_video

from foley_desktop.errors import MediaError
from foley_desktop.media import mux_audio, probe, read_audio, video_length, write_wav


def _video_packets(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(Fraction(p.pts) * s.time_base, bytes(p)) for p in c.demux(s) if p.size]


def _clicks(n: int, channels: int = 2) -> np.ndarray:
    x = np.zeros((channels, n), np.float32)
    for k in range(4800, n - 100, 9600):
        x[:, k:k + 3] = 0.5
    return x


@pytest.mark.parametrize("suffix,codec", [(".mov", "pcm_s24le"), (".mp4", "aac"), (".mkv", "pcm_s24le")])
def test_adds_track_in_sync_without_touching_picture(tmp_path, clip_hello, suffix, codec):
    info = probe(clip_hello)
    n = video_length(info)
    wav = tmp_path / "foley.wav"
    x = _clicks(n)
    write_wav(wav, x)
    out = mux_audio(clip_hello, wav, tmp_path / f"with foley{suffix}")
    o = probe(out)
    assert [a.codec for a in o.audio_streams] == ["aac", codec]
    # The picture: same packets, same presentation times (Matroska stores whole milliseconds).
    src, dst = _video_packets(clip_hello), _video_packets(out)
    assert [b for _, b in src] == [b for _, b in dst]
    tol = Fraction(1, 1000) if suffix == ".mkv" else 0
    assert all(abs(a - b) <= tol for (a, _), (b, _) in zip(src, dst))
    # The new track, read relative to the first frame, is the WAV to the sample.
    y = read_audio(out, 0, n, stream_index=o.audio_streams[1].stream_index)
    if codec.startswith("pcm"):
        np.testing.assert_array_equal(y, np.round(x * 8388608) / 8388608)
    else:
        # AAC is lossy: each click's peak within a sample, and no lag overall.
        peaks = [k + int(np.argmax(y[0, k - 50:k + 50])) - 50 for k in range(4800, n - 100, 9600)]
        assert all(abs(p - k) <= 1 for p, k in zip(peaks, range(4800, n - 100, 9600)))
        lag = int(np.argmax(np.correlate(y[0, :20000], x[0, :20000], "full"))) - 19999
        assert lag == 0
        assert np.abs(y - x).max() < 0.05
    # The original sound is still there and unchanged.
    np.testing.assert_array_equal(read_audio(out, 0, 48000), read_audio(clip_hello, 0, 48000))


def test_replace_keeps_rotation_and_timecode(tmp_path):
    tb = Fraction(1, 30000)
    clip = write_video(tmp_path / "cam.mov", cfr_pts(30, Fraction(30000, 1001), tb), tb,
                       rotation_ccw=270, timecode="10:00:00;00", fps_hint=Fraction(30000, 1001),
                       audio={"rate": 48000, "seconds": 1.0, "clicks": [100]})
    rng = np.random.default_rng(3)
    mono = (rng.uniform(-0.5, 0.5, 48048)).astype(np.float32)
    wav = tmp_path / "take.wav"
    write_wav(wav, mono, subtype="FLOAT")
    out = mux_audio(clip, wav, tmp_path / "out.mov", replace=True)
    o, i = probe(out), probe(clip)
    assert len(o.audio_streams) == 1 and o.audio.channels == 1 and o.audio.codec == "pcm_s24le"
    assert o.video.rotation == i.video.rotation == 90
    assert o.timecode == "10:00:00;00"
    assert o.video.frame_count == 30 and o.video.fps == Fraction(30000, 1001)
    y = read_audio(out)
    assert y.shape == (1, 48048)
    np.testing.assert_allclose(y[0], mono, atol=2 / 8388608)


def test_failure_leaves_nothing(tmp_path, clip_tank):
    bad_wav = tmp_path / "not.wav"
    bad_wav.write_text("nope")
    target = tmp_path / "out.mp4"
    with pytest.raises(MediaError):
        mux_audio(clip_tank, bad_wav, target)
    assert list(tmp_path.iterdir()) == [bad_wav]


def _ffmpeg_f32(path) -> np.ndarray:
    """Samples as FFmpeg's WAV reader (independent of ours) decodes them, [channels, n]."""
    import json
    import subprocess

    meta = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                                     capture_output=True, check=True, text=True).stdout)["streams"][0]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<f4").reshape(-1, meta["channels"]).T, meta


def test_write_wav_read_back_independently(tmp_path):
    import wave

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 4801)).astype(np.float32)
    x[0, :3] = [1.0, -1.0, 0.0]  # full scale clips to the 24-bit range
    write_wav(tmp_path / "a.wav", x)
    with wave.open(str(tmp_path / "a.wav")) as w:  # the standard library's reader
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()) == (48000, 3, 2, 4801)
        raw = np.frombuffer(w.readframes(4801), np.uint8).reshape(-1, 3)
    ints = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8
            | raw[:, 2].astype(np.int8).astype(np.int32) << 16)
    assert np.abs(ints.reshape(-1, 2).T / 8388608 - x).max() <= 1 / 8388608
    assert ints.max() == 8388607 and ints.min() == -8388608

    write_wav(tmp_path / "f.wav", x[:, :100], sr=44100, subtype="FLOAT")
    y, meta = _ffmpeg_f32(tmp_path / "f.wav")
    assert (meta["codec_name"], meta["sample_rate"]) == ("pcm_f32le", "44100")
    np.testing.assert_array_equal(y, x[:, :100])
    six = rng.uniform(-0.5, 0.5, (6, 10)).astype(np.float32)
    write_wav(tmp_path / "s.wav", six)
    y, meta = _ffmpeg_f32(tmp_path / "s.wav")
    assert meta["channels"] == 6 and meta["channel_layout"] == "5.1"
    assert np.abs(y - six).max() <= 1 / 8388608
    with pytest.raises(ValueError):
        write_wav(tmp_path / "n.wav", np.array([np.nan], np.float32))
    assert not (tmp_path / "n.wav").exists()
