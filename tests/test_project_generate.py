"""generate_segments with the real engine on a small analytic ONNX package and a real clip."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf
import wavinfo

from foley_desktop.app.generate import generate_segments
from foley_desktop.commands.project import run_generate
from foley_desktop.engine import testpkg
from foley_desktop.errors import Cancelled, ProjectError
from foley_desktop.jobs import CancelToken
from foley_desktop.project import io
from foley_desktop.project.model import Segment


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    return testpkg.build(tmp_path_factory.mktemp("pkg") / "analytic", int8=False)


@pytest.fixture
def project(clip_tank, tmp_path):
    p = io.new_project(clip_tank)
    p.segments = [Segment(id="a", start=12000, end=60000, prompt="engine motor idle", seed=5,
                          variations=2, precision="fp32"),
                  Segment(id="b", start=96000, end=130001, prompt="door slam", seed=40,
                          precision="fp32")]
    io.save(p, tmp_path / "tank.foley")
    return p


def test_takes_are_written_added_and_saved(project, pkg):
    seen = []
    made = generate_segments(project, package=pkg, provider="cpu", progress=seen.append)
    assert [(sid, t.seed) for sid, t in made] == [("a", 5), ("a", 6), ("b", 40)]
    saved = io.load(project.path)
    assert saved == project
    for seg in saved.segments:
        # The first take of the run is the active one, as in the window.
        assert seg.active_take == seg.takes[0].id
        for t in seg.takes:
            assert t.path.parent == project.cache_dir / "takes" / seg.id
            info = wavinfo.WavInfoReader(str(t.path))
            assert (info.fmt.sample_rate, info.fmt.audio_format, info.fmt.bits_per_sample) == (48000, 3, 32)
            audio, _ = sf.read(str(t.path), dtype="float32")
            assert len(audio) == seg.length and np.isfinite(audio).all() and np.abs(audio).max() > 0
            assert t.model == "test-analytic" and t.variant and t.provider
    # Different seeds give different takes; progress reached the total.
    a = [sf.read(str(t.path))[0] for t in saved.segments[0].takes]
    assert not np.allclose(a[0], a[1])
    assert seen[-1].done == seen[-1].total == 3
    # Running again has nothing left to do for fixed seeds.
    assert generate_segments(project, package=pkg, provider="cpu") == []


def test_cancel_keeps_finished_takes_and_resume_completes(project, pkg):
    """A segment's seeds run in one engine batch: a cancel while segment b runs keeps
    segment a's two saved takes, and running again makes only b's."""
    token = CancelToken()

    def progress(p):
        if p.done >= 2 and "segment 2/2" in p.stage and not token.cancelled:
            token.cancel()    # a's two takes are saved, b's batch is under way

    with pytest.raises(Cancelled):
        generate_segments(project, package=pkg, provider="cpu", progress=progress, cancel=token)
    saved = io.load(project.path)
    assert [t.seed for t in saved.segment("a").takes] == [5, 6]
    assert saved.segment("b").takes == []
    assert all(t.path.exists() for t in saved.segment("a").takes)
    made = generate_segments(saved, package=pkg, provider="cpu")
    assert [(sid, t.seed) for sid, t in made] == [("b", 40)]


def test_seeds_of_a_segment_run_in_one_engine_call(project, pkg):
    """The engine batches seeds: two variations are one call, and each take equals the one
    its seed gives alone."""
    from foley_desktop.app.engines import EngineCache
    from foley_desktop.engine import generate as eg

    calls = []
    real = eg.generate

    def counting(request, **kw):
        calls.append(list(request.seeds))
        return real(request, **kw)

    engines = EngineCache()
    eg.generate = counting
    try:
        made = generate_segments(project, ["a"], package=pkg, provider="cpu", engines=engines)
    finally:
        eg.generate = real
    assert calls == [[5, 6]] and len(engines) == 1
    second = sf.read(str(made[1][1].path), dtype="float32")[0]
    seg = project.segment("a")
    alone = real(eg.GenerateRequest(video=project.media, start=seg.start, end=seg.end,
                                    prompt=seg.prompt, seeds=[6]),
                 engine=engines.get(str(pkg), "fp32", "cpu")).takes[0].audio
    assert np.abs(second - alone).max() < 1e-4


def test_on_take_hands_takes_to_the_caller(project, pkg):
    got = []
    generate_segments(project, ["b"], package=pkg, provider="cpu",
                      on_take=lambda sid, t: got.append((sid, t)))
    assert [(sid, t.seed) for sid, t in got] == [("b", 40)]
    assert project.segment("b").takes == []  # the caller applies it (the GUI's undo stack)
    assert got[0][1].path.exists()


def test_errors(project, pkg, tmp_path):
    with pytest.raises(ProjectError, match="no segment 'zz'"):
        generate_segments(project, ["zz"], package=pkg)
    project.path = None
    with pytest.raises(ProjectError, match="save the project first"):
        generate_segments(project, package=pkg)


def test_cli_hook_for_generate_project(project, pkg, capsys):
    args = argparse.Namespace(project=project.path, all=False, segment=["b"], model=str(pkg),
                              precision="auto", provider="cpu", json=True)
    assert run_generate(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(o["segment"], o["seed"]) for o in out] == [("b", 40)]
    assert len(io.load(project.path).segment("b").takes) == 1
    args.all, args.segment = True, []
    assert run_generate(args) == 0
    assert [len(s.takes) for s in io.load(project.path).segments] == [2, 1]
    args.all = False
    with pytest.raises(ProjectError, match="--all or --segment"):
        run_generate(args)


def test_segment_picture_guidance_is_saved_and_used(clip_tank, pkg, tmp_path):
    """A segment's visual_guidance survives save/load and reaches the engine: the same seed
    with and without it gives different takes (three batch rows instead of two)."""
    p = io.new_project(clip_tank)
    p.segments = [Segment(id="plain", start=0, end=48000, prompt="engine motor idle", seed=9,
                          precision="fp32"),
                  Segment(id="picture", start=0, end=48000, prompt="engine motor idle", seed=9,
                          precision="fp32", visual_guidance=6.0)]
    io.save(p, tmp_path / "vg.foley")
    again = io.load(tmp_path / "vg.foley")
    assert [s.visual_guidance for s in again.segments] == [None, 6.0]
    generate_segments(again, package=pkg, provider="cpu")
    plain, picture = (sf.read(str(s.takes[0].path))[0] for s in again.segments)
    assert len(plain) == len(picture) == 48000
    assert np.abs(plain - picture).max() > 1e-3
    doc = json.loads((tmp_path / "vg.foley").read_text())
    doc["segments"][1]["visual_guidance"] = "lots"
    (tmp_path / "bad.foley").write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="visual_guidance"):
        io.load(tmp_path / "bad.foley")


def test_a_changed_prompt_or_markers_makes_new_takes_with_their_parameters(project, pkg):
    """A take records what made it; Generate after an edit makes a new take for the same seed
    (before, a fixed seed made it skip), and nothing when nothing changed."""
    from foley_desktop.project.commands import SetSegmentField
    from foley_desktop.spotting.markers import Marker

    first = generate_segments(project, ["b"], package=pkg, provider="cpu")
    assert [t.seed for _, t in first] == [40]
    t0 = first[0][1]
    assert t0.params["prompt"] == "door slam" and t0.params["model"] and t0.sync is None
    assert generate_segments(project, ["b"], package=pkg, provider="cpu") == []
    SetSegmentField("b", "prompt", "door creak").apply(project)
    again = generate_segments(project, ["b"], package=pkg, provider="cpu")
    assert [t.seed for _, t in again] == [40] and again[0][1].params["prompt"] == "door creak"
    marks = [Marker(100000, "hit", 1.0), Marker(120000, "hit", 0.5)]
    SetSegmentField("b", "markers", marks).apply(project)
    third = generate_segments(project, ["b"], package=pkg, provider="cpu")
    take = third[0][1]
    # This package cannot follow markers: the take still says how well it lands on them.
    assert take.sync is not None and take.sync["n_markers"] == 2
    saved = io.load(project.path)
    seg = saved.segment("b")
    assert seg.markers == marks and len(seg.takes) == 3
    assert seg.takes[-1].sync == take.sync and seg.takes[-1].params == take.params


def test_random_seed_segments_stop_at_their_variations(project, pkg):
    from foley_desktop.project.commands import SetSegmentField

    SetSegmentField("b", "seed", None).apply(project)
    made = generate_segments(project, ["b"], package=pkg, provider="cpu")
    assert len(made) == 1
    assert generate_segments(project, ["b"], package=pkg, provider="cpu") == []
