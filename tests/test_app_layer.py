"""The application layer without Qt: resolved parameters and their key, the engine cache,
typed preferences."""

from __future__ import annotations

import threading
import time

import pytest

from foley_desktop.app.engines import EngineCache
from foley_desktop.app.params import resolve, seeds_to_run
from foley_desktop.app.preferences import PRECISION_CHOICES, PROVIDER_CHOICES, Preferences
from foley_desktop.engine import testpkg
from foley_desktop.errors import ModelPackageError
from foley_desktop.project.model import Segment, Take
from foley_desktop.spotting.markers import Marker


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    return testpkg.build(tmp_path_factory.mktemp("pkg") / "analytic", int8=False)


def seg(**kw) -> Segment:
    return Segment(**{"id": "s", "start": 0, "end": 48000, "prompt": "door slam", "seed": 3,
                      "variations": 2, **kw})


def test_resolution_order_and_what_the_key_covers(pkg):
    prefs = Preferences(default_model=str(pkg), precision="fp32", provider="cpu")
    p = resolve(seg(), prefs)
    assert (p.model.name, p.precision, p.provider) == ("test-analytic", "fp32", "cpu")
    assert len(p.model.hash) == 16 and p.engine_version
    # The segment's own precision wins over the preferences; an explicit flag over both.
    assert resolve(seg(precision="int8"), prefs).precision == "int8"
    assert resolve(seg(precision="int8"), prefs, precision="fp16").precision == "fp16"
    # Every parameter that makes the audio changes the key; seed, variations, provider do not.
    base = p.key
    for change in ({"prompt": "door creak"}, {"negative": "music"}, {"steps": 7},
                   {"guidance": 3.0}, {"visual_guidance": 2.0}, {"literal_prompt": True},
                   {"start": 10}, {"markers": [Marker(1000, "hit")]}, {"precision": "int8"}):
        assert resolve(seg(**change), prefs).key != base, change
    for same in ({"seed": 99}, {"variations": 5}):
        assert resolve(seg(**same), prefs).key == base, same
    assert resolve(seg(), prefs.replace(provider="auto")).key == base
    # The request is built from the same value.
    req = p.request(None, [3, 4])
    assert (req.prompt, req.seeds, req.steps, req.markers) == ("door slam", [3, 4], None, None)


def test_a_changed_model_file_changes_the_key(pkg, tmp_path):
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(pkg, copy)
    prefs = Preferences(default_model=str(copy))
    before = resolve(seg(), prefs)
    m = json.loads((copy / "manifest.json").read_text())
    m["description"] = "retrained"
    time.sleep(0.01)
    (copy / "manifest.json").write_text(json.dumps(m))
    after = resolve(seg(), prefs)
    assert after.model.hash != before.model.hash and after.key != before.key
    with pytest.raises(ModelPackageError):
        resolve(seg(model="no-such-model"), prefs)


def test_seeds_to_run_by_key_and_legacy_records(pkg):
    prefs = Preferences(default_model=str(pkg))
    s = seg()
    p = resolve(s, prefs)
    assert seeds_to_run(s, p) == [3, 4]
    s.takes = [Take(id="t1", path="/x.wav", seed=3, params=p.record(3))]
    assert seeds_to_run(s, p) == [4]
    s.prompt = "door creak"
    assert seeds_to_run(s, resolve(s, prefs)) == [3, 4]
    # Random seeds: the variations count, not the seeds.
    r = seg(seed=None)
    pr = resolve(r, prefs)
    r.takes = [Take(id="t1", path="/x.wav", seed=12345, params=pr.record(12345))]
    assert len(seeds_to_run(r, pr)) == 1
    # A take from before records: counts for its seed; one from before keys: field by field.
    s.takes = [Take(id="t0", path="/x.wav", seed=3)]
    assert seeds_to_run(s, resolve(s, prefs)) == [4]
    legacy = {"mode": "model", "prompt": "door creak", "negative": None, "steps": None,
              "guidance": None, "visual_guidance": None, "literal_prompt": False,
              "model": str(pkg), "precision": "auto", "start": 0, "end": 48000, "pinned": [],
              "markers": None}
    s.takes = [Take(id="t0", path="/x.wav", seed=4, params=legacy)]
    s.model = str(pkg)
    assert seeds_to_run(s, resolve(s, prefs)) == [3]


