"""Spotting markers in projects: saved and validated, undoable, edited from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from foley_desktop.errors import ProjectError
from foley_desktop.project import io
from foley_desktop.project.commands import SetSegmentField, UndoStack
from foley_desktop.project.model import Segment
from foley_desktop.spotting.markers import Marker, parse_list


@pytest.fixture
def project(clip_tank, tmp_path):
    p = io.new_project(clip_tank)
    p.segments = [Segment(id="a", start=0, end=96000, prompt="metal hits")]
    io.save(p, tmp_path / "m.foley")
    return p


def test_markers_round_trip_sorted_and_undoable(project):
    stack = UndoStack(project)
    marks = [Marker(60000, "hit", 0.5), Marker(12000, "footstep", 1.0, "auto"), Marker(12000)]
    stack.push(SetSegmentField("a", "markers", marks))
    assert [m.time for m in project.segment("a").markers] == [12000, 60000]
    io.save(project)
    again = io.load(project.path)
    assert again.segment("a").markers == project.segment("a").markers
    assert again.segment("a").markers[0].source == "auto"
    stack.undo()
    assert project.segment("a").markers == []


def test_bad_markers_are_refused(project, tmp_path):
    with pytest.raises(ProjectError, match="past the clip's end"):
        SetSegmentField("a", "markers", [Marker(10 ** 9)]).apply(project)
    with pytest.raises(ValueError):
        Marker(-1)
    with pytest.raises(ValueError):
        Marker(10, "boom")
    doc = io.to_dict(project, project.path.parent)
    doc["segments"][0]["markers"] = [{"time": 1.5}]
    bad = tmp_path / "bad.foley"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match=r"segments\[0\].markers\[0\].time"):
        io.load(bad)


def test_parse_list_reads_times_kinds_and_strengths():
    from foley_desktop.media.timebase import parse_time

    marks = parse_list("2.5@hit@0.3, 1,00:00:03:12@footstep", lambda t: parse_time(t, 25))
    assert [(m.time, m.kind, m.strength) for m in marks] == [
        (48000, "other", 1.0), (120000, "hit", 0.3), (3 * 48000 + 12 * 1920, "footstep", 1.0)]
    with pytest.raises(ValueError, match="strength"):
        parse_list("1@hit@loud", parse_time)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "foley_desktop.cli", *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_cli_sets_clears_and_refuses_markers(project):
    r = _cli("project", "edit-segment", project.path, "a", "--markers", "0.5,1.25@hit@0.4")
    assert r.returncode == 0, r.stderr
    seg = io.load(project.path).segment("a")
    assert [(m.time, m.kind) for m in seg.markers] == [(24000, "other"), (60000, "hit")]
    shown = _cli("project", "show", project.path)
    assert "markers (2): 0.500, 1.250@hit" in shown.stdout
    r = _cli("project", "edit-segment", project.path, "a", "--markers", "9")
    assert r.returncode == 2 and "outside the segment" in r.stderr and "Traceback" not in r.stderr
    r = _cli("project", "edit-segment", project.path, "a", "--markers", "none", "--mode", "library")
    assert r.returncode == 0, r.stderr
    seg = io.load(project.path).segment("a")
    assert seg.markers == [] and seg.mode == "library"
