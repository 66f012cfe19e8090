"""Export of a real clip's project: sample-exact stems, per-take files, metadata, headroom,
and nothing lost when an export fails."""

from __future__ import annotations

import errno
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import wavinfo
from media_factory import cfr_pts, write_video

from foley_desktop.errors import Cancelled, ExportError
from foley_desktop.export import export as export_mod
from foley_desktop.export.export import export_project
from foley_desktop.jobs import CancelToken
from foley_desktop.media.decode import read_audio
from foley_desktop.media.probe import probe
from foley_desktop.media.wav import write_wav
from foley_desktop.project.io import new_project, save
from foley_desktop.project.model import Project, Segment, Take

# Segment starts chosen off any frame or block boundary.
SEGMENTS = [(48007, 96000, "door slam"), (60001, 150001, "footsteps on gravel"),
            (300000, None, "keyboard typing")]
CLICK = 0.5


def take_audio(n: int, seed: int, level: float = 0.02) -> np.ndarray:
    a = np.random.default_rng(seed).normal(0, level, n).astype(np.float32)
    a[0] = CLICK  # the click that marks the take's first sample
    a[1:64] = 0
    return a


def add_take(p: Project, seg: Segment, audio: np.ndarray, seed: int, active=True) -> Take:
    f = p.cache_dir / "takes" / seg.id / f"{seed}.wav"
    f.parent.mkdir(parents=True, exist_ok=True)
    write_wav(f, audio, subtype="FLOAT")
    t = Take(id=f"t-{seg.id}-{seed}", path=f, seed=seed, model="foley-tiny", version="1",
             variant="int8", provider="CPUExecutionProvider")
    seg.takes.append(t)
    if active:
        seg.active_take = t.id
    return t


@pytest.fixture
def hello_project(clip_hello, tmp_path) -> Project:
    p = new_project(clip_hello)
    save(p, tmp_path / "hello.foley")
    for i, (s, e, prompt) in enumerate(SEGMENTS):
        seg = Segment(id=f"s{i}", start=s, end=e or p.duration_samples, prompt=prompt)
        p.segments.append(seg)
        add_take(p, seg, take_audio(seg.length, i), seed=100 + i)
    add_take(p, p.segments[0], take_audio(p.segments[0].length, 9), seed=999, active=False)
    save(p)
    return p


def read(path) -> np.ndarray:
    data, sr = sf.read(str(path), always_2d=True, dtype="float64")
    assert sr == 48000
    return data.T


def test_stems_are_full_length_and_sample_exact(hello_project, tmp_path):
    p = hello_project
    r = export_project(p, tmp_path / "out", format="wav32f", timelines=())
    names = sorted(f.name for f in r.files)
    assert names == sorted([
        "movie-hello_FX_48k32f.wav", "movie-hello_BG_48k32f.wav", "movie-hello_MIX_48k32f.wav",
        "movie-hello_01_door-slam_s100_48k32f.wav",
        "movie-hello_02_footsteps-on-gravel_s101_48k32f.wav",
        "movie-hello_03_keyboard-typing_s102_48k32f.wav"])
    assert any("dialogue stem omitted" in n for n in r.notes)
    assert any("background stem = the clip's original audio" in n for n in r.notes)
    duration = probe(p.media).duration_samples
    out = tmp_path / "out"
    fx = read(out / "movie-hello_FX_48k32f.wav")
    for f in out.glob("movie-hello_[A-Z]*_48k32f.wav"):
        info = wavinfo.WavInfoReader(str(f))
        assert info.data.frame_count == duration, f.name
        assert info.fmt.channel_count == 2
    # Each click sits at exactly its segment's start sample, on both channels.
    assert fx.shape == (2, duration)
    assert np.array_equal(fx[0], fx[1])
    for seg in p.segments:
        around = fx[0, seg.start - 8:seg.start + 8]
        assert np.argmax(np.diff(around)) + 1 == 8  # the rise is at the start sample
        assert around[8] - around[7] > CLICK - 0.1
    # FX is exactly the sum of the active takes placed at their starts.
    expect = np.zeros(duration)
    for i, seg in enumerate(p.segments):
        expect[seg.start:seg.end] += take_audio(seg.length, i)
    np.testing.assert_allclose(fx[0], expect, atol=1e-7)
    # BG is the clip's audio; MIX is BG + FX (no gain needed at these levels).
    orig = read_audio(p.media, 0, duration)
    bg = read(out / "movie-hello_BG_48k32f.wav")
    np.testing.assert_allclose(bg, orig, atol=1e-7)
    mix = read(out / "movie-hello_MIX_48k32f.wav")
    np.testing.assert_allclose(mix, orig + expect, atol=1e-6)
    # Per-take file: frame aligned (30 fps: 1600 samples a frame), the take inside it at its
    # start sample, silence around it; its TimeReference is the file's first sample.
    seg = p.segments[1]
    take = read(out / "movie-hello_02_footsteps-on-gravel_s101_48k32f.wav")
    f0, f1 = seg.start // 1600 * 1600, -(-seg.end // 1600) * 1600
    assert take.shape == (1, f1 - f0)
    head = seg.start - f0
    assert head == 60001 - 37 * 1600 and not take[0, :head].any() and not take[0, head + seg.length:].any()
    assert take[0, head] == pytest.approx(CLICK)
    np.testing.assert_allclose(take[0, head:head + seg.length], take_audio(seg.length, 1), atol=1e-7)
    info = wavinfo.WavInfoReader(str(out / "movie-hello_02_footsteps-on-gravel_s101_48k32f.wav"))
    assert info.bext.time_reference == f0
    assert f"take_starts_at_sample={head}" in info.ixml.raw_xml.find("./NOTE").text