def test_engine_cache_is_bounded_and_loads_once_under_threads():
    made = []

    def factory(model, precision, provider):
        time.sleep(0.05)
        made.append(model)
        return object()

    cache = EngineCache(2, factory)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("a", "auto", "cpu")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == ["a"] and len({id(g) for g in got}) == 1
    cache.get("b", "auto", "cpu")
    cache.get("a", "auto", "cpu")      # a is now the most recent
    cache.get("c", "auto", "cpu")      # b goes
    assert [k[0] for k in cache.keys()]  # noqa: SIM118 - a method, not a dict == ["a", "c"] and made == ["a", "b", "c"]
    cache.clear()
    assert len(cache) == 0


def test_preferences_are_typed_with_one_choice_list():
    from foley_desktop.engine.package import PRECISIONS
    from foley_desktop.engine.providers import CHOICES

    assert ("auto", *PRECISIONS) == PRECISION_CHOICES
    assert set(PROVIDER_CHOICES) == set(CHOICES)
    with pytest.raises(ValueError, match="precision"):
        Preferences(precision="int4")
    with pytest.raises(TypeError):
        Preferences(cache_dir=3)
    # A stored value of the wrong type or outside its choices reads as the default.
    p = Preferences.from_stored({"precision": "int4", "provider": "cuda", "cache_dir": 7})
    assert (p.precision, p.provider, p.cache_dir) == ("auto", "cuda", "")


def test_editing_decisions(tmp_path):
    from pathlib import Path

    from foley_desktop.app.editing import ab_partner, marker_kind, marker_segment, work_folder
    from foley_desktop.project.model import Project

    p = Project(media=Path("/clips/walk.mp4"), media_info={"duration_samples": 480000},
                segments=[seg(id="a", start=0, end=48000), seg(id="b", start=24000, end=96000)])
    assert marker_segment(p, 30000, []).id == "a"
    assert marker_segment(p, 30000, ["b"]).id == "b"
    assert marker_segment(p, 200000, ["a"]) is None
    assert (marker_kind("Footsteps on gravel"), marker_kind("slow walking"),
            marker_kind("door slam")) == ("footstep", "footstep", "hit")
    assert work_folder(p, tmp_path) == tmp_path / "unsaved" / "walk"
    p.path = tmp_path / "w.foley"
    assert work_folder(p, tmp_path) == tmp_path / "w.foley-cache"
    s = p.segments[0]
    assert ab_partner(s, None) is None
    s.takes = [Take(id=i, path=Path(f"/{i}.wav"), seed=0) for i in ("t1", "t2", "t3")]
    s.active_take = "t1"
    assert ab_partner(s, None) == "t2" and ab_partner(s, "t3") == "t3"
    assert ab_partner(s, "gone") == "t2" and ab_partner(s, "t1") == "t2"
    s.active_take = "t3"
    assert ab_partner(s, None) == "t1"


def test_changed_since_names_what_the_editor_changed(pkg):
    from foley_desktop.app.params import changed_since

    s = seg(markers=[Marker(1000, "hit")])
    rec = resolve(s, Preferences(default_model=str(pkg))).record(3)
    assert changed_since(s, rec) == [] and changed_since(s, {}) == []
    s.prompt, s.guidance, s.end = "door creak", 4.0, 40000
    s.markers = [Marker(2000, "hit")]
    assert changed_since(s, rec) == ["prompt", "guidance", "span", "markers"]
