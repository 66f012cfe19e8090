"""Undoable edit commands and the undo stack."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foley_desktop.errors import ProjectError
from foley_desktop.project.commands import (
    AddSegment,
    AddTake,
    Macro,
    MoveSegment,
    RemoveSegment,
    RemoveTake,
    SetActiveTake,
    SetSegmentField,
    SetStems,
    TrimSegment,
    UndoStack,
)
from foley_desktop.project.model import Project, Segment, Take

DUR = 480000


def project() -> Project:
    return Project(media=Path("/clips/c.mp4"), media_info={"duration_samples": DUR},
                   segments=[Segment(id="s1", start=1000, end=5000, prompt="steps")])


def test_each_command_applies_and_reverts_exactly():
    p = project()
    take = Take(id="t1", path=Path("/p/t1.wav"), seed=1)
    take2 = Take(id="t2", path=Path("/p/t2.wav"), seed=2)
    cmds = [
        AddSegment(Segment(id="s2", start=0, end=48000, prompt="rain")),
        MoveSegment("s1", 20000),
        TrimSegment("s1", start=19000, end=30000),
        SetSegmentField("s1", "prompt", "boots on gravel"),
        SetSegmentField("s1", "seed", 42),
        SetSegmentField("s1", "gain_db", -6.0),
        AddTake("s1", take),
        AddTake("s1", take2, make_active=False),
        SetActiveTake("s1", "t2"),
        RemoveTake("s1", "t2"),
        SetStems({"dialogue": Path("/p/dx.wav")}),
        RemoveSegment("s2"),
    ]
    stack = UndoStack(p)
    states = [copy.deepcopy(p)]
    for c in cmds:
        stack.push(c)
        states.append(copy.deepcopy(p))
    seg = p.segment("s1")
    assert (seg.start, seg.end, seg.prompt, seg.seed, seg.gain_db) == (19000, 30000, "boots on gravel", 42, -6.0)
    assert [t.id for t in seg.takes] == ["t1"] and seg.active_take == "t1"
    for expected in reversed(states[:-1]):
        stack.undo()
        assert p == expected
    for expected in states[1:]:
        stack.redo()
        assert p == expected


@pytest.mark.parametrize("cmd, message", [
    (AddSegment(Segment(id="x", start=10, end=5, prompt="p")), "end after it starts"),
    (AddSegment(Segment(id="x", start=0, end=DUR + 1, prompt="p")), "past the clip's end"),
    (AddSegment(Segment(id="s1", start=0, end=10, prompt="p")), "already has a segment"),
    (MoveSegment("s1", DUR - 100), "past the clip's end"),
    (MoveSegment("s1", -1), "before the clip"),
    (TrimSegment("s1", end=500), "end after it starts"),
    (SetSegmentField("s1", "prompt", "  "), "non-empty"),
    (SetSegmentField("s1", "variations", 0), "1 to 64"),
    (SetSegmentField("s1", "start", 0), "cannot set 'start'"),
    (SetActiveTake("s1", "nope"), "no take"),
    (RemoveSegment("ghost"), "no segment"),
])
def test_refused_edit_changes_nothing_and_records_nothing(cmd, message):
    p = project()
    stack = UndoStack(p)
    before = copy.deepcopy(p)
    with pytest.raises(ProjectError, match=message):
        stack.push(cmd)
    assert p == before
    assert not stack.can_undo


def test_clean_state_and_listeners():
    p = project()
    stack = UndoStack(p)
    seen = []
    stack.on_change(lambda: seen.append(stack.is_clean))
    assert stack.is_clean
    stack.push(SetSegmentField("s1", "prompt", "a"))
    assert not stack.is_clean and stack.undo_text == "set prompt"
    stack.set_clean()
    stack.undo()
    assert not stack.is_clean and stack.redo_text == "set prompt"
    stack.redo()
    assert stack.is_clean
    stack.undo()
    stack.push(SetSegmentField("s1", "prompt", "b"))  # the saved state is now unreachable
    assert not stack.is_clean
    stack.undo()
    assert not stack.is_clean
    assert len(seen) == 7


def test_macro_is_all_or_nothing():
    p = project()
    stack = UndoStack(p)
    before = copy.deepcopy(p)
    bad = Macro([SetSegmentField("s1", "prompt", "ok"), MoveSegment("s1", DUR)], "two")
    with pytest.raises(ProjectError):
        stack.push(bad)
    assert p == before
    stack.push(Macro([AddSegment(Segment(id="a", start=0, end=10, prompt="x")),
                      AddSegment(Segment(id="b", start=10, end=20, prompt="y"))], "add two"))
    assert [s.id for s in p.segments] == ["s1", "a", "b"]
    stack.undo()
    assert p == before


def test_limit_drops_oldest():
    p = project()
    stack = UndoStack(p, limit=3)
    for i in range(5):
        stack.push(SetSegmentField("s1", "seed", i))
    for _ in range(10):
        stack.undo()
    assert p.segment("s1").seed == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["move", "trim", "add", "remove", "undo", "redo"]),
                          st.integers(0, DUR), st.integers(1, DUR)), max_size=25))
def test_random_edit_sequences_undo_to_the_start(ops):
    p = project()
    start = copy.deepcopy(p)
    stack = UndoStack(p)
    n = 0
    for op, a, b in ops:
        ids = [s.id for s in p.segments]
        try:
            if op == "move" and ids:
                stack.push(MoveSegment(ids[a % len(ids)], a))
            elif op == "trim" and ids:
                stack.push(TrimSegment(ids[a % len(ids)], start=min(a, b), end=max(a, b)))
            elif op == "add":
                n += 1
                stack.push(AddSegment(Segment(id=f"n{n}", start=min(a, b), end=max(a, b), prompt="p")))
            elif op == "remove" and ids:
                stack.push(RemoveSegment(ids[a % len(ids)]))
            elif op == "undo":
                stack.undo()
            elif op == "redo":
                stack.redo()
        except ProjectError:
            pass
        for s in p.segments:
            assert 0 <= s.start < s.end <= DUR
    while stack.can_undo:
        stack.undo()
    assert p == start


def test_range_errors_speak_seconds_and_timecode_not_samples():
    """An editor reads "10.000 s (00:00:10:00)", not "480001 > 480000 samples"."""
    p = project()
    p.media_info["fps"] = "25/1"
    with pytest.raises(ProjectError) as exc:
        UndoStack(p).push(AddSegment(Segment(id="x", start=0, end=DUR + 480, prompt="p")))
    text = str(exc.value)
    assert "10.010 s (00:00:10:00)" in text and "10.000 s (00:00:10:00)" in text
    assert "samples" not in text
    p.media_info["fps"] = None
    with pytest.raises(ProjectError) as exc:
        UndoStack(p).push(TrimSegment("s1", end=500))
    assert "samples" not in str(exc.value) and " s to " in str(exc.value)



def test_a_refused_field_is_named_as_the_editor_knows_it():
    """`project add-segment --gain 50` said "gain_db must be -96 to 24 dB"."""
    p = project()
    for field, value, said in (("gain_db", 50.0, "gain must be -96 to 24 dB, not 50.0"),
                               ("visual_guidance", -1.0, "picture guidance must be 0 to 100")):
        with pytest.raises(ProjectError, match=said):
            SetSegmentField("s1", field, value).apply(p)