def test_metadata_in_bext_and_ixml(hello_project, tmp_path):
    p = hello_project
    p.media_info["timecode"] = "01:00:00:00"  # as if the clip carried a start timecode
    r = export_project(p, tmp_path / "out", stems=("foley",), timelines=())
    fx = wavinfo.WavInfoReader(str(tmp_path / "out" / "movie-hello_FX_48k24.wav"))
    assert fx.fmt.bits_per_sample == 24
    assert fx.bext.originator == "Foley Desktop"
    assert fx.bext.time_reference == 3600 * 48000
    assert fx.bext.originator_ref and fx.bext.originator_date and fx.bext.originator_time
    assert "W=24" in fx.bext.coding_history and "F=48000" in fx.bext.coding_history
    assert fx.ixml.project == "movie-hello" and fx.ixml.take == "FX"
    assert fx.ixml.raw_xml.find("./SPEED/TIMECODE_RATE").text == "30/1"
    assert fx.ixml.raw_xml.find("./SPEED/TIMECODE_FLAG").text == "NDF"
    assert "door slam" in fx.ixml.raw_xml.find("./NOTE").text
    take = next(f for f in r.files if "_02_" in f.name)
    t = wavinfo.WavInfoReader(str(take))
    # The file starts on the frame holding the take's first sample (30 fps: 1600 samples).
    assert t.bext.time_reference == 3600 * 48000 + p.segments[1].start // 1600 * 1600
    note = t.ixml.raw_xml.find("./NOTE").text
    for part in ("model=foley-tiny", "variant=int8", "seed=101", "prompt=footsteps on gravel"):
        assert part in note
    assert t.ixml.take == "02" and t.ixml.scene == "movie-hello"


def test_clip_without_timecode_has_time_reference_zero(hello_project, tmp_path):
    export_project(hello_project, tmp_path / "out", stems=("foley",), timelines=(), takes="none")
    assert wavinfo.WavInfoReader(str(tmp_path / "out" / "movie-hello_FX_48k24.wav")).bext.time_reference == 0


def test_separated_stems_feed_dx_bg_and_mix(hello_project, tmp_path):
    p = hello_project
    n = p.duration_samples
    orig = read_audio(p.media, 0, n)
    dx = (orig * 0.25).astype(np.float32)
    bg = (orig * 0.5).astype(np.float32)
    p.stems = {"dialogue": p.cache_dir / "dx.wav", "background": p.cache_dir / "bg.wav"}
    write_wav(p.stems["dialogue"], dx, subtype="FLOAT")
    write_wav(p.stems["background"], bg, subtype="FLOAT")
    r = export_project(p, tmp_path / "out", format="wav32f", timelines=(), takes="none")
    assert not r.notes
    out = tmp_path / "out"
    np.testing.assert_allclose(read(out / "movie-hello_DX_48k32f.wav"), dx, atol=1e-7)
    np.testing.assert_allclose(read(out / "movie-hello_BG_48k32f.wav"), bg, atol=1e-7)
    fx = read(out / "movie-hello_FX_48k32f.wav")
    np.testing.assert_allclose(read(out / "movie-hello_MIX_48k32f.wav"), dx + bg + fx, atol=1e-6)


