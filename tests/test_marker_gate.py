"""Quiet between the markers (engine/marker_gate.py): the gate's gain, the shipped foley-tiny's
takes through the real engine and ONNX Runtime with and without it, the CLI flag (real WAV
read back) and the take record."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from foley_desktop.engine import marker_gate, testpkg
from foley_desktop.engine.generate import Engine, GenerateRequest, generate
from foley_desktop.engine.package import load_package
from foley_desktop.errors import GenerationError
from foley_desktop.paths import resources_dir
from foley_desktop.spotting.onsets import detect_onsets, onset_f1

SR = 48000
P = marker_gate.DEFAULT
DC_REACH = round(0.05 * SR)     # post.remove_dc's filter reaches 50 ms either side


# ------------------------------------------------------------------ the gain itself

def test_gain_is_one_on_the_windows_the_floor_far_away_and_ramps_between():
    n = 4 * SR
    marks = [SR, int(2.5 * SR)]
    g = marker_gate.gain(n, marks)
    pre, dec = round(P.pre_s * SR), round(P.decay_s * SR)
    fin, rel = round(P.fade_in_s * SR), round(P.release_s * SR)
    for t in marks:
        assert (g[t - pre: t + dec] == 1.0).all()
        assert g[t - pre - fin - 1] == P.floor and g[t + dec + rel] == P.floor
    assert P.floor == pytest.approx(10 ** (-40 / 20))
    assert (g[: marks[0] - pre - fin] == P.floor).all() and (g[-SR:] == P.floor).all()
    # raised-cosine ramps: monotonic, and the gain never steps (a hard gate would step 0.99)
    step = np.abs(np.diff(g)).max()
    assert step <= (1 - P.floor) * math.pi / (2 * min(fin, rel)) + 1e-12
    assert (np.diff(g[marks[0] - pre - fin: marks[0] - pre + 1]) >= 0).all()
    assert (np.diff(g[marks[0] + dec - 1: marks[0] + dec + rel + 1]) <= 0).all()


def test_close_markers_share_one_window_and_no_markers_is_the_floor():
    n = 2 * SR
    # 0.25 s apart: the gap between their windows is shorter than a release and a fade-in
    close = [int(0.5 * SR), int(0.75 * SR)]
    assert len(marker_gate.windows(close, n)) == 1
    g = marker_gate.gain(n, close)
    assert (g[close[0]: close[1] + round(P.decay_s * SR)] == 1.0).all()
    far = [int(0.5 * SR), int(1.5 * SR)]
    assert len(marker_gate.windows(far, n)) == 2
    assert (marker_gate.gain(n, []) == P.floor).all()
    silent = marker_gate.GateParams(floor_db=-math.inf)
    assert marker_gate.gain(n, far, silent)[int(1.0 * SR)] == 0.0


def test_apply_leaves_the_windows_bit_exact_and_makes_no_click():
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal(3 * SR)).astype(np.float32)
    marks = [int(0.8 * SR), int(2.2 * SR)]
    y = marker_gate.apply(x, marks)
    assert y.dtype == np.float32 and y.shape == x.shape
    g = marker_gate.gain(len(x), marks)
    np.testing.assert_array_equal(y[g == 1.0], x[g == 1.0])
    # a constant level through the gate: every sample step is the ramp's, tiny
    dc = marker_gate.apply(np.full(3 * SR, 0.5, np.float32), marks)
    assert np.abs(np.diff(dc)).max() < 0.5 * 0.002


@pytest.mark.parametrize("prompt, bed", [
    ("footsteps on gravel", None), ("a heavy impact", None), ("keyboard typing", None),
    ("a window breaks", None), ("a door slams shut", None), ("fireworks bang", None),
    ("fire crackling", "fire"), ("light rain on a roof", "rain"),
    ("stadium crowd noise", "crowd"), ("a babbling brook", "brook"),
    ("footsteps on wood, with a crackling fireplace in the background", "crackling"),
    ("a car drives past", "drives past"),
])
def test_what_reads_as_a_bed(prompt, bed):
    assert marker_gate.asks_for_bed(prompt) == bed


# ------------------------------------------------------------------ the shipped model

def _shipped():
    """The shipped foley-tiny, which ships in the repository and follows markers: a package
    that fails to load or cannot take markers is a failure here, not a skip."""
    pkg = load_package(resources_dir() / "models" / "foley-tiny")
    assert pkg.takes_markers
    return pkg


MARKS_S = [0.6, 2.0]          # sparse single hits, where the model adds its own between


@pytest.fixture(scope="module")
def tiny():
    return Engine(_shipped(), "auto", "cpu")


def _req(prompt="a heavy impact", **kw):
    return GenerateRequest(None, 0, 3 * SR, prompt, seeds=[1, 2],
                           markers=[(round(t * SR), 1.0) for t in MARKS_S], **kw)


def _interior(n, keep_one: bool):
    """Samples where the gain is 1 (keep_one) or the floor, at least the DC filter's reach from
    any other gain, so that the finished takes compare sample by sample there."""
    g = marker_gate.gain(n, [round(t * SR) for t in MARKS_S])
    mask = g == 1.0 if keep_one else g == P.floor
    k = np.ones(2 * DC_REACH + 1)
    return np.convolve(~mask, k, mode="same") == 0


def test_quiet_takes_are_untouched_on_the_markers_and_40_db_down_far_from_them(tiny):
    keep = generate(_req(between_markers="keep"), engine=tiny)
    quiet = generate(_req(between_markers="quiet"), engine=tiny)
    assert (keep.between_markers, quiet.between_markers) == ("keep", "quiet")
    assert quiet.to_dict()["between_markers"] == "quiet"
    on, off = _interior(3 * SR, True), _interior(3 * SR, False)
    assert on.sum() > 0.2 * SR and off.sum() > SR
    for k, q in zip(keep.takes, quiet.takes):
        a, b = k.audio.astype(np.float64), q.audio.astype(np.float64)
        # one overall level may differ (finish() turns a take over the ceiling down as a whole)
        c = float(b[on] @ a[on] / (a[on] @ a[on]))
        assert 0.5 < c < 4
        assert np.abs(b[on] - c * a[on]).max() <= 1e-4 * np.abs(a).max()
        assert np.abs(b[off] - P.floor * c * a[off]).max() <= 1e-4 * np.abs(a).max()
        assert np.sqrt(np.mean(b[off] ** 2)) <= 0.0101 * c * np.sqrt(np.mean(a[off] ** 2))
        # no click: no sample step bigger than the take's own (scaled) steepest one
        assert np.abs(np.diff(b)).max() <= c * np.abs(np.diff(a)).max() * 1.001
        # the model's own events between the markers are gone, those on the markers stay
        est_k, est_q = detect_onsets(k.audio), detect_onsets(q.audio)
        assert onset_f1(MARKS_S, est_q, 0.1) >= onset_f1(MARKS_S, est_k, 0.1)
        assert all(min(abs(t - m) for m in MARKS_S) <= 0.1 for t in est_q), est_q


def test_keep_is_the_engine_without_the_gate(tiny, monkeypatch):
    auto = generate(_req(), engine=tiny)          # the default: "auto", gated for a hit
    assert auto.between_markers == "quiet" and GenerateRequest(None, 0, 1, "x").between_markers \
        == marker_gate.DEFAULT_MODE == "auto"

    def never(*_a, **_k):
        raise AssertionError("the gate ran")

    monkeypatch.setattr(marker_gate, "apply", never)
    keep = generate(_req(between_markers="keep"), engine=tiny)
    monkeypatch.setattr(marker_gate, "apply", lambda audio, _marks, *a: audio)
    ungated = generate(_req(between_markers="quiet"), engine=tiny)
    for k, u in zip(keep.takes, ungated.takes):
        np.testing.assert_array_equal(k.audio, u.audio)
    # without markers nothing is gated or reported, whatever the setting
    plain = generate(GenerateRequest(None, 0, 3 * SR, "a heavy impact", seeds=[1],
                                     between_markers="quiet"), engine=tiny)
    assert plain.between_markers is None and "between_markers" not in plain.to_dict()


def test_a_bed_prompt_is_kept_whole_unless_quiet_is_asked(tiny):
    bed = generate(_req("fire crackling", between_markers="auto"), engine=tiny)
    keep = generate(_req("fire crackling", between_markers="keep"), engine=tiny)
    assert bed.between_markers == "keep"
    assert any("continuous sound" in n and "fire" in n for n in bed.notes), bed.notes
    for a, b in zip(bed.takes, keep.takes):
        np.testing.assert_array_equal(a.audio, b.audio)
    forced = generate(_req("fire crackling", between_markers="quiet"), engine=tiny)
    assert forced.between_markers == "quiet"
    off = _interior(3 * SR, False)
    assert np.abs(forced.takes[0].audio[off]).max() < 0.05 * np.abs(keep.takes[0].audio[off]).max()


def test_bad_setting_and_a_package_that_cannot_follow_markers(tmp_path):
    plain = Engine(testpkg.build(tmp_path / "plain", alpha=0.02, int8=False), "fp32", "cpu")
    req = GenerateRequest(None, 0, 2 * SR, "door slam", markers=[(SR // 2, 1.0)],
                          between_markers="silence")
    with pytest.raises(GenerationError) as e:
        generate(req, engine=plain)
    assert "keep, quiet, auto" in str(e.value) and "\n" not in str(e.value)
    # its events follow the picture, not the markers: auto leaves them, quiet is obeyed
    req.between_markers = "auto"
    auto = generate(req, engine=plain)
    req.between_markers = "keep"
    keep = generate(req, engine=plain)
    assert auto.between_markers == "keep"
    np.testing.assert_array_equal(auto.takes[0].audio, keep.takes[0].audio)
    req.between_markers = "quiet"
    assert generate(req, engine=plain).between_markers == "quiet"


# ------------------------------------------------------------------ CLI and the take record

def test_cli_flag_round_trip_into_the_report_and_the_wav(tmp_path):
    env = {**os.environ, "FOLEY_DESKTOP_DATA": str(tmp_path / "data"),
           "FOLEY_DESKTOP_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    marks = ",".join(f"{t}@hit" for t in MARKS_S)
    out = {}
    for flag in ("quiet", "keep", None):
        wav = tmp_path / f"{flag}.wav"
        args = [sys.executable, "-m", "foley_desktop", "generate", "--prompt", "a heavy impact",
                "--duration", "3", "--seed", "1", "--markers", marks, "--json", "-o", str(wav)]
        if flag:
            args += ["--between-markers", flag]
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120,
                           check=False)
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        want = "keep" if flag == "keep" else "quiet"
        assert rep["between_markers"] == want
        assert rep["params"]["between_markers"] == (flag or "auto")
        assert rep["params"]["effective"]["between_markers"] == want
        audio, sr = soundfile.read(wav, dtype="float64")
        assert sr == SR and len(audio) == 3 * SR
        assert f"between_markers: {flag or 'auto'}\n".encode() in wav.read_bytes()  # iXML
        out[flag] = audio
    off = _interior(3 * SR, False)
    np.testing.assert_array_equal(out["quiet"], out[None])      # the default is auto: quiet
    assert np.abs(out["quiet"][off]).max() < 0.02 * np.abs(out["keep"][off]).max()
    bad = subprocess.run([sys.executable, "-m", "foley_desktop", "generate", "--prompt", "x",
                          "--duration", "1", "--between-markers", "mute", "-o",
                          str(tmp_path / "x.wav")], capture_output=True, text=True, env=env,
                         timeout=60, check=False)
    assert bad.returncode != 0 and "between-markers" in bad.stderr


def test_take_record_and_key(tiny):
    import dataclasses

    from foley_desktop.app.generate import generate_clip
    from foley_desktop.app.params import resolve
    from foley_desktop.project.model import Segment
    from foley_desktop.spotting.markers import Marker

    marks = [Marker(round(t * SR), "hit") for t in MARKS_S]
    seg = Segment(id="s", start=0, end=3 * SR, prompt="a heavy impact", seed=1, markers=marks)
    p = resolve(seg)
    assert p.between_markers == "auto"
    result, records, syncs = generate_clip(p, None, [1])
    assert records[0]["between_markers"] == "auto"
    assert records[0]["effective"]["between_markers"] == "quiet"
    assert result.between_markers == "quiet" and syncs[0]["n_markers"] == 2
    keep = dataclasses.replace(p, between_markers="keep")
    assert keep.key != p.key and keep.record(1)["between_markers"] == "keep"
    seg.between_markers = "keep"              # the segment's own setting resolves the same
    assert resolve(seg).key == keep.key
    # without markers, or in library mode, the setting changes nothing and is not in the key
    bare = resolve(Segment(id="s", start=0, end=3 * SR, prompt="a heavy impact", seed=1))
    assert "between_markers" not in bare.identity()
    assert dataclasses.replace(bare, between_markers="keep").key == bare.key
    lib = resolve(Segment(id="s", start=0, end=3 * SR, prompt="steps", seed=1, markers=marks,
                          mode="library"))
    assert "between_markers" not in lib.identity()


def test_the_segment_setting_is_saved_set_from_the_cli_and_refused_when_bad(tmp_path):
    """`project add-segment / edit-segment --between-markers`: saved in the project (only when
    not auto), read back, shown by `project show`, undone to auto; a bad value is one message
    and exit 2, and the project file is left as it was."""
    from foley_desktop.project.io import load

    clip = Path(__file__).resolve().parent.parent / "resources" / "demo" / "walkers.mp4"
    env = {**os.environ, "FOLEY_DESKTOP_DATA": str(tmp_path / "data"),
           "FOLEY_DESKTOP_CACHE": str(tmp_path / "cache")}
    proj = tmp_path / "w.foley"

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "foley_desktop", "project", *a],
                              capture_output=True, text=True, env=env, timeout=60, check=False)

    assert cli("new", str(clip), "-o", str(proj)).returncode == 0
    r = cli("add-segment", str(proj), "--start", "0", "--end", "3", "--prompt", "a heavy thud",
            "--markers", "0.3,0.8", "--between-markers", "keep")
    assert r.returncode == 0, r.stderr
    (seg,) = load(proj).segments
    assert seg.between_markers == "keep" and '"between_markers": "keep"' in proj.read_text()
    assert "between markers: keep" in cli("show", str(proj)).stdout
    before = proj.read_bytes()
    bad = cli("edit-segment", str(proj), seg.id, "--between-markers", "sometimes")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "auto, quiet or keep" in bad.stderr and proj.read_bytes() == before
    assert cli("edit-segment", str(proj), seg.id, "--between-markers", "auto").returncode == 0
    assert load(proj).segments[0].between_markers == "auto"
    assert "between_markers" not in proj.read_text()
