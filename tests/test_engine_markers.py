"""Spotting markers in the generate job: validation, the event track, and takes whose onsets
land on the markers (an analytic package whose denoiser adds the event track to its target,
and the shipped foley-tiny when it takes markers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from foley_desktop.engine import events, testpkg
from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.engine.package import load_package
from foley_desktop.errors import GenerationError
from foley_desktop.paths import resources_dir
from foley_desktop.spotting.onsets import detect_onsets, onset_f1

SR = 48000


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory):
    """The same analytic package with and without the event input (same random weights)."""
    root = tmp_path_factory.mktemp("markers")
    # the pulse must stand well above the text's constant level for the onset detector
    with_ev = testpkg.build(root / "ev", alpha=0.02, events=30.0, int8=False)
    without = testpkg.build(root / "plain", alpha=0.02, int8=False)
    return Engine(with_ev, "fp32", "cpu"), Engine(without, "fp32", "cpu")


# ------------------------------------------------------------------ the event track itself

def test_event_track_places_pulses_on_the_analysis_frame_centres():
    hop = 480
    # A marker exactly on frame 10's centre (sample 10 * hop + hop / 2) peaks there at full
    # strength; one between two centres gives those two frames equal values.
    tr = events.event_track(np.array([10 * hop + hop / 2, 30 * hop + hop]), np.array([0.8, 1.0]),
                            50, hop, (0, 50))
    assert tr.shape == (50, 2) and tr.dtype == np.float32
    assert int(np.argmax(tr[:20, 0])) == 10 and tr[10, 0] == pytest.approx(0.8)
    assert tr[30, 0] == pytest.approx(tr[31, 0]) and tr[30, 0] == pytest.approx(math.exp(-0.125))
    assert tr[20, 0] == 0.0 and (tr[:, 1] == 1.0).all()
    # given only on part of the window; none given: all zeros
    part = events.event_track(np.zeros(0), np.zeros(0), 50, hop, (5, 20))
    assert part[:, 1].sum() == 15 and part[5, 1] == 1 and part[20, 1] == 0
    assert not events.event_track(np.array([1000.0]), np.array([1.0]), 50, hop, None).any()


def test_window_track_is_relative_to_the_window_and_covers_the_segment():
    # window starting at 2 s, 100 frames of 10 ms; segment 2.5-3.0 s; a marker at 2.75 s
    tr = events.window_track([(int(2.75 * SR), 1.0)], 2 * SR, 100, 480.0, int(2.5 * SR), 3 * SR)
    assert int(np.argmax(tr[:, 0])) in (74, 75)
    assert tr[:50, 1].sum() == 0 and tr[50:100, 1].all()
    assert not events.window_track(None, 0, 100, 480.0, 0, SR).any()


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("markers, words", [
    ([(5 * SR, 1.0)], "outside the segment"),
    ([(-10, 1.0)], "outside the segment"),
    ([(SR, float("nan"))], "strength"),
    ([(SR, 1.5)], "strength"),
    ([(SR,)], "must be (time in samples"),
    ([("soon", 1.0)], "must be (time in samples"),
])
def test_bad_markers_are_one_line_generation_errors(pkgs, markers, words):
    for eng in pkgs:      # validated whether or not the package can follow them
        with pytest.raises(GenerationError) as e:
            generate(GenerateRequest(None, 0, 2 * SR, "footsteps", markers=markers), engine=eng)
        assert words in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------ generation

MARKS_S = [0.31, 0.77, 1.42, 1.93, 2.6, 3.05, 3.71]     # across the 2 s windows' joins


def test_takes_land_on_the_markers(pkgs):
    eng, _ = pkgs
    marks = [(round(t * SR), 1.0) for t in MARKS_S]
    res = generate(GenerateRequest(None, 0, 4 * SR, "footsteps on wet pavement", seeds=[3, 4],
                                   markers=marks), engine=eng)
    assert res.markers_followed is True and not any("markers" in n for n in res.notes)
    assert res.windows > 1
    for take in res.takes:
        on = detect_onsets(take.audio)
        assert onset_f1(MARKS_S, on, 0.04) >= 0.9, on
        assert len(on) == len(MARKS_S)
    assert res.to_dict()["markers_followed"] is True


def test_markers_relative_to_a_segment_that_starts_later(pkgs, clip_hello):
    """Marker times are clip times; the segment starts at 1 s into a real clip."""
    eng, _ = pkgs
    start = SR
    res = generate(GenerateRequest(clip_hello, start, start + 2 * SR, "door slam",
                                   markers=[(start + int(0.5 * SR), 1.0),
                                            (start + int(1.4 * SR), 0.9)]), engine=eng)
    on = detect_onsets(res.takes[0].audio)
    assert onset_f1([0.5, 1.4], on, 0.04) == 1.0, on


def test_no_markers_give_the_audio_of_a_package_without_the_input(pkgs):
    eng, plain = pkgs
    req = GenerateRequest(None, 0, 3 * SR, "glass breaks", seeds=[7])
    a = generate(req, engine=eng)
    b = generate(req, engine=plain)
    assert a.markers_followed is None and "markers_followed" not in a.to_dict()
    np.testing.assert_array_equal(a.takes[0].audio, b.takes[0].audio)


def test_a_package_without_the_input_says_it_cannot_follow(pkgs):
    _, plain = pkgs
    req = GenerateRequest(None, 0, 2 * SR, "glass breaks", seeds=[7])
    ref = generate(req, engine=plain)
    req.markers = [(SR // 2, 1.0)]
    res = generate(req, engine=plain)
    assert res.markers_followed is False
    assert any("cannot take spotting markers" in n for n in res.notes)
    np.testing.assert_array_equal(ref.takes[0].audio, res.takes[0].audio)


def test_manifest_with_a_wrong_event_input_is_refused(tmp_path):
    import json

    from foley_desktop.errors import ModelPackageError

    p = testpkg.build(tmp_path / "bad", events=1.0, int8=False)
    m = json.loads((p / "manifest.json").read_text())
    assert load_package(p).takes_markers
    m["graphs"]["denoiser"]["inputs"]["events"] = ["B", "F", 3]
    (p / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelPackageError, match="events"):
        load_package(p)


# ------------------------------------------------------------------ the shipped model

def _shipped():
    try:
        pkg = load_package(resources_dir() / "models" / "foley-tiny")
    except Exception:  # noqa: BLE001 - no package installed: nothing to check here
        return None
    return pkg if pkg.takes_markers else None


@pytest.mark.skipif(_shipped() is None, reason="the shipped foley-tiny takes no markers")
def test_shipped_model_follows_markers_on_a_real_clip(clip_hello):
    """A real clip (a person at a desk), a metal prompt, markers where the picture shows no
    hit: the takes land on the markers, far above the same seeds without them, and stay
    metal to the project's classifier."""
    from foley_desktop.train.classifier import AudioClassifier

    eng = Engine(_shipped(), "auto", "cpu")
    marks_s = [0.4, 1.1, 1.65, 2.5, 3.3]
    req = GenerateRequest(clip_hello, 0, 4 * SR, "a metal clang", seeds=[0, 1],
                          markers=[(round(t * SR), 1.0) for t in marks_s])
    res = generate(req, engine=eng)
    assert res.markers_followed is True
    f1s = [onset_f1(marks_s, detect_onsets(t.audio), 0.1) for t in res.takes]
    clf = AudioClassifier(resources_dir() / "models" / "foley-tiny-eval", threads=1)
    labels = clf.predict([t.audio for t in res.takes])
    # without markers: no flag, chance-level timing, and the same seed gives the same audio
    req.markers = None
    a, b = generate(req, engine=eng), generate(req, engine=eng)
    assert a.markers_followed is None
    np.testing.assert_array_equal(a.takes[0].audio, b.takes[0].audio)
    bare = [onset_f1(marks_s, detect_onsets(t.audio), 0.1) for t in a.takes]
    assert min(f1s) >= 0.7 and np.mean(f1s) >= np.mean(bare) + 0.3, (f1s, bare)
    assert not any(lb.startswith("footsteps") for lb in labels), labels
