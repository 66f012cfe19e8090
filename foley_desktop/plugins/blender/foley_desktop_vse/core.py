"""The add-on's work apart from Blender: the CLI steps, the background process, BWF stamps,
and where each exported file goes on the sequencer. Standard library only (Blender's Python has
none of the app's packages); nothing here imports bpy, so it also runs in plain Python.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

# The app's rate (foley_desktop.media.timebase.SAMPLE_RATE): a copy, since this add-on runs
# inside Blender's Python, where the app is not installed.
SAMPLE_RATE = 48000


def find_cli(configured: str = "") -> str | None:
    """The `foley-desktop` executable: the configured path, else the one on PATH."""
    if configured:
        path = Path(os.path.expanduser(configured))
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which("foley-desktop")


def read_bwf_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """(bext TimeReference, length in sample frames) of a WAV/BWF/RF64 file.

    A small reader of its own (EBU Tech 3285 / 3306): Blender's Python has no audio packages.
    TimeReference is 0 when the file has no bext chunk.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            raise ValueError(f"not a WAV file: {path}")
        tref, block, data_size, ds64_data = 0, 0, None, None
        while True:
            hdr = fh.read(8)
            if len(hdr) < 8:
                break
            ident, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
            if ident == b"ds64":
                body = fh.read(size)
                ds64_data = struct.unpack("<Q", body[8:16])[0]
            elif ident == b"fmt ":
                body = fh.read(size)
                block = struct.unpack("<H", body[12:14])[0]
            elif ident == b"bext":
                body = fh.read(size)
                lo, hi = struct.unpack("<II", body[338:346])
                tref = lo | hi << 32
            elif ident == b"data":
                data_size = ds64_data if size == 0xFFFFFFFF and ds64_data is not None else size
                break
            else:
                fh.seek(size, 1)
            if size % 2:
                fh.seek(1, 1)
        if not block or data_size is None:
            raise ValueError(f"WAV file without fmt or data: {path}")
        return tref, data_size // block


def scene_fps(fps: int, fps_base: float) -> Fraction:
    """Blender's fps / fps_base as an exact rate (29.97 is 30 / 1.001)."""
    return Fraction(fps) / Fraction(fps_base).limit_denominator(1001)


def seconds_arg(frames: int, fps: Fraction) -> str:
    """Frames as the CLI's seconds argument, exact to well under a sample."""
    return f"{float(Fraction(frames) / fps):.9f}"


@dataclass
class Placement:
    path: str
    kind: str  # "take" | "DX" | "BG" | "FX" | "MIX"
    frame: int  # scene frame where the file starts
    samples: int
    segment: int  # 1-based segment number for takes, 0 for stems


_TAKE = re.compile(r"_(\d{2})_.+_s-?\d+_48k(?:24|32f)\.wav$")
_STEM = re.compile(r"_(FX|BG|DX|MIX)_48k(?:24|32f)\.wav$")


def clip_time_reference(otio_path: str | os.PathLike) -> int:
    """The clip's first sample since midnight, from the exported OTIO file's metadata."""
    with open(otio_path, encoding="utf-8") as fh:
        doc = json.load(fh)
    return int(doc["metadata"]["foley_desktop"]["time_reference"])


def placements(files: list[str], clip_start_frame: int, fps: Fraction) -> list[Placement]:
    """Where every exported WAV starts on the scene, from its own BWF TimeReference.

    `clip_start_frame`: the scene frame of the clip's first frame (the movie strip's
    frame_start). A file's offset in the clip is its TimeReference minus the clip's (the OTIO
    file's time_reference); take files start on a frame, so that is a whole frame.
    """
    otio = next((f for f in files if f.endswith(".otio")), None)
    if otio is None:
        raise ValueError("the export wrote no OTIO file (the clip's timecode is in it)")
    tref0 = clip_time_reference(otio)
    out = []
    for f in files:
        m, s = _TAKE.search(f), _STEM.search(f)
        if not (m or s):
            continue
        tref, n = read_bwf_stamp(f)
        offset = tref - tref0
        frame = clip_start_frame + round(Fraction(offset) * fps / SAMPLE_RATE)
        out.append(Placement(f, "take" if m else s.group(1), frame, n, int(m.group(1)) if m else 0))
    return sorted(out, key=lambda p: (p.kind != "take", p.segment, p.frame))


@dataclass
class Step:
    label: str
    argv: list[str]
    output: str = ""


