"""AAF for Avid Media Composer and the turnover to Pro Tools, with the takes linked, not embedded.

Written with pyaaf2. Each take file becomes the usual chain of mobs:
- a tape SourceMob (TapeDescriptor) with a 48 kHz sound slot and a timecode slot from midnight,
- a file SourceMob whose WAVEDescriptor holds the file's RIFF/fmt summary, its length and a
  NetworkLocator with the file's URL (the BWF on disk is the media: nothing is copied), and
  whose sound slot starts on the tape at the file's BWF TimeReference,
- a MasterMob (what the editor sees in a bin) named after the file, the prompt as a comment.
The CompositionMob holds a timecode track at the clip's rate starting at its timecode, then one
48 kHz sound track per Foley track ("Foley 1" …): Filler and SourceClips in samples, each take
at the first sample of its frame (its file is frame aligned); the prompts and spotting markers
are locators on their track (DescriptiveMarkers). Alternates are left out: AAF tracks cannot be
disabled, so an alternate would play on top of the chosen take.
"""

from __future__ import annotations

import os
import struct
import tempfile
from typing import TYPE_CHECKING

from foley_desktop.export.placement import Item, Marker, Plan
from foley_desktop.media.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    import aaf2


_RGB16 = {"CYAN": (0, 65535, 65535), "YELLOW": (65535, 65535, 0), "GREEN": (0, 65535, 0)}


def _wave_summary(channels: int, bits: int = 24) -> bytes:
    """RIFF header + fmt chunk, what a WAVEDescriptor's Summary holds (as in the file; the
    files are still being written when the AAF is, so it is built from the export format)."""
    block = channels * bits // 8
    tag = 3 if bits == 32 else 1  # 32-bit exports are IEEE float
    fmt = struct.pack("<HHIIHH", tag, channels, SAMPLE_RATE, SAMPLE_RATE * block, block, bits)
    if tag == 3:
        fmt += b"\0\0"  # cbSize, as bwf.py writes it
    return b"RIFF\0\0\0\0WAVEfmt " + struct.pack("<I", len(fmt)) + fmt


def _link_take(f: aaf2.file.AAFFile, it: Item, plan: Plan) -> aaf2.mobs.MasterMob:
    import aaf2  # noqa: F401  (the caller checked it imports)

    fps = plan.rate
    tape = f.create.SourceMob()
    f.content.mobs.append(tape)
    tape_slot, _tc = tape.create_tape_slots(it.reel, SAMPLE_RATE, fps.timebase, fps.drop_frame,
                                            media_kind="sound")
    tape_slot.segment.length = SAMPLE_RATE * 60 * 60 * 24

    src = f.create.SourceMob()
    src.name = it.path.name
    f.content.mobs.append(src)
    slot = src.create_empty_slot(SAMPLE_RATE, media_kind="sound", slot_id=1)
    clip = slot.segment
    clip.mob = tape
    clip.slot = tape_slot
    clip.start = plan.tref + fps.frame_start(it.record)  # the file's BWF TimeReference
    clip.length = it.samples
    d = f.create.WAVEDescriptor()
    d["SampleRate"].value = SAMPLE_RATE
    d["Summary"].value = bytearray(_wave_summary(it.channels, plan.bits))
    d["Length"].value = it.samples
    d["ContainerFormat"].value = f.dictionary.lookup_containerdef("AAF")
    loc = f.create.NetworkLocator()
    loc["URLString"].value = it.url
    d["Locator"].append(loc)
    src.descriptor = d

    master = f.create.MasterMob(it.path.stem)
    f.content.mobs.append(master)
    mslot = master.create_timeline_slot(SAMPLE_RATE)
    mslot.segment = src.create_source_clip(slot_id=1, start=0, length=it.samples)
    if it.prompt:
        master.comments["Prompt"] = it.prompt[:200]
    master.comments["Foley Desktop"] = f"take {it.meta.get('take', '')} seed {it.meta.get('seed', '')}"
    return master


def write_aaf(plan: Plan, path: str | os.PathLike) -> None:
    import aaf2

    rate = plan.rate
    with aaf2.open(str(path), "w") as f:
        comp = f.create.CompositionMob(plan.name)
        f.content.mobs.append(comp)
        tc_slot = comp.create_timeline_slot(rate.fps)
        tc_slot.segment = f.create.Timecode(rate.timebase, drop=rate.drop_frame)
        tc_slot.segment.start = plan.tc0
        tc_slot.segment.length = plan.frames
        tc_slot.name = "TC1"
        for n, track in enumerate(plan.foley_tracks, start=1):
            slot = comp.create_sound_slot(SAMPLE_RATE)
            slot.name = track.name
            slot["PhysicalTrackNumber"].value = n
            seq = slot.segment
            pos = 0
            marks = []
            for it in track.items:
                at = rate.frame_start(it.record)
                if at > pos:
                    seq.components.append(f.create.Filler("sound", at - pos))
                master = _link_take(f, it, plan)
                seq.components.append(master.create_source_clip(slot_id=1, start=0, length=it.samples))
                pos = at + it.samples
                marks += [(rate.frame_start(it.record + m.frame), m) for m in it.markers]
            if marks:
                _markers(f, comp, slot, n, marks)


def _markers(f: aaf2.file.AAFFile, comp: aaf2.mobs.CompositionMob, slot: aaf2.mobslots.MobSlot,
             track_number: int, marks: list[tuple[int, Marker]]) -> None:
    """Avid's locators: DescriptiveMarkers in an event slot that names the sound slot (and its
    track number), so they show on that Foley track. Each is named by its kind (the prompt on
    a take without spotting markers), coloured as Avid does (CommentMarkerColor and the
    _ATN_CRM_COLOR attribute: auto-spot cyan, the editor's yellow, the prompt green), with its
    source, strength and the prompt as tagged values."""
    ev = f.create.EventMobSlot()
    ev["EditRate"].value = SAMPLE_RATE
    ev["SlotID"].value = max(s.slot_id for s in comp.slots) + 1
    ev["PhysicalTrackNumber"].value = track_number
    seq = f.create.Sequence(media_kind="DescriptiveMetadata")
    for position, mark in marks:
        m = f.create.DescriptiveMarker()
        m["Position"].value = position
        m["Length"].value = 1
        m["Comment"].value = mark.name
        m["CommentMarkerUser"].value = "Foley Desktop"
        m["CommentMarkerColor"].value = dict(zip(("red", "green", "blue"), _RGB16[mark.color]))
        attrs = {"_ATN_CRM_COLOR": mark.color.capitalize(), "FoleyDesktop_comment": mark.comment,
                 **{f"FoleyDesktop_{k}": str(v) for k, v in mark.info().items()}}
        for name, value in attrs.items():
            m["CommentMarkerAttributeList"].append(f.create.TaggedValue(name, value))
        m["DescribedSlots"].value = {slot.slot_id}
        seq.components.append(m)
    ev.segment = seq
    comp.slots.append(ev)


def aaf_bytes(plan: Plan) -> bytes:
    """The AAF file's bytes (pyaaf2 writes only to a named file)."""
    fd, tmp = tempfile.mkstemp(suffix=".aaf")
    os.close(fd)
    try:
        os.unlink(tmp)
        write_aaf(plan, tmp)
        with open(tmp, "rb") as fh:
            return fh.read()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
