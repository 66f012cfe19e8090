"""Audio decoding: exact lengths, sample-accurate placement, seeking, resampling."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest
from media_factory import cfr_pts, click_signal, write_audio, write_video

from foley_desktop.errors import MediaError, NoStreamError
from foley_desktop.media.decode import audio_length, iter_audio, read_audio
from foley_desktop.media.probe import probe


def first_click(a: np.ndarray, after: int = 0) -> int:
    hits = np.nonzero(np.abs(a[0, after:]) > 0.3)[0]
    return int(hits[0]) + after if len(hits) else -1


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("codec,ext", [("aac", "m4a"), ("pcm_s16le", "wav"), ("aac", "mp4"),
                                       ("pcm_s24le", "mov"), ("flac", "flac")])
def test_exact_length_and_click_positions(tmp_path, rate, codec, ext):
    """A 3-second stream gives 3 * 48000 samples, with events where they were written."""
    path = write_audio(tmp_path / f"a.{ext}", rate, 3.0, codec, clicks=[rate // 2, rate * 2])
    a = read_audio(path)
    assert a.dtype == np.float32 and a.shape == (2, 144000)
    # Encoder priming trimmed and timing kept: clicks at 0.5 s and 2.0 s, to the sample.
    assert first_click(a) == 24000
    assert first_click(a, 30000) == 96000
    assert np.all(np.isfinite(a))


def test_pcm_48k_is_bit_exact(tmp_path):
    rng = np.random.default_rng(1)
    sig = (rng.uniform(-0.9, 0.9, (2, 48000 * 2)) * 32767).round() / 32768
    path = write_audio(tmp_path / "n.wav", 48000, 2.0, "pcm_s16le", signal=sig.astype(np.float32))
    a = read_audio(path)
    assert np.array_equal(a, sig.astype(np.float32))
    # read back by an independent reader too
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    assert np.array_equal(np.frombuffer(raw, "<f4").reshape(-1, 2).T, a)


def test_audio_that_starts_after_the_picture(tmp_path):
    """Sample 0 is the first video frame: audio starting 0.5 s later is preceded by silence."""
    clip = write_video(tmp_path / "late audio.mov", cfr_pts(50, Fraction(25), Fraction(1, 12800)),
                       Fraction(1, 12800), fps_hint=Fraction(25),
                       audio={"rate": 48000, "seconds": 1.0, "codec": "pcm_s16le", "start_pts": 24000,
                                  "clicks": [0, 12000]})
    info = probe(clip)
    assert info.audio.start_time == Fraction(1, 2) and info.video.start_time == 0
    a = read_audio(clip)
    assert a.shape[1] == audio_length(info) == 72000  # 0.5 s of lead-in + 1 s of audio
    assert not a[:, :24000].any()
    assert first_click(a) == 24000 and first_click(a, 24010) == 36000


def test_aac_in_mp4_starting_late_follows_the_container(tmp_path):
    """FFmpeg's MP4 muxer writes a late AAC track as an empty edit rounded to the movie's 1 ms
    timescale, followed by the encoder's 1024 priming samples (not skipped in that case). We
    place audio where the container says (ffprobe reads the same start): within 1 ms of 0.5 s.
    (mux_audio avoids this by starting its track at zero with leading silence.)"""
    clip = write_video(tmp_path / "late.mp4", cfr_pts(50, Fraction(25), Fraction(1, 12800)),
                       Fraction(1, 12800), fps_hint=Fraction(25),
                       audio={"rate": 44100, "seconds": 1.0, "start_pts": 22050, "clicks": [0]})
    a = read_audio(clip)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                          "stream=start_time", "-of", "csv=p=0", str(clip)],
                         capture_output=True, text=True, check=True).stdout
    start = float(out.strip())
    # Within 1 ms of the intended 0.5 s, and where the file says.
    assert abs(first_click(a) - 24000) <= 48
    assert abs(first_click(a) - (start * 48000 + 1024 / 44100 * 48000)) <= 2


def test_audio_shorter_than_video_is_zero_padded_on_request(tmp_path):
    clip = write_video(tmp_path / "short.mov", cfr_pts(50, Fraction(25), Fraction(1, 12800)),
                       Fraction(1, 12800), fps_hint=Fraction(25),
                       audio={"rate": 48000, "seconds": 0.5, "codec": "pcm_s16le", "clicks": [100]})
    assert read_audio(clip).shape == (2, 24000)
    a = read_audio(clip, 0, 96000)  # the whole 2 s picture
    assert a.shape == (2, 96000) and not a[:, 24000:].any() and first_click(a) == 100


def test_seek_equals_reading_from_the_start(tmp_path):
    for rate in (44100, 48000):
        path = write_audio(tmp_path / f"s{rate}.m4a", rate, 6.0, "aac",
                           clicks=[int(rate * 4.25)])
        full = read_audio(path)
        part = read_audio(path, 200_000, 210_000)
        assert part.shape == (2, 10_000)
        np.testing.assert_allclose(part, full[:, 200_000:210_000], atol=1e-5)
        assert first_click(part) == 204_000 - 200_000


def test_iter_audio_blocks_mono_and_sr(clip_hello):
    info = probe(clip_hello)
    n = audio_length(info)
    # audio 0.042..8.362 s, picture from 0.033008 s: 8.328992 s of audio after the first frame
    assert n == round((Fraction(21, 500) + Fraction(208, 25) - Fraction(169, 5120)) * 48000)
    blocks = list(iter_audio(clip_hello, 48000, mono=True))
    assert all(b.shape == (1, 48000) for b in blocks[:-1])
    assert sum(b.shape[1] for b in blocks) == n
    full = read_audio(clip_hello)
    np.testing.assert_allclose(np.concatenate(blocks, axis=1)[0], full.mean(axis=0), atol=1e-6)
    # The audio starts 0.009 s after the first frame: silence before, sound after.
    lead = round((Fraction(21, 500) - Fraction(169, 5120)) * 48000)
    assert not full[:, :lead].any() and full[:, lead:lead + 2000].any()
    at_44k = read_audio(clip_hello, sr=44100)
    assert at_44k.shape[1] == round(Fraction(n, 48000) * 44100)


def test_real_clip_lengths(clip_phone, clip_tank):
    assert read_audio(clip_phone).shape == (2, 76799)  # header says 76799, decoder gives 76800
    tank = read_audio(clip_tank)
    assert tank.shape == (1, 267264)  # 5.568 s: the first AAC frame (priming) is silence
    assert not tank[:, :1024].any() and tank[:, 1024:4096].any()


def test_no_audio_and_bad_ranges(tmp_path):
    clip = write_video(tmp_path / "silent.mp4", cfr_pts(5, Fraction(25), Fraction(1, 12800)),
                       Fraction(1, 12800), fps_hint=Fraction(25))
    with pytest.raises(NoStreamError, match="no audio"):
        read_audio(clip)
    wav = write_audio(tmp_path / "a.wav", 48000, 0.1, "pcm_s16le")
    with pytest.raises(MediaError, match="bad audio range"):
        read_audio(wav, 100, 50)
    with pytest.raises(NoStreamError):
        read_audio(wav, stream_index=5)
    assert read_audio(wav, 10, 10).shape == (2, 0)
    assert click_signal(48000, 10, []).shape == (2, 10)


def test_cancel_stops_a_read(clip_hello):
    from foley_desktop.errors import Cancelled
    from foley_desktop.jobs import CancelToken

    token = CancelToken()
    blocks = iter_audio(clip_hello, 4800, cancel=token)
    assert next(blocks).shape == (2, 4800)
    token.cancel()
    with pytest.raises(Cancelled):
        list(blocks)
