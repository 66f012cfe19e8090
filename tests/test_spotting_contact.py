"""The contact gate's training renders and the gate itself (spotting/contact*.py).

The renderer's labels are checked against the simulated geometry (a contact is where a falling
thing's lowest point reaches the floor; mid-air things never come near a surface); the gate is
run on auto-spot's candidates of a real clip (the demo walkers, real pedestrians)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from foley_desktop.media import probe
from foley_desktop.media.timebase import seconds_to_samples
from foley_desktop.paths import resources_dir
from foley_desktop.spotting import contact, detect

ROOT = Path(__file__).resolve().parents[1]
DEMO = resources_dir() / "demo" / "walkers.mp4"


def _trainer():
    spec = importlib.util.spec_from_file_location("train_contact_gate",
                                                  ROOT / "scripts" / "train_contact_gate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_contact_gate"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_drop_labels_agree_with_the_simulated_geometry(tmp_path):
    pytest.importorskip("pybullet")
    from foley_desktop.spotting import contact_render as cr
    trace: list = []
    lab = cr.render_clip(2, "contact", tmp_path / "x.mp4", tmp_path, scene="drop",
                         seconds=1.5, encode=False, trace=trace)
    ids, steps = trace[0], trace[1:]
    strong = [c for c in lab.contacts if c["speed"] >= cr.STRONG_IMPACT]
    assert strong, lab.contacts
    floor_hits = [c for c in strong if ids["floor"] in (c["a"], c["b"])]
    for c in floor_hits:
        body = c["b"] if c["a"] == ids["floor"] else c["a"]
        z = {round(t * cr.PHYSICS_HZ): lo[2] for t, b, lo, _ in steps if b == body}
        k = round(c["t"] * cr.PHYSICS_HZ)
        # At the labelled step the thing's lowest point is at the floor (z = 0, within 1 cm);
        # 5 steps (21 ms) earlier it was above it and it came down since.
        assert abs(z[k]) < 0.01, (c, z[k])
        assert z[k - 5] > z[k] + 0.005, (c, z[k - 5], z[k])
    # Every strong contact is the first touch of its pair in at least 50 ms.
    for c in strong:
        earlier = [d for d in lab.contacts if (d["a"], d["b"]) == (c["a"], c["b"])
                   and 0 < c["t"] - d["t"] < 0.05]
        assert not earlier


def test_midair_clip_has_no_contact_and_its_stops_are_stops(tmp_path):
    pytest.importorskip("pybullet")
    from foley_desktop.spotting import contact_render as cr
    trace: list = []
    lab = cr.render_clip(3, "midair", tmp_path / "x.mp4", tmp_path, scene="stop",
                         seconds=1.5, encode=False, trace=trace)
    assert lab.contacts == [] and lab.stops
    steps = trace[1:]
    assert min(lo[2] for _, _, lo, _ in steps) > 0.5       # clear of the floor and the table
    pos = {}
    for t, b, lo, hi in steps:
        pos.setdefault(b, {})[round(t * cr.PHYSICS_HZ)] = (np.array(lo) + np.array(hi)) / 2
    for s in lab.stops:
        k = round(s["t"] * cr.PHYSICS_HZ)
        moving = [b for b, p in pos.items() if k + 12 in p and
                  np.linalg.norm(p[k] - p[k - 48]) > 1e-2]      # moved in the 0.2 s before
        assert moving
        # After a scripted stop the thing that stopped stays put (nothing drifts but the
        # constant-speed distractor, which never stops).
        assert any(np.linalg.norm(pos[b][k + 12] - pos[b][k + 2]) < 1e-3 for b in moving)


def test_render_writes_an_h264_clip_of_the_labelled_length(tmp_path):
    pytest.importorskip("pybullet")
    from foley_desktop.spotting import contact_render as cr
    out = tmp_path / "clip.mp4"
    lab = cr.render_clip(5, "midair", out, tmp_path, fps=24, seconds=0.5, width=128, height=96)
    info = probe(out)
    assert info.video is not None and info.video.fps == 24
    assert abs(info.duration_samples - seconds_to_samples(lab.n_frames / 24)) \
        <= seconds_to_samples(1 / 24)


@functools.cache
def _demo_candidates():
    return detect.candidates(DEMO, 0, seconds_to_samples(3), use_pose=False)


def test_features_are_finite_and_named():
    c = _demo_candidates()
    idx = contact.stop_candidates(c, 0.05, 0.1)
    assert idx
    x = np.stack([contact.features(c, i) for i in idx])
    assert x.shape == (len(idx), len(contact.FEATURES)) and np.isfinite(x).all()


def test_gate_exported_by_the_trainer_runs_on_real_candidates(tmp_path):
    """The ONNX graph the trainer writes gives what its own numpy forward pass gives, on
    auto-spot's candidates of a real clip; a gate that says "no contact" silences the motion
    cue's hits and keeps every footstep."""
    pytest.importorskip("torch")
    tr = _trainer()
    c = _demo_candidates()
    idx = contact.stop_candidates(c, 0.05, 0.1)
    x = np.stack([contact.features(c, i) for i in idx]).astype(np.float32)
    rng = np.random.default_rng(0)
    y = (rng.random(len(x)) < 0.5).astype(np.float32)
    y[:2] = [0, 1]
    model = tr.fit(x, y, 4, epochs=20)
    path = tmp_path / "gate.onnx"
    tr.export_onnx(model, path, "test")
    got = contact.contact_prob(c, idx, path)
    assert got.shape == (len(idx),) and np.all((got >= 0) & (got <= 1))
    assert np.allclose(got, tr.predict(model, x), atol=1e-5)
    params = {**detect.load_params(), "stop": 0.05}
    plain = detect.select(c, params)
    assert [e for e in plain if e[1] == "hit"]
    gated = detect.select(c, {**params, "contact_gate": 1.01, "contact_model": str(path)})
    # Footsteps are never lost (one merged into a stronger hit 0.15 s away may come back).
    assert set(e for e in plain if e[1] != "hit") <= set(gated)
    assert not [e for e in gated if e[1] == "hit"]



def test_gate_leaves_stops_near_a_walker_strike(tmp_path):
    """A gate that says "no contact" everywhere drops a hit 2 s from any walker, and leaves one
    0.5 s from an accepted stance opening (the gate learnt things, not feet)."""
    tr = _trainer()
    n_feat = len(contact.FEATURES)
    never = {"mu": np.zeros(n_feat), "sd": np.ones(n_feat),
             "layers": [(np.zeros((n_feat, 1)), np.array([-10.0]))]}
    path = tmp_path / "never.onnx"
    tr.export_onnx(never, path, "p = 0 everywhere")
    t = np.arange(100) / 25
    stop, stride = np.zeros(100), np.zeros(100)
    into = np.full(100, 1.0)
    stop[[10, 80]] = 1.0          # two stops, 0.4 s and 3.2 s
    stride[[68]] = 0.5            # a walker's strike at 2.72 s
    fd = np.full(100, 0.01)
    c = detect.Candidates(t, stop, np.zeros(100), stride, np.zeros(100), fd, into=into)
    params = {**detect.load_params(), "contact_gate": 0.5, "contact_model": str(path)}
    hits = [round(e[0], 2) for e in detect.select(c, params) if e[1] == "hit"]
    assert hits == [3.2]
    plain = [round(e[0], 2) for e in detect.select(c, detect.load_params()) if e[1] == "hit"]
    assert plain == [0.4, 3.2]
