"""Document: the takes of one generation run are one undo step (QUndoCommand.mergeWith)."""

from __future__ import annotations

import pytest

from foley_desktop.project.model import Take

pytestmark = pytest.mark.gui


def test_takes_of_a_run_merge_into_one_undo_step(qapp, clip_tank, tmp_path):
    from foley_desktop.ui.document import Document

    doc = Document()
    doc.open_media(clip_tank)
    seg = doc.add_segment(0, 48000, "door slam")
    stack = doc.undo_stack
    run_a, run_b = object(), object()
    for i in range(3):
        doc.add_run_take(seg.id, Take(id=f"a{i}", path=tmp_path / f"a{i}.wav", seed=i), run_a,
                         make_active=i == 0)
    doc.add_run_take(seg.id, Take(id="b0", path=tmp_path / "b0.wav", seed=9), run_b,
                     make_active=True)
    assert [t.id for t in seg.takes] == ["a0", "a1", "a2", "b0"]
    assert stack.count() == 3 and stack.text(1) == "Add 3 takes"
    stack.undo()                      # run b
    assert [t.id for t in seg.takes] == ["a0", "a1", "a2"] and seg.active_take == "a0"
    stack.undo()                      # run a, all three
    assert seg.takes == [] and seg.active_take is None
    stack.redo()
    assert [t.id for t in seg.takes] == ["a0", "a1", "a2"] and seg.active_take == "a0"
    # A take of run a after another edit is a step of its own (the run's entry is not on top).
    doc.set_field(seg.id, "prompt", "door creak")
    doc.add_run_take(seg.id, Take(id="a3", path=tmp_path / "a3.wav", seed=3), run_a,
                     make_active=False)
    stack.undo()
    assert [t.id for t in seg.takes] == ["a0", "a1", "a2"] and seg.prompt == "door creak"
    doc.shutdown()