def true_peak(x: np.ndarray) -> float:
    return float(np.abs(soxr.resample(x.T.astype(np.float32), 48000, 192000)).max())


def test_loud_mix_gets_true_peak_headroom_and_never_clips(hello_project, tmp_path):
    p = hello_project
    seg = p.segments[2]
    loud = np.sin(np.arange(seg.length) * 2 * np.pi * 11025 / 48000 + 0.7).astype(np.float32) * 1.4
    add_take(p, seg, loud, seed=7)
    r = export_project(p, tmp_path / "out", timelines=(), takes="none")
    assert any(n.startswith("MIX stem turned down -") for n in r.notes)
    assert any(n.startswith("FX stem turned down -") for n in r.notes)
    mix = read(tmp_path / "out" / "movie-hello_MIX_48k24.wav")
    assert np.abs(mix).max() < 1.0
    assert true_peak(mix) <= 10 ** (-1 / 20) * 1.001
    note = wavinfo.WavInfoReader(str(tmp_path / "out" / "movie-hello_MIX_48k24.wav")).ixml.raw_xml.find("./NOTE").text
    assert "dBTP headroom" in note


def test_rf64_when_past_threshold(hello_project, tmp_path):
    export_project(hello_project, tmp_path / "out", stems=("foley", "mix"), timelines=(),
                   takes="none", rf64_threshold=1 << 20)
    for f in (tmp_path / "out").glob("*.wav"):
        assert f.read_bytes()[:4] == b"RF64"
        assert sf.info(str(f)).format == "RF64"
        assert wavinfo.WavInfoReader(str(f)).data.frame_count == hello_project.duration_samples


def test_mux_adds_the_mix_to_a_copy_of_the_clip(hello_project, tmp_path):
    r = export_project(hello_project, tmp_path / "out", stems=("foley",), timelines=(), takes="none",
                       mux=True)
    mov = tmp_path / "out" / "movie-hello_FoleyMix.mov"
    assert mov in r.files
    streams = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type",
                              "-of", "csv=p=0", str(mov)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert streams.count("video") == 1 and streams.count("audio") == 2


# ------------------------------------------------------------------------ nothing lost on failure

