"""A segment's auto-spot region (Segment.spot_roi): saved only when set, validated, undoable,
set and cleared from `project add-segment/edit-segment --spot-roi`, used by `--markers auto`,
printed by `project show` (with the markers' strength, auto and outside-the-segment notes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foley_desktop.cli import main
from foley_desktop.errors import ProjectError
from foley_desktop.project import io
from foley_desktop.project.commands import SetSegmentField, UndoStack
from foley_desktop.project.model import Segment
from foley_desktop.spotting.markers import Marker

WALKERS = Path(__file__).resolve().parent.parent / "resources/demo/walkers.mp4"
ROI = (500, 268, 268, 132)   # the lower-right walker (resources/demo/walkers.json)


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def project(tmp_path):
    p = io.new_project(WALKERS)
    p.segments = [Segment(id="a", start=0, end=3 * 48000, prompt="footsteps")]
    io.save(p, tmp_path / "w.foley")
    return p


def test_region_saved_only_when_set_undoable_and_checked(project):
    doc = io.to_dict(project, project.path.parent)
    assert "spot_roi" not in doc["segments"][0]
    stack = UndoStack(project)
    stack.push(SetSegmentField("a", "spot_roi", ROI))
    io.save(project)
    raw = json.loads(project.path.read_text())
    assert raw["segments"][0]["spot_roi"] == list(ROI)
    again = io.load(project.path)
    assert again.segment("a").spot_roi == ROI
    stack.undo()
    assert project.segment("a").spot_roi is None
    w, h = project.media_info["width"], project.media_info["height"]
    for bad in [(0, 0, 0, 10), (-1, 0, 5, 5), (1, 2, 3), (0, 0, w + 1, 10), (w - 10, 0, 20, 10),
                (0, h - 5, 10, 6), [1, 2, 3, 4], (1.0, 2, 3, 4), (True, 2, 3, 4)]:
        with pytest.raises(ProjectError, match="auto-spot region"):
            SetSegmentField("a", "spot_roi", bad).apply(project)
        assert project.segment("a").spot_roi is None
    SetSegmentField("a", "spot_roi", (0, 0, w, h)).apply(project)   # the whole frame is fine


def test_a_bad_region_in_the_file_is_refused(project, tmp_path):
    doc = io.to_dict(project, project.path.parent)
    w = project.media_info["width"]
    for value, message in [([1, 2, 3], "expected"), ([0, 0, 0, 4], "expected"),
                           (["1", 2, 3, 4], "expected"), ([w - 4, 0, 8, 8], "outside")]:
        doc["segments"][0]["spot_roi"] = value
        bad = tmp_path / "bad.foley"
        bad.write_text(json.dumps(doc))
        with pytest.raises(ProjectError, match=rf"segments\[0\]\.spot_roi.*{message}"):
            io.load(bad)


def test_cli_sets_clears_and_spots_in_the_region(tmp_path, capsys):
    from foley_desktop.spotting.detect import spot

    p = tmp_path / "w.foley"
    assert cli(capsys, "project", "new", WALKERS, "-o", p)[0] == 0
    rc, out, err = cli(capsys, "project", "add-segment", p, "--start", "0", "--end", "3",
                       "--prompt", "footsteps", "--spot-roi", "500,268,268,132",
                       "--markers", "auto")
    assert rc == 0, err
    sid = out.strip()
    seg = io.load(p).segment(sid)
    assert seg.spot_roi == ROI
    direct = spot(WALKERS, 0, 3 * 48000, roi=ROI)
    whole = spot(WALKERS, 0, 3 * 48000)
    assert [m.time for m in seg.markers] == [m.time for m in direct]
    assert [m.time for m in direct] != [m.time for m in whole]
    rc, out, _ = cli(capsys, "project", "show", p)
    assert rc == 0 and "auto-spot region 268x132 at 500,268" in out and "(auto)" in out
    # edit-segment --markers auto keeps using the stored region.
    assert cli(capsys, "project", "edit-segment", p, sid, "--markers", "none")[0] == 0
    assert io.load(p).segment(sid).markers == []
    assert cli(capsys, "project", "edit-segment", p, sid, "--markers", "auto")[0] == 0
    assert [m.time for m in io.load(p).segment(sid).markers] == [m.time for m in direct]
    # none clears it; the file then has no spot_roi at all.
    assert cli(capsys, "project", "edit-segment", p, sid, "--spot-roi", "none")[0] == 0
    assert io.load(p).segment(sid).spot_roi is None
    assert "spot_roi" not in p.read_text()
    assert "auto-spot region" not in cli(capsys, "project", "show", p)[1]


def test_cli_bad_regions_exit_2_in_one_line_and_leave_the_file(tmp_path, capsys):
    p = tmp_path / "w.foley"
    assert cli(capsys, "project", "new", WALKERS, "-o", p)[0] == 0
    rc, out, _ = cli(capsys, "project", "add-segment", p, "--start", "0", "--end", "3",
                     "--prompt", "footsteps", "--spot-roi", "10,10,20,20")
    sid = out.strip()
    before = p.read_bytes()
    cases = [("1,2,3", "X,Y,W,H"), ("a,b,c,d", "X,Y,W,H"), ("0,0,0,5", "size > 0"),
             ("-5,0,5,5", ">= 0"), ("700,0,200,10", "outside"), ("1.5,2,3,4", "whole pixels")]
    for value, message in cases:
        flag = f"--spot-roi={value}"   # "=": a value starting with "-" is not an option
        for args in (("edit-segment", p, sid, flag),
                     ("edit-segment", p, sid, flag, "--markers", "auto"),
                     ("add-segment", p, "--start", "0", "--end", "1", "--prompt", "x", flag)):
            rc, _, err = cli(capsys, "project", *args)
            assert rc == 2, (args, err)
            assert message in err and err.count("\n") == 1 and "Traceback" not in err
            assert p.read_bytes() == before


def test_show_says_strength_auto_and_markers_outside_the_segment(project, capsys):
    seg = project.segment("a")
    seg.markers = [Marker(24000, "footstep", 0.6, "auto"), Marker(48000, "hit"),
                   Marker(4 * 48000, "hit", 0.5)]
    io.save(project)
    rc, out, _ = cli(capsys, "project", "show", project.path)
    assert rc == 0
    line = next(s for s in out.splitlines() if "markers (3)" in s)
    assert "0.500@footstep strength 0.60 (auto)" in line
    assert "1.000@hit," in line and "1.000@hit strength" not in line
    assert "1 marker(s) outside the segment: not used (4.000)" in out