@dataclass
class Job:
    """CLI steps run one after another in a background process; poll() from a timer."""

    steps: list[Step]
    done: int = 0
    error: str = ""
    cancelled: bool = False
    started: float = field(default_factory=time.monotonic)
    _proc: subprocess.Popen | None = None

    @property
    def finished(self) -> bool:
        return self.done == len(self.steps) or bool(self.error) or self.cancelled

    @property
    def fraction(self) -> float:
        return self.done / len(self.steps) if self.steps else 1.0

    @property
    def status(self) -> str:
        elapsed = time.monotonic() - self.started
        if self.cancelled:
            return "cancelled"
        if self.error:
            return f"failed: {self.error}"
        if self.done == len(self.steps):
            return f"done in {elapsed:.0f} s"
        return f"step {self.done + 1}/{len(self.steps)}: {self.steps[self.done].label} ({elapsed:.0f} s)"

    def poll(self) -> bool:
        """Advance: start the next step or collect the running one. True when finished."""
        if self.finished:
            return True
        if self._proc is None:
            self._proc = subprocess.Popen(self.steps[self.done].argv, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True,
                                          stdin=subprocess.DEVNULL)
            return False
        if self._proc.poll() is None:
            return False
        out, err = self._proc.communicate()
        rc, self._proc = self._proc.returncode, None
        if rc != 0:
            lines = [ln for ln in (err or out).strip().splitlines() if ln.strip()]
            self.error = lines[-1] if lines else f"exit status {rc}"
            return True
        self.steps[self.done].output = out
        self.done += 1
        return self.finished

    def cancel(self) -> None:
        """Stop the running step (the CLI writes files atomically: nothing half-written)."""
        self.cancelled = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def run(self, interval: float = 0.05) -> None:
        """Blocking (scripts and `blender -b`, where no timer runs)."""
        while not self.poll():
            time.sleep(interval)


def export_step(cli: str, project: str, out_dir: str, stems: bool) -> Step:
    # The takes, plus DX/BG when asked (DX only exists once the app has separated the clip);
    # the OTIO file says the clip's timecode.
    argv = [cli, "export", project, "-o", out_dir, "--timeline", "otio", "--takes", "active",
            "--json", "--stems", "dialogue,background" if stems else ""]
    return Step("exporting", argv)


def generate_steps(cli: str, video: str, project: str, start_s: str, end_s: str, prompt: str,
                   seed: int, variations: int, out_dir: str, stems: bool, mode: str = "model",
                   markers: str = "") -> list[Step]:
    """`mode`: model or library; `markers`: the CLI's --markers value ("auto", or times from
    `markers_arg`), empty for none."""
    steps = []
    if not Path(project).exists():
        steps.append(Step("creating the project", [cli, "project", "new", video, "-o", project]))
    add = [cli, "project", "add-segment", project, "--start", start_s, "--end", end_s,
           "--prompt", prompt, "--seed", str(seed), "--variations", str(variations),
           "--mode", mode]
    steps.append(Step("adding the segment", add + (["--markers", markers] if markers else [])))
    steps.append(Step("generating", [cli, "generate", "--project", project, "--all"]))
    steps.append(export_step(cli, project, out_dir, stems))
    return steps


# Spotting markers on Blender's timeline. An editor spots in Blender by pressing M while the
# scene plays (a marker on the current frame, named F_<frame>); Auto-spot adds the app's
# proposals as markers named AUTO_PREFIX + kind, which a new Auto-spot replaces. Generate
# sends the markers inside the range to the app, a marker on the first sample of its frame.
AUTO_PREFIX = "auto:"
KINDS = ("footstep", "hit", "other")


def frame_start_sample(frame: int, fps: Fraction) -> int:
    """The app's first sample of a clip frame (media.timebase.frame_to_samples: rounded half
    up, since 29.97 fps frames do not start on whole samples)."""
    x = Fraction(frame) * SAMPLE_RATE / fps
    return int(x + Fraction(1, 2))


def frame_holding(sample: int, fps: Fraction) -> int:
    """The clip frame whose samples include `sample`."""
    k = int(Fraction(sample) * fps / SAMPLE_RATE)
    while frame_start_sample(k + 1, fps) <= sample:
        k += 1
    while k > 0 and frame_start_sample(k, fps) > sample:
        k -= 1
    return k


def spot_step(cli: str, video: str, start_s: str, end_s: str) -> Step:
    return Step("auto-spotting", [cli, "spot", video, "--start", start_s, "--end", end_s,
                                  "--json", "--quiet"])


def spotted_frames(step: Step, clip_start_frame: int, fps: Fraction) -> list[tuple[int, str]]:
    """(scene frame, kind) of every event `spot --json` proposed: the frame holding its
    sample (its time is in samples from the clip's first frame)."""
    out = []
    for ev in json.loads(step.output):
        frame = clip_start_frame + frame_holding(int(ev["time"]), fps)
        kind = ev.get("kind") if ev.get("kind") in KINDS else "other"
        out.append((frame, kind))
    return out


def marker_kind(name: str, prompt: str = "") -> str:
    """A timeline marker's kind from its name ("auto:hit", "hit", "footstep 2"); for a name
    that gives none (Blender's own F_12), from the prompt as the app does for a tapped marker
    (foley_desktop.app.editing.marker_kind, copied: the app is not importable here)."""
    word = name[len(AUTO_PREFIX):] if name.startswith(AUTO_PREFIX) else name
    word = word.strip().split(" ")[0].lower()
    if word in KINDS:
        return word
    low = prompt.lower()
    return "footstep" if "step" in low or "walk" in low else "hit"


def markers_arg(markers: list[tuple[int, str]], clip_start_frame: int, fps: Fraction,
                prompt: str = "") -> str:
    """The CLI's --markers value for timeline markers [(scene frame, name)]: each marker at
    its frame's first sample in the clip's time, with its kind."""
    return ",".join(f"{seconds_arg(frame - clip_start_frame, fps)}@{marker_kind(name, prompt)}"
                    for frame, name in sorted(markers))


def exported_files(step: Step) -> list[str]:
    return list(json.loads(step.output)["files"])


def exported_notes(step: Step) -> list[str]:
    return list(json.loads(step.output).get("notes", []))
