"""The separation job and CLI on real files: formats, lengths, bad input, cancel, regions."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest
import wavinfo

from foley_desktop.errors import Cancelled, MediaError, NoStreamError
from foley_desktop.jobs import CancelToken
from foley_desktop.media import audio_length, probe, read_audio, write_wav
from foley_desktop.separation import rnnoise, separate, speech_regions
from foley_desktop.separation.regions import regions_from_probs

try:
    rnnoise.RNNoise()
    _RN = None
except Exception as exc:  # noqa: BLE001
    _RN = str(exc)
needs_rnnoise = pytest.mark.skipif(_RN is not None, reason=f"RNNoise unavailable: {_RN}")

SPEECH = "usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"
MUSIC = "usr/share/sonic-pi/samples/loop_safari.flac"


def _read_wav(path):
    """Independent reader: walks the RIFF chunks itself and checks the header with wavinfo."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    assert struct.unpack("<I", raw[4:8])[0] == len(raw) - 8
    pos, chunks = 12, {}
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        chunks[cid] = raw[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    tag, ch, sr = struct.unpack("<HHI", chunks[b"fmt "][:8])
    bits = struct.unpack("<H", chunks[b"fmt "][14:16])[0]
    assert bits == 32 and tag in (3, 0xFFFE)
    info = wavinfo.WavInfoReader(str(path))
    assert info.fmt.sample_rate == sr and info.fmt.channel_count == ch
    data = np.frombuffer(chunks[b"data"], "<f4")
    return sr, data.reshape(-1, ch).T


@pytest.fixture(scope="module")
def speech_music(media_root):
    s = read_audio(media_root / SPEECH, mono=True)[0]
    s = np.concatenate([np.zeros(24000, np.float32), s, np.zeros(24000, np.float32)])
    m = np.resize(read_audio(media_root / MUSIC, mono=True)[0], len(s)) * 0.5
    return s, m.astype(np.float32)


def _wave_module_can_read_extensible():
    return sys.version_info >= (3, 12)


@needs_rnnoise
@pytest.mark.parametrize("sr", [8000, 44100, 96000])
def test_stems_are_48k_input_length_and_add_up(tmp_path, speech_music, sr):
    s, m = speech_music
    stereo = np.stack([s + m, 0.5 * s + m])
    src = tmp_path / f"in{sr}.wav"
    import soxr
    write_wav(src, soxr.resample(stereo.T, 48000, sr).T.astype(np.float32), sr=sr)
    res = separate(src, tmp_path / "out")
    total = audio_length(probe(src))
    assert res.samples == total
    sr_d, d = _read_wav(res.dialogue_path)
    sr_b, b = _read_wav(res.background_path)
    assert sr_d == sr_b == 48000
    assert d.shape == b.shape == (2, total)
    x = read_audio(src)
    assert np.abs(d + b - x).max() < 1e-6
    assert res.speech_regions, "speech was not found"
    assert (tmp_path / "out/speech_regions.json").is_file()


@needs_rnnoise
def test_surround_uses_the_centre_channel(tmp_path, speech_music):
    s, m = speech_music
    x = np.zeros((6, len(s)), np.float32)  # L R C LFE Ls Rs
    x[0], x[1], x[2], x[4], x[5] = m, m, s, m * 0.5, m * 0.5
    src = tmp_path / "surround.wav"
    write_wav(src, x)
    res = separate(src, tmp_path / "out")
    d = read_audio(res.dialogue_path)
    b = read_audio(res.background_path)
    assert d.shape == (6, len(s))
    e = (d.astype(np.float64) ** 2).sum(axis=1)
    # Music-only channels barely enter the dialogue stem; the centre's speech does.
    assert e[2] > 0.3 * np.dot(s, s)
    assert e[0] == 0.0 and e[4] == 0.0
    assert np.abs(d + b - read_audio(src)).max() < 1e-6


@needs_rnnoise
def test_clipped_input(tmp_path, speech_music):
    s, m = speech_music
    x = np.clip((s + m) * 8, -1, 1).astype(np.float32)
    src = tmp_path / "clipped.wav"
    write_wav(src, x, subtype="FLOAT")
    res = separate(src, tmp_path / "out")
    d, b = read_audio(res.dialogue_path), read_audio(res.background_path)
    # A stem may peak past full scale (the mask works on spectra); float WAV keeps it intact.
    assert np.isfinite(d).all() and np.isfinite(b).all() and np.abs(d).max() < 2.0
    assert np.abs(d + b - read_audio(src)).max() < 1e-6


@needs_rnnoise
def test_silence_has_no_speech(tmp_path):
    src = tmp_path / "silence.wav"
    write_wav(src, np.zeros((1, 48000 * 2), np.float32))
    res = separate(src, tmp_path / "out")
    assert res.speech_regions == []
    assert np.abs(read_audio(res.dialogue_path)).max() == 0.0


@needs_rnnoise
def test_video_clip_end_to_end(tmp_path, clip_hello):
    res = separate(clip_hello, tmp_path / "hello")
    total = audio_length(probe(clip_hello))
    sr, d = _read_wav(res.dialogue_path)
    assert sr == 48000 and d.shape == (2, total)
    # The spoken word opens the clip; the typing that follows is background.
    first = res.speech_regions[0]
    assert first[0] < 48000 * 2


def test_video_without_audio_is_a_clear_error(tmp_path):
    src = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10",
                    "-t", "1", "-an", "-c:v", "mpeg4", str(src)], check=True)
    with pytest.raises(NoStreamError, match="no audio"):
        separate(src, tmp_path / "out")
    with pytest.raises(NoStreamError):
        speech_regions(src)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_not_media_is_a_clear_error(tmp_path):
    src = tmp_path / "notes.wav"
    src.write_text("not audio")
    with pytest.raises(MediaError):
        separate(src, tmp_path / "out")


