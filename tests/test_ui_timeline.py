"""Timeline geometry (zoom, snapping, ruler ticks) and the small dialogs."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foley_desktop.media.timebase import frame_to_samples, samples_to_frame
from foley_desktop.ui.timeline.geometry import MAX_FRAME_PX, SNAP_PX, TimeScale

RATES = [Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001), Fraction(50), Fraction(60)]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(RATES), st.integers(0, 48000 * 600), st.floats(1.0, 5000.0),
       st.lists(st.integers(0, 48000 * 600), max_size=6))
def test_snap_lands_on_a_frame_or_a_near_edge(fps, t, spp, edges):
    sc = TimeScale(fps=fps, duration=48000 * 600, samples_per_px=spp)
    s = sc.snap(t, edges)
    near = [e for e in edges if abs(e - t) <= SNAP_PX * spp]
    if near:
        assert s in near and abs(s - t) == min(abs(e - t) for e in near)
    elif s != sc.duration:  # the clip's end is an edge too, even off the frame grid
        assert frame_to_samples(samples_to_frame(s, fps), fps) == s
        assert abs(s - t) <= 48000 / float(fps) / 2 + 1


@pytest.mark.parametrize("fps", RATES)
def test_zoom_limits_and_anchor(fps):
    sc = TimeScale(fps=fps, duration=48000 * 3600, width_px=1000)
    sc.fit()
    assert sc.x_of(sc.duration) <= 1000
    anchor_t = sc.t_of(400)
    sc.zoom(3.0, 400)
    assert abs(sc.t_of(400) - anchor_t) <= sc.samples_per_px  # the time under the mouse stays
    for _ in range(100):
        sc.zoom(2.0, 400)
    assert sc.frame_samples / sc.samples_per_px == pytest.approx(MAX_FRAME_PX)
    major, minor = sc.ruler_step()
    assert minor == 1 and major >= 1
    for _ in range(100):
        sc.zoom(0.5, 400)
    assert sc.samples_per_px == pytest.approx(sc.max_samples_per_px)
    major, minor = sc.ruler_step()
    assert major % round(float(fps)) == 0  # whole timecode seconds when zoomed out
    assert major * sc.frame_samples / sc.samples_per_px >= 90


def test_preferences_and_shortcuts_dialogs(qtbot, tmp_path):
    from foley_desktop.ui.settings import PreferencesDialog, Settings
    from foley_desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog

    s = Settings(str(tmp_path / "s.ini"))
    assert s.get("precision") == "auto"
    dlg = PreferencesDialog(s, ["foley-tiny"])
    qtbot.addWidget(dlg)
    dlg.precision.setCurrentIndex(dlg.precision.findData("int8"))
    dlg.model.setCurrentIndex(dlg.model.findData("foley-tiny"))
    dlg.export_format.setCurrentIndex(dlg.export_format.findData("wav32f"))
    dlg.accept()
    again = Settings(str(tmp_path / "s.ini"))  # read back from the file
    assert (again.get("precision"), again.get("default_model"), again.get("export_format")) == \
        ("int8", "foley-tiny", "wav32f")
    # Typed keys: an unknown key or a value outside its choices is refused; a hand-edited
    # file with a bad value reads as the default.
    from foley_desktop.app.preferences import Key

    assert again.preferences().precision == "int8" and again.get(Key.PRECISION) == "int8"
    with pytest.raises(KeyError):
        again.set("colour", "red")
    with pytest.raises(ValueError, match="provider"):
        again.set(Key.PROVIDER, "opencl")
    again.q.setValue("precision", "int4")
    assert again.preferences().precision == "auto"
    help_dlg = ShortcutsDialog()
    qtbot.addWidget(help_dlg)
    keys = [help_dlg.table.item(r, 0).text() for r in range(help_dlg.table.rowCount())]
    assert len(keys) == len(SHORTCUTS) and "Space" in keys and "Ctrl+Z" in keys
