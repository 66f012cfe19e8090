"""Progressive, disk-cached waveform overviews (issue #9: long clips draw while they decode)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from foley_desktop.app import audio_cache
from foley_desktop.errors import Cancelled
from foley_desktop.jobs import CancelToken

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """30 s of noise bursts with a 5 fps picture (the long-clip benchmark's clip, shorter)."""
    spec = importlib.util.spec_from_file_location("bench_long_clip", ROOT / "scripts/bench_long_clip.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.make_clip(tmp_path_factory.mktemp("long") / "half-minute.mkv", 0.5)


def test_partials_are_growing_prefixes_of_the_final_overview(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(audio_cache, "PARTIAL_S", 0.0)
    parts = []
    ov, bed = audio_cache.load_lane_audio(clip, tmp_path, partial=parts.append)
    assert ov.complete and bed.shape == (2, 30 * 48000)
    assert len(parts) >= 4 and parts[0].end < parts[0].expected_end / 2
    assert [len(p.mins) for p in parts] == sorted(len(p.mins) for p in parts)
    for p in parts:
        assert not p.complete and p.expected_end == 30 * 48000 and p.end <= p.expected_end
        n = len(p.mins)
        assert np.array_equal(p.mins, ov.mins[:n]) and np.array_equal(p.maxs, ov.maxs[:n])
    # The overview is the exact min/max per bin of the decoded mono mix.
    mono = np.asarray(bed).mean(axis=0)
    ref = mono[: len(mono) // 64 * 64].reshape(-1, 64)
    assert np.allclose(ov.mins[: len(ref)], ref.min(axis=1), atol=1e-6)
    assert np.allclose(ov.maxs[: len(ref)], ref.max(axis=1), atol=1e-6)


def test_an_interrupted_decode_is_never_taken_for_a_finished_one(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(audio_cache, "PARTIAL_S", 0.0)
    cancel = CancelToken()
    seen = []

    def stop_after_two(p):
        seen.append(p)
        if len(seen) == 2:
            cancel.cancel()

    with pytest.raises(Cancelled):
        audio_cache.load_lane_audio(clip, tmp_path, cancel=cancel, partial=stop_after_two)
    folder = tmp_path / "audio"
    assert not list(folder.glob("*.overview.npy")) and not list(folder.glob("*ch.f32"))
    assert audio_cache._cached(folder, audio_cache.cache_key(clip)) is None
    calls = []
    ov, _ = audio_cache.load_lane_audio(clip, tmp_path, partial=calls.append)
    assert ov.complete and len(ov.mins) == 30 * 48000 // 64
    # Now cached: the next open decodes nothing and sends no partials.
    again, _ = audio_cache.load_lane_audio(clip, tmp_path, partial=lambda p: pytest.fail("decoded"))
    assert np.array_equal(again.mins, ov.mins)


@pytest.mark.gui
def test_the_timeline_draws_partial_overviews_then_the_whole(qtbot, qapp, clip, tmp_path,
                                                             monkeypatch):
    from foley_desktop.ui.main_window import MainWindow
    from foley_desktop.ui.settings import Settings

    monkeypatch.setattr(audio_cache, "PARTIAL_S", 0.0)
    monkeypatch.setenv("FOLEY_DESKTOP_CACHE", str(tmp_path / "cache"))
    w = MainWindow(Settings(str(tmp_path / "s.ini")))
    w._skip_save_prompt = True
    qtbot.addWidget(w)
    w.resize(1200, 700)
    w.show()
    shown = []
    w.overviewPartial.connect(lambda k, m, ov: shown.append((k, ov.complete)))
    assert w.open_path(clip), w.last_error
    qtbot.waitUntil(lambda: "original" in w.canvas.overviews
                    and w.canvas.overviews["original"].complete, timeout=60000)
    assert shown and all(k == "original" and not done for k, done in shown)

    # A partial overview paints the pending part of the lane: compare with the finished one.
    final = w.canvas.overviews["original"]
    half = type(final)(final.mins[: len(final.mins) // 2], final.maxs[: len(final.maxs) // 2],
                       expected_end=final.end)
    w.canvas.overviews["original"] = half
    w.canvas.refresh()
    rect = w.canvas.lane_rect("original").toRect()
    right = rect.adjusted(rect.width() * 3 // 4, 0, 0, 0)
    pending = w.canvas.grab(right).toImage()
    w.canvas.overviews["original"] = final
    w.canvas.refresh()
    full = w.canvas.grab(right).toImage()
    assert pending != full
    w.close()