def snapshot(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.fixture
def earlier_export(hello_project, tmp_path):
    out = tmp_path / "out"
    export_project(hello_project, out, timelines=("otio",))
    hello_project.segments[0].prompt = "changed after the first export"
    return out, snapshot(out)


def test_disk_full_mid_write_leaves_earlier_export_intact(hello_project, earlier_export, monkeypatch):
    out, before = earlier_export
    real = export_mod._open_for_write

    class Filling:
        def __init__(self, fh):
            self.fh, self.written = fh, 0

        def write(self, b):
            self.written += len(b)
            if self.written > 500_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(b)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    monkeypatch.setattr(export_mod, "_open_for_write", lambda p: Filling(real(p)))
    with pytest.raises(ExportError) as exc:
        export_project(hello_project, out, timelines=("otio",))
    msg = str(exc.value)
    assert "No space left on device" in msg and "movie-hello_FX_48k24.wav" in msg
    assert "nothing in" in msg and "\n" not in msg
    assert snapshot(out) == before


def test_real_full_disk_on_a_tiny_tmpfs(hello_project, tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the patched-writer test covers ENOSPC")
    try:
        export_project(hello_project, mnt, stems=("foley",), timelines=(), takes="none")
        before = snapshot(mnt)
        with pytest.raises(ExportError, match="No space left on device"):
            export_project(hello_project, mnt, stems=("foley", "background", "mix"), timelines=())
        assert snapshot(mnt) == before
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_read_only_folder(hello_project, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    export_project(hello_project, out, stems=("foley",), timelines=(), takes="none")
    before = snapshot(out)
    if subprocess.run(["mount", "--bind", "-o", "ro", str(out), str(out)], capture_output=True,
                      check=False).returncode:
        if os.geteuid() == 0:
            pytest.skip("root ignores folder permissions and cannot bind-mount read-only here")
        out.chmod(0o555)
        cleanup = lambda: out.chmod(0o755)
    else:
        cleanup = lambda: subprocess.run(["umount", str(out)], check=True)
    try:
        with pytest.raises(ExportError, match=r"cannot write into .*(Read-only|Permission denied)"):
            export_project(hello_project, out, stems=("foley",), timelines=(), takes="none")
        assert snapshot(out) == before
    finally:
        cleanup()


def test_vanished_clip_or_take(hello_project, earlier_export, tmp_path):
    out, before = earlier_export
    take = hello_project.segments[1].takes[0].path
    take.rename(take.with_suffix(".gone"))
    with pytest.raises(ExportError, match=r"take .* of segment 2 \('footsteps on gravel'\) is missing"):
        export_project(hello_project, out)
    take.with_suffix(".gone").rename(take)
    hello_project.media = tmp_path / "moved-away.mp4"
    with pytest.raises(ExportError, match=r"the clip is missing: .*moved-away\.mp4"):
        export_project(hello_project, out)
    assert snapshot(out) == before


def test_cancel_leaves_nothing(hello_project, earlier_export):
    out, before = earlier_export
    token = CancelToken()

    def progress(pr):
        if pr.stage == "writing stems":
            token.cancel()

    with pytest.raises(Cancelled):
        export_project(hello_project, out, progress=progress, cancel=token)
    assert snapshot(out) == before


def test_bad_options(hello_project, tmp_path):
    with pytest.raises(ExportError, match="unknown format"):
        export_project(hello_project, tmp_path, format="mp3")
    with pytest.raises(ExportError, match="unknown stem"):
        export_project(hello_project, tmp_path, stems=("music",))
    with pytest.raises(ExportError, match="unknown timeline"):
        export_project(hello_project, tmp_path, timelines=("avid-bin",))
    assert list(tmp_path.glob("*.wav")) == []


def test_mono_clip_gives_mono_stems(clip_tank, tmp_path):
    p = new_project(clip_tank)
    save(p, tmp_path / "tank.foley")
    seg = Segment(id="m", start=4801, end=52801, prompt="engine motor")
    p.segments.append(seg)
    add_take(p, seg, take_audio(seg.length, 3), seed=1)
    export_project(p, tmp_path / "out", format="wav32f", timelines=(), takes="none")
    n = probe(clip_tank).duration_samples
    for code in ("FX", "BG", "MIX"):
        info = wavinfo.WavInfoReader(str(tmp_path / "out" / f"movie_{code}_48k32f.wav"))
        assert (info.fmt.channel_count, info.data.frame_count) == (1, n)
    fx = read(tmp_path / "out" / "movie_FX_48k32f.wav")
    assert fx[0, 4801] == pytest.approx(CLICK) and not fx[0, :4801].any()
    np.testing.assert_allclose(read(tmp_path / "out" / "movie_BG_48k32f.wav"),
                               read_audio(clip_tank, 0, n), atol=1e-7)


def test_silent_clip_with_container_timecode(tmp_path):
    fps = Fraction(25)
    clip = write_video(tmp_path / "tc.mov", cfr_pts(50, fps, Fraction(1, 12800)), Fraction(1, 12800),
                       timecode="10:00:00:00", fps_hint=fps)
    p = new_project(clip)
    assert p.media_info["timecode"] == "10:00:00:00" and p.media_info["audio_channels"] == 0
    save(p, tmp_path / "tc.foley")
    seg = Segment(id="a", start=24000, end=72000, prompt="whoosh")
    p.segments.append(seg)
    add_take(p, seg, take_audio(seg.length, 1), seed=3)
    r = export_project(p, tmp_path / "out", timelines=("otio",))
    names = sorted(f.name for f in r.files)
    assert names == ["tc.otio", "tc_01_whoosh_s3_48k24.wav", "tc_FX_48k24.wav", "tc_MIX_48k24.wav"]
    assert any("background stem omitted: the clip has no audio" in n for n in r.notes)
    fx = wavinfo.WavInfoReader(str(tmp_path / "out" / "tc_FX_48k24.wav"))
    assert fx.bext.time_reference == 10 * 3600 * 48000
    assert fx.fmt.channel_count == 1 and fx.data.frame_count == p.duration_samples
    take = wavinfo.WavInfoReader(str(tmp_path / "out" / "tc_01_whoosh_s3_48k24.wav"))
    # 25 fps: 1920 samples a frame; the file starts at frame 12, the take 960 samples in.
    assert take.bext.time_reference == 10 * 3600 * 48000 + 12 * 1920
    mix = read(tmp_path / "out" / "tc_MIX_48k24.wav")
    np.testing.assert_allclose(mix, read(tmp_path / "out" / "tc_FX_48k24.wav"), atol=1e-6)
