"""Project files: save/load round trip, validation, migration, path rules, autosave."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from foley_desktop.errors import ProjectError
from foley_desktop.project import autosave, io
from foley_desktop.project.model import Project, Segment, Take
from foley_desktop.project.schema import FORMAT_VERSION, migrate, validate

DATA = Path(__file__).parent / "data"


def make_project(folder: Path, duration=480000) -> Project:
    clip = folder / "clip.mp4"
    clip.write_bytes(b"not read by these tests")
    return Project(media=clip, media_info={"duration_samples": duration, "fps": "30000/1001",
                                           "timecode": "01:00:00;00", "drop_frame": True,
                                           "audio_channels": 2},
                   segments=[Segment(id="seg-a", start=4800, end=52800, prompt="door slam",
                                     seed=3, variations=2)], name="demo")


def test_round_trip_keeps_everything(tmp_path):
    p = make_project(tmp_path)
    take_file = tmp_path / "demo.foley-cache" / "takes" / "seg-a" / "t1.wav"
    take_file.parent.mkdir(parents=True)
    take_file.write_bytes(b"RIFF")
    p.segments[0].takes.append(Take(id="take-1", path=take_file, seed=3, model="tiny",
                                    variant="int8", provider="CPUExecutionProvider"))
    p.segments[0].active_take = "take-1"
    p.stems = {"dialogue": tmp_path / "demo.foley-cache" / "dx.wav"}
    p.save(tmp_path / "demo.foley")
    doc = json.loads((tmp_path / "demo.foley").read_text())
    assert doc["format_version"] == FORMAT_VERSION
    # Paths are stored relative to the project file.
    assert doc["media"] == "clip.mp4"
    assert doc["segments"][0]["takes"][0]["path"] == "demo.foley-cache/takes/seg-a/t1.wav"
    q = Project.load(tmp_path / "demo.foley")
    assert q == p
    assert q.cache_dir == tmp_path / "demo.foley-cache"


def test_round_trip_keeps_how_the_prompt_was_read(tmp_path):
    """A take generated from the model's training prompt records it; a segment may ask for
    its prompt as typed. Both survive saving; older files without them load as before."""
    p = make_project(tmp_path)
    take_file = tmp_path / "demo.foley-cache" / "takes" / "seg-a" / "t1.wav"
    take_file.parent.mkdir(parents=True)
    take_file.write_bytes(b"RIFF")
    p.segments[0].takes.append(Take(id="take-1", path=take_file, seed=3,
                                    prompt_used="footsteps on gravel"))
    p.segments[0].literal_prompt = True
    p.save(tmp_path / "demo.foley")
    doc = json.loads((tmp_path / "demo.foley").read_text())
    assert doc["segments"][0]["literal_prompt"] is True
    assert doc["segments"][0]["takes"][0]["prompt_used"] == "footsteps on gravel"
    assert Project.load(tmp_path / "demo.foley") == p
    del doc["segments"][0]["literal_prompt"], doc["segments"][0]["takes"][0]["prompt_used"]
    (tmp_path / "demo.foley").write_text(json.dumps(doc))
    q = Project.load(tmp_path / "demo.foley")
    assert q.segments[0].literal_prompt is False and q.segments[0].takes[0].prompt_used == ""
    doc["segments"][0]["literal_prompt"] = "yes"
    (tmp_path / "demo.foley").write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="literal_prompt"):
        Project.load(tmp_path / "demo.foley")


def test_moving_the_folder_keeps_relative_media(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    p = make_project(a)
    io.save(p, a / "x.foley")
    shutil.move(str(a), str(tmp_path / "b"))
    q = io.load(tmp_path / "b" / "x.foley")
    assert q.media == tmp_path / "b" / "clip.mp4"
    assert q.media.exists()


def test_media_outside_the_folder_is_referenced_with_dotdot(tmp_path):
    (tmp_path / "proj").mkdir()
    p = make_project(tmp_path)
    io.save(p, tmp_path / "proj" / "x.foley")
    assert json.loads((tmp_path / "proj" / "x.foley").read_text())["media"] == "../clip.mp4"
    assert io.load(tmp_path / "proj" / "x.foley").media == tmp_path / "clip.mp4"


def test_take_outside_the_project_folder_is_refused(tmp_path):
    p = make_project(tmp_path)
    io.save(p, tmp_path / "x.foley")
    doc = json.loads((tmp_path / "x.foley").read_text())
    doc["segments"][0]["takes"] = [{"id": "t", "path": "../../etc/evil.wav", "seed": 1}]
    (tmp_path / "x.foley").write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="outside the project folder"):
        io.load(tmp_path / "x.foley")


def test_save_as_elsewhere_copies_takes_inside(tmp_path):
    p = make_project(tmp_path)
    io.save(p, tmp_path / "x.foley")
    take = p.cache_dir / "takes" / "seg-a" / "t.wav"
    take.parent.mkdir(parents=True)
    take.write_bytes(b"take data")
    p.segments[0].takes.append(Take(id="t", path=take, seed=0))
    other = tmp_path / "other"
    other.mkdir()
    io.save(p, other / "y.foley")
    moved = p.segments[0].takes[0].path
    assert moved == other / "y.foley-cache" / "takes" / "seg-a" / "t.wav"
    assert moved.read_bytes() == b"take data"
    assert io.load(other / "y.foley").segments[0].takes[0].path == moved


@pytest.mark.parametrize("content, message", [
    (b"{\"format_version\": 1, ", "corrupt"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[]", "JSON object"),
    (b"{\"hello\": 1}", "no \"format_version\""),
    (b"{\"format_version\": 99, \"media\": \"x\"}", "newer Foley Desktop"),
    (b"{\"format_version\": \"one\"}", "not a version number"),
])
def test_bad_files_give_a_clear_project_error(tmp_path, content, message):
    f = tmp_path / "bad.foley"
    f.write_bytes(content)
    with pytest.raises(ProjectError, match=message) as exc:
        io.load(f)
    assert "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ProjectError, match="no such project file"):
        io.load(tmp_path / "nope.foley")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["segments"][0].update(start=1.5), r"segments\[0\]\.start: expected an integer"),
    (lambda d: d["segments"][0].update(end=10), "must be after start"),
    (lambda d: d["segments"][0].update(end=10**9), "past the clip's end"),
    (lambda d: d["segments"][0].pop("prompt"), "missing field 'prompt'"),
    (lambda d: d["segments"][0].update(active_take="ghost"), "not one of the segment's takes"),
    (lambda d: d["segments"].append(dict(d["segments"][0])), "duplicate id"),
    (lambda d: d["media_info"].update(fps="29.97"), "media_info.fps"),
    (lambda d: d["stems"].update(music="m.wav"), "unknown stem"),
])
def test_validation_names_the_bad_field(tmp_path, mutate, message):
    p = make_project(tmp_path)
    doc = io.to_dict(p, tmp_path)
    validate(doc)
    mutate(doc)
    with pytest.raises(ProjectError, match=message):
        validate(doc)


def test_v0_fixture_migrates(tmp_path):
    shutil.copy(DATA / "project_v0.foley", tmp_path / "old.foley")
    p = io.load(tmp_path / "old.foley")
    assert p.media == tmp_path / "movie-hello.mp4"
    assert p.duration_samples == round(8.329 * 48000)
    assert p.media_info["fps"] == "30000/1001"
    a, b = p.segments
    assert (a.start, a.end) == (24000, 60000)
    assert (b.start, b.end) == (192000, 384000)
    assert [t.seed for t in a.takes] == [7, 8]
    assert a.active_take == a.takes[-1].id
    assert a.takes[0].path == tmp_path / "movie-hello.foley-cache/takes/door-1.wav"
    assert b.negative == "music" and b.takes == [] and b.active_take is None
    # Saving writes the current version; reading it back gives the same project.
    io.save(p)
    assert json.loads((tmp_path / "old.foley").read_text())["format_version"] == FORMAT_VERSION
    assert io.load(tmp_path / "old.foley") == p


def test_migrate_leaves_input_alone():
    doc = json.loads((DATA / "project_v0.foley").read_text())
    before = json.dumps(doc, sort_keys=True)
    out = migrate(doc)
    assert out["format_version"] == FORMAT_VERSION
    assert json.dumps(doc, sort_keys=True) == before


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    p = make_project(tmp_path)
    io.save(p, tmp_path / "x.foley")
    before = (tmp_path / "x.foley").read_bytes()
    p.segments[0].prompt = "changed"

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(ProjectError, match="No space left"):
        io.save(p)
    assert (tmp_path / "x.foley").read_bytes() == before
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")] == []


def test_save_refuses_wrong_suffix_and_missing_folder(tmp_path):
    p = make_project(tmp_path)
    with pytest.raises(ProjectError, match=r"end in \.foley"):
        io.save(p, tmp_path / "x.json")
    with pytest.raises(ProjectError, match="no such folder"):
        io.save(p, tmp_path / "nope" / "x.foley")


def test_autosave_and_recovery(tmp_path):
    p = make_project(tmp_path)
    io.save(p, tmp_path / "x.foley")
    assert autosave.find_recovery(tmp_path / "x.foley") is None
    p.segments[0].prompt = "unsaved edit"
    auto = autosave.write_autosave(p)
    assert auto == tmp_path / ".x.foley.autosave"
    # The real file is untouched; recovery is offered and brings the edit back.
    assert io.load(tmp_path / "x.foley").segments[0].prompt == "door slam"
    assert autosave.find_recovery(tmp_path / "x.foley") == auto
    r = autosave.load_recovery(tmp_path / "x.foley")
    assert r.segments[0].prompt == "unsaved edit" and r.path == tmp_path / "x.foley"
    io.save(r)
    autosave.discard_autosave(r)
    assert autosave.find_recovery(tmp_path / "x.foley") is None


def test_stale_autosave_equal_to_file_is_not_offered(tmp_path):
    p = make_project(tmp_path)
    io.save(p, tmp_path / "x.foley")
    autosave.write_autosave(p)
    assert autosave.find_recovery(tmp_path / "x.foley") is None
    assert not (tmp_path / ".x.foley.autosave").exists()


def test_untitled_project_autosaves_in_user_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_DESKTOP_DATA", str(tmp_path / "data"))
    p = make_project(tmp_path)
    auto = autosave.write_autosave(p)
    assert auto.parent == tmp_path / "data" / "autosave"
    assert io.load(auto).segments == p.segments


def test_new_project_from_a_real_clip(clip_hello, tmp_path):
    p = io.new_project(clip_hello)
    assert p.duration_samples == 399792
    assert p.media_info["fps"] == "30/1"
    assert p.media_info["audio_channels"] == 2
    io.save(p, tmp_path / "hello.foley")
    assert io.load(tmp_path / "hello.foley").media == clip_hello