@needs_rnnoise
def test_cancel_leaves_nothing(tmp_path, speech_music):
    s, m = speech_music
    src = tmp_path / "in.wav"
    write_wav(src, s + m)
    token = CancelToken()
    seen = []

    def progress(p):
        seen.append(p.done)
        if len(seen) == 2:
            token.cancel()

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        separate(src, out, progress=progress, cancel=token, block=24000)
    assert list(out.iterdir()) == []


@needs_rnnoise
def test_progress_reaches_the_end(tmp_path, speech_music):
    s, m = speech_music
    src = tmp_path / "in.wav"
    write_wav(src, s + m)
    seen = []
    separate(src, tmp_path / "out", progress=seen.append, backend="rnnoise")
    dones = [p.done for p in seen]
    assert dones == sorted(dones) and seen[-1].fraction == 1.0


def test_regions_hysteresis_and_limits():
    chunk = 1536
    p = np.zeros(200, np.float32)
    p[10:40] = 0.9  # ~1 s of speech
    p[25] = 0.4  # a dip above OFF: no split
    p[42:44] = 0.8  # 2 chunks after a short gap: merged
    p[100:103] = 0.9  # 96 ms blip: dropped
    regions = regions_from_probs(p, total=200 * chunk)
    assert len(regions) == 1
    s, e = regions[0]
    assert abs(s - 10 * chunk) < 4000 and abs(e - 44 * chunk) < 4000
    assert regions_from_probs(np.zeros(50), 50 * chunk) == []


def test_speech_regions_find_the_sentence(tmp_path, speech_music):
    s, _ = speech_music
    src = tmp_path / "speech.wav"
    write_wav(src, s)
    regions = speech_regions(src)
    assert regions
    start, end = regions[0][0], regions[-1][1]
    assert 24000 - 9600 <= start <= 24000 + 24000
    assert len(s) - 24000 - 24000 <= end <= len(s)


@needs_rnnoise
def test_cli(tmp_path, clip_tank):
    out = tmp_path / "stems"
    r = subprocess.run([sys.executable, "-m", "foley_desktop.cli", "separate", str(clip_tank),
                        "-o", str(out), "--quiet"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert (out / "dialogue.wav").is_file() and (out / "background.wav").is_file()
    assert "dialogue:" in r.stdout
    r = subprocess.run([sys.executable, "-m", "foley_desktop.cli", "separate",
                        str(tmp_path / "missing.mp4"), "-o", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@needs_rnnoise
@pytest.mark.parametrize("backend", ["default", "rnnoise"])
def test_input_shorter_than_the_latency(tmp_path, backend):
    src = tmp_path / "tiny.wav"
    x = (np.random.default_rng(3).standard_normal((2, 100)) * 0.1).astype(np.float32)
    write_wav(src, x, subtype="FLOAT")
    res = separate(src, tmp_path / "out", backend=backend)
    d, b = read_audio(res.dialogue_path), read_audio(res.background_path)
    assert d.shape == b.shape == (2, 100)
    assert np.abs(d + b - x).max() < 1e-6
