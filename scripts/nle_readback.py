#!/usr/bin/env python3
"""Print what each real tool reads back from an export, at the four rates with and without a
start timecode (the cases of tests/test_export_nle.py, which asserts the same things).

For every active take: where the project has it (sample), and where each reader puts it —
OpenTimelineIO (.otio), the fcp_xml adapter (FCP7 XML), the FCPXML structure, pycmx (EDL record
in), pyaaf2 (AAF sample position), mediainfo (the BWF's bext delay) and melt (the Kdenlive
project rendered and cross-correlated). Positions in samples from the clip's first frame; the
offset is reader minus project. Usage: scripts/nle_readback.py [--markdown]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import opentimelineio as otio
import soundfile as sf
from test_export_nle import CASES, SPANS, Case, first_sample, melt_render, tc_frames


def head_of(path: Path) -> int:
    import wavinfo

    note = wavinfo.WavInfoReader(str(path)).ixml.raw_xml.find("./NOTE").text
    return int(note.split("take_starts_at_sample=")[1].split()[0]) if "take_starts_at" in note else 0


def read_positions(case: Case) -> dict[str, list[int]]:
    """{reader: [take start sample for each segment]} (file start + the take's head)."""
    import xml.etree.ElementTree as ET

    import aaf2
    import pycmx

    fps = case.fps
    heads = [head_of(case.take_file(i)) for i in range(len(SPANS))]
    seg_of = {case.take_file(i).name: i for i in range(len(SPANS))}
    out: dict[str, list[int]] = {}

    def put(reader, name, file_start):
        i = seg_of.get(Path(name).name)
        if i is not None:
            out.setdefault(reader, [0] * len(SPANS))[i] = file_start + heads[i]

    for reader, path, kw in (("otio", "shot.otio", {}), ("fcp7 (fcp_xml)", "shot_fcp7.xml", {})):
        tl = otio.adapters.read_from_file(str(case.out / path), **kw)
        for c in tl.find_clips():
            url = getattr(c.media_reference, "target_url", "") or ""
            put(reader, otio.url_utils.filepath_from_url(url) if url else c.name,
                first_sample(round(c.range_in_parent().start_time.value), fps))
    root = ET.parse(case.out / "shot.fcpxml").getroot()
    assets = {a.get("id"): a.find("media-rep").get("src") for a in root.iter("asset")}

    def t(s):
        a, _, b = s[:-1].partition("/")
        return Fraction(int(a), int(b or 1))

    for c in root.iter("asset-clip"):
        if c.get("lane"):
            frame = t(c.get("offset")) * fps - case.tc0
            put("fcpxml", otio.url_utils.filepath_from_url(assets[c.get("ref")]),
                first_sample(int(frame), fps))
    for edl in sorted(case.out.glob("*.edl")):
        with open(edl) as fh:
            for ev in pycmx.parse_cmx3600(fh).events:
                for e in ev.edits:
                    put("edl (pycmx)", e.source_file,
                        first_sample(tc_frames(e.record_in, fps) - case.tc0, fps))
    with aaf2.open(str(case.out / "shot.aaf"), "r") as f:
        (comp,) = list(f.content.compositionmobs())
        for slot in comp.slots:
            if slot.media_kind != "Sound":
                continue
            pos = 0
            for item in slot.segment.components:
                if type(item).__name__ == "SourceClip":
                    loc = item.mob.slots[0].segment.mob.descriptor["Locator"][0]["URLString"].value
                    put("aaf (pyaaf2)", otio.url_utils.filepath_from_url(loc), pos)
                pos += item.length
    for i in range(len(SPANS)):
        f = case.take_file(i)
        ms = subprocess.run(["mediainfo", "--Inform=Audio;%Delay%", str(f)], capture_output=True,
                            text=True, check=True).stdout.strip()
        put("bwf (mediainfo)", f.name, round(float(ms) / 1000 * 48000) - case.tref)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "r.wav"
        melt_render(case.out / "shot.kdenlive", wav)
        render, _ = sf.read(str(wav), dtype="float64")
        found = []
        for i, (s, _) in enumerate(SPANS):
            probe = case.takes[i][:4096].astype(np.float64)
            lo = s - 2000
            c = np.correlate(render[lo:lo + 4000 + len(probe)], probe, mode="valid")
            found.append(lo + int(np.argmax(c)))
        out["kdenlive (melt render)"] = found
    return out


def main() -> int:
    md = "--markdown" in sys.argv
    rows = []
    for fps, tc in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            case = Case(Path(tmp), fps, tc)
            for reader, starts in read_positions(case).items():
                offsets = [a - s for a, (s, _) in zip(starts, SPANS, strict=True)]
                rows.append((case.label, reader, offsets))
    if md:
        print("| case | reader | offset of each take (samples) |")
        print("| --- | --- | --- |")
    for label, reader, offsets in rows:
        print(f"| {label} | {reader} | {offsets} |" if md else f"{label:28s} {reader:24s} {offsets}")
    return 0 if all(abs(o) <= 1 for _, _, offs in rows for o in offs) else 1


if __name__ == "__main__":
    sys.exit(main())
