"""Video decoding onto a regular grid: which source frame each output frame shows, geometry."""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from media_factory import cfr_pts, frame_index, write_audio, write_video

from foley_desktop.errors import NoStreamError
from foley_desktop.media.decode import iter_video_frames, read_frame_at, read_video_frames
from foley_desktop.media.probe import probe


def expected_index(pts_s: list[Fraction], t: Fraction) -> int:
    """Sample-and-hold: the last source frame shown at or before t (the first before it starts)."""
    shown = [k for k, p in enumerate(pts_s) if p <= t]
    return shown[-1] if shown else 0


@pytest.mark.parametrize("out_fps", [Fraction(25), Fraction(10), Fraction(30000, 1001), Fraction(60)])
def test_cfr_grid_shows_the_right_source_frame(tmp_path, out_fps):
    tb = Fraction(1, 12800)
    pts = cfr_pts(75, Fraction(25), tb)
    clip = write_video(tmp_path / "cfr.mp4", pts, tb, fps_hint=Fraction(25), gop=10)
    frames = read_video_frames(clip, out_fps, (128, 72))
    assert frames.shape == (math.ceil(3 * out_fps), 72, 128, 3)  # 75 frames = 3 s
    src = [p * tb for p in pts]
    got = [frame_index(f) for f in frames]
    want = [expected_index(src, k / out_fps) for k in range(len(frames))]
    assert got == want


def test_vfr_source_lands_on_a_regular_grid(tmp_path):
    tb = Fraction(1, 1000)
    pts = [0, 40, 80, 320, 330, 340, 350, 700, 1000, 1500]
    clip = write_video(tmp_path / "vfr.mkv", pts, tb, fps_hint=Fraction(25))
    assert probe(clip).video.is_vfr
    frames = list(iter_video_frames(clip, 20, (64, 64)))
    want = [expected_index([p * tb for p in pts], Fraction(k, 20)) for k in range(len(frames))]
    assert [frame_index(f, box=(0, 14, 64, 36)) for f in frames] == want
    # Frame 2 (80 ms) is held until 0.30 s; the 320-340 ms burst falls between grid points
    # and is never shown; 0.35 s shows frame 6 exactly.
    assert want[:8] == [0, 1, 2, 2, 2, 2, 2, 6]


def test_start_end_and_non_zero_start_time(tmp_path):
    tb = Fraction(1, 1000)
    pts = cfr_pts(50, Fraction(25), tb, start=Fraction(7, 2))  # first frame at 3.5 s
    clip = write_video(tmp_path / "late start.mkv", pts, tb, fps_hint=Fraction(25))
    # Sample 0 is the first frame, whatever the container's clock says.
    frames = read_video_frames(clip, 25, (64, 36), start=48000, end=48000 + 9600)
    assert frames.shape[0] == 5
    assert [frame_index(f) for f in frames] == [25, 26, 27, 28, 29]


def test_accurate_seek_far_from_keyframes(tmp_path):
    tb = Fraction(1, 90000)
    pts = cfr_pts(150, Fraction(30000, 1001), tb)
    clip = write_video(tmp_path / "long gop.mp4", pts, tb, fps_hint=Fraction(30000, 1001), gop=300)
    for k in (0, 1, 77, 148, 149):
        begins = Fraction(k * 1001, 30000) * 48000  # frame k starts here, in samples
        assert frame_index(read_frame_at(clip, math.ceil(begins), (128, 72))) == k
        if k:  # a sample before (timestamps count within half a time-base tick as on time)
            assert frame_index(read_frame_at(clip, math.floor(begins) - 1, (128, 72))) == k - 1
    # Past the end: the last picture is held.
    assert frame_index(read_frame_at(clip, 10 * 48000, (128, 72))) == 149


def test_rotation_and_letterbox(tmp_path):
    tb = Fraction(1, 12800)
    clip = write_video(tmp_path / "rot.mov", cfr_pts(3, Fraction(25), tb), tb, size=(256, 144),
                       rotation_ccw=90, fps_hint=Fraction(25))
    frame = read_frame_at(clip, 48000 // 25 * 2, size=(200, 200))  # index 2 = bits 00000010
    assert frame.shape == (200, 200, 3)
    # Portrait 144x256 fitted into 200x200: 113x200 in the middle, black bars left and right.
    cols = np.nonzero(frame.max(axis=(0, 2)) > 0)[0]
    assert frame[:, :40].max() == 0 and frame[:, -40:].max() == 0
    assert frame[:, 40:160].max() >= 100
    assert cols.min() >= 40 and cols.max() <= 160
    # Turned as FFmpeg's own player turns it (an independent reader, autorotate on): the
    # white bar (the seventh from the left, coded) lands on the same rows.
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", "3", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    ref = np.frombuffer(raw, np.uint8).reshape(3, 256, 144, 3)[2]
    ref_rows = np.nonzero(ref[:, 72, 0] > 128)[0] / 256
    our_rows = np.nonzero(frame[:, 100, 0] > 128)[0] / 200
    assert len(ref_rows) and abs(ref_rows.min() - our_rows.min()) < 0.02
    assert abs(ref_rows.max() - our_rows.max()) < 0.02
    # Without letterbox the picture covers the frame (cropped), never stretched.
    crop = read_frame_at(clip, 0, size=(200, 200), letterbox=False)
    assert crop.shape == (200, 200, 3)


def test_letterbox_keeps_aspect_on_real_clip(clip_tank):
    frames = read_video_frames(clip_tank, 8, (224, 224), end=48000)
    assert frames.shape == (8, 224, 224, 3)
    # 560x320 into 224x224 -> 224x128 with 48-row bars above and below.
    assert frames[:, :47].max() == 0 and frames[:, -47:].max() == 0
    assert frames[:, 50:174].mean() > 10
    # The full clip at 30 fps has as many frames as the source (5.533 s).
    n = sum(1 for _ in iter_video_frames(clip_tank, 30, (56, 32)))
    assert n == 166


def test_vfr_phone_clip_on_grid(clip_phone):
    frames = read_video_frames(clip_phone, 10, (96, 54))
    assert frames.shape == (math.ceil(Fraction(136570, 90000) * 10), 54, 96, 3)
    # Its first frame lasts 185 ms: the first two grid frames show the same picture.
    assert np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])


def test_no_video(tmp_path):
    wav = write_audio(tmp_path / "a.wav", 48000, 0.2, "pcm_s16le")
    with pytest.raises(NoStreamError, match="no video"):
        read_frame_at(wav, 0, (32, 32))


def test_frames_stream_and_cancel(clip_tank):
    from foley_desktop.errors import Cancelled
    from foley_desktop.jobs import CancelToken

    token = CancelToken()
    frames = iter_video_frames(clip_tank, 30, (56, 32), cancel=token)
    first = next(frames)
    assert first.shape == (32, 56, 3) and not first.flags.writeable
    token.cancel()
    with pytest.raises(Cancelled):
        list(frames)


def test_one_frame_clip(tmp_path):
    clip = write_video(tmp_path / "one.mp4", [0], Fraction(1, 25), fps_hint=Fraction(25))
    assert [frame_index(f) for f in read_video_frames(clip, 25, (64, 36))] == [0]
    assert read_video_frames(clip, 50, (64, 36)).shape == (2, 36, 64, 3)  # held for 40 ms
    assert frame_index(read_frame_at(clip, 48000 * 5, (64, 36))) == 0
