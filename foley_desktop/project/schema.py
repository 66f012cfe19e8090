"""The project file format: a versioned JSON document, its validation and its migrations.

A project file is UTF-8 JSON whose top level carries ``"format_version"``. `validate(doc)`
checks the current version's shape field by field and raises `ProjectError` naming the first
bad field ("segments[2].start: expected an integer"); `migrate(doc)` lifts an older document to
the current version one step at a time and refuses a newer one. The validator is written here
rather than taken from a JSON-Schema library: the format is small, and these messages are what a
user sees when a file was edited by hand.

Version history
  0  prototype files: no "format_version" but "version": 0; "video" instead of "media"; times
     in float seconds (start_s/end_s); takes as bare paths; clip duration in seconds.
  1  current: times in integer samples at 48 kHz; ids for segments and takes; media summary;
     separated stems; per-segment generation settings. Optional "speech": the speech regions
     found by separation as [start, end] sample pairs (added later; files without it load as
     having none, so no new version was needed). Optional per segment: "markers" (spotting
     marks: time in samples, kind, strength, source) and "mode" ("model" | "library"); per
     take: "mode", "params" (the settings that made it), "sources" (library recordings
     placed), "sync" (onsets vs markers). Files without them load with none. Optional per
     segment "spot_roi": [x, y, w, h] in video pixels, the region auto-spot looks at.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeGuard

from foley_desktop.errors import ProjectError
from foley_desktop.media.timebase import SAMPLE_RATE

FORMAT_VERSION = 1
MAX_DURATION = 48 * 3600 * SAMPLE_RATE

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FPS = re.compile(r"^[1-9][0-9]*(/[1-9][0-9]*)?$")
_TC = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}[:;][0-9]{2,3}$")


def _fail(where: str, what: str) -> NoReturn:
    raise ProjectError(f"invalid project file: {where}: {what}")


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# field name -> (required, check, what the check expects, for the message)
_Fields = dict[str, tuple[bool, Callable[[Any], Any], str]]


def _check_fields(obj: Any, where: str, spec: _Fields) -> None:
    if not isinstance(obj, dict):
        _fail(where, "expected an object")
    for key, (required, ok, expected) in spec.items():
        if key not in obj:
            if required:
                _fail(where, f"missing field {key!r}")
            continue
        if not ok(obj[key]):
            _fail(f"{where}.{key}" if where else key, f"expected {expected}, got {obj[key]!r}"[:200])


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != ""


def _nonneg_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _is_roi(v: Any) -> bool:
    """[x, y, w, h]: a region of the video frame in pixels (auto-spot looks only there)."""
    return (isinstance(v, list) and len(v) == 4 and all(map(_is_int, v))
            and v[0] >= 0 and v[1] >= 0 and v[2] > 0 and v[3] > 0)


_TAKE: _Fields = {
    "id": (True, lambda v: isinstance(v, str) and bool(_ID.match(v)), "an id (letters, digits, _.-)"),
    "path": (True, _nonempty_str, "a relative path"),
    "seed": (True, _nonneg_int, "a non-negative integer"),
    "model": (False, _str, "a string"),
    "version": (False, _str, "a string"),
    "variant": (False, _str, "a string"),
    "provider": (False, _str, "a string"),
    "created": (False, _str, "a date string"),
    "prompt_used": (False, _str, "a string"),
    "mode": (False, lambda v: v in ("model", "library"), '"model" or "library"'),
    "params": (False, lambda v: isinstance(v, dict), "an object"),
    "sources": (False, lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
                "a list of objects"),
    "sync": (False, _opt(lambda v: isinstance(v, dict)), "an object or null"),
}

_MARKER: _Fields = {
    "time": (True, _nonneg_int, "an integer number of samples >= 0"),
    "kind": (False, lambda v: v in ("footstep", "hit", "other"), '"footstep", "hit" or "other"'),
    "strength": (False, lambda v: _is_num(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "source": (False, lambda v: v in ("user", "auto"), '"user" or "auto"'),
}

_SEGMENT: _Fields = {
    "id": (True, lambda v: isinstance(v, str) and bool(_ID.match(v)), "an id (letters, digits, _.-)"),
    "start": (True, _nonneg_int, "an integer number of samples >= 0"),
    "end": (True, _nonneg_int, "an integer number of samples >= 0"),
    "prompt": (True, _str, "a string"),
    "negative": (False, _opt(_str), "a string or null"),
    "seed": (False, _opt(_nonneg_int), "a non-negative integer or null"),
    "variations": (False, lambda v: _is_int(v) and 1 <= v <= 64, "an integer from 1 to 64"),
    "steps": (False, _opt(lambda v: _is_int(v) and 1 <= v <= 1000), "an integer from 1 to 1000 or null"),
    "guidance": (False, _opt(lambda v: _is_num(v) and 0 <= v <= 100), "a number from 0 to 100 or null"),
    "visual_guidance": (False, _opt(lambda v: _is_num(v) and 0 <= v <= 100),
                        "a number from 0 to 100 or null"),
    "model": (False, _opt(_str), "a string or null"),
    "precision": (False, _str, "a string"),
    "gain_db": (False, lambda v: _is_num(v) and -96 <= v <= 24, "a number of dB from -96 to 24"),
    "literal_prompt": (False, lambda v: isinstance(v, bool), "true or false"),
    "markers": (False, lambda v: isinstance(v, list) and len(v) <= 100000, "a list (at most 100000)"),
    "mode": (False, lambda v: v in ("model", "library"), '"model" or "library"'),
    "between_markers": (False, lambda v: v in ("auto", "quiet", "keep"),
                        '"auto", "quiet" or "keep"'),
    "spot_roi": (False, _opt(_is_roi), "[x, y, width, height] in whole pixels (size > 0)"),
    "pinned": (False, lambda v: isinstance(v, list) and len(v) <= 64
               and all(isinstance(x, str) and x.strip() for x in v), "a list of paths (at most 64)"),
    "takes": (False, lambda v: isinstance(v, list) and len(v) <= 1000, "a list of at most 1000"),
    "active_take": (False, _opt(_str), "a take id or null"),
}

_MEDIA_INFO: _Fields = {
    # At most 48 hours: exports size their stems by it.
    "duration_samples": (True, lambda v: _is_int(v) and 0 < v <= MAX_DURATION,
                         "a positive integer of at most 48 hours of samples"),
    "fps": (False, _opt(lambda v: isinstance(v, str) and bool(_FPS.match(v))), '"num/den" or null'),
    "timecode": (False, _opt(lambda v: isinstance(v, str) and bool(_TC.match(v))), '"HH:MM:SS:FF" or null'),
    "drop_frame": (False, lambda v: isinstance(v, bool), "true or false"),
    "width": (False, _opt(_nonneg_int), "an integer or null"),
    "height": (False, _opt(_nonneg_int), "an integer or null"),
    "audio_channels": (False, _nonneg_int, "an integer"),
    "container": (False, _opt(_str), "a string or null"),
}

_TOP: _Fields = {
    "format_version": (True, _is_int, "an integer"),
    "name": (False, _str, "a string"),
    "created": (False, _str, "a date string"),
    "app": (False, _str, "a string"),
    "media": (True, _nonempty_str, "the clip's path"),
    "media_info": (True, lambda v: isinstance(v, dict), "an object"),
    "segments": (True, lambda v: isinstance(v, list) and len(v) <= 10000,
                 "a list of at most 10000 segments"),
    "stems": (False, lambda v: isinstance(v, dict), "an object"),
    "settings": (False, lambda v: isinstance(v, dict), "an object"),
    "speech": (False, lambda v: isinstance(v, list), "a list of [start, end] sample pairs"),
}


def validate(doc: Any) -> None:
    """Raise `ProjectError` unless `doc` is a well-formed current-version project document."""
    _check_fields(doc, "", _TOP)
    if doc["format_version"] != FORMAT_VERSION:
        _fail("format_version", f"expected {FORMAT_VERSION}, got {doc['format_version']!r}")
    _check_fields(doc["media_info"], "media_info", _MEDIA_INFO)
    duration = doc["media_info"]["duration_samples"]
    for kind, path in doc.get("stems", {}).items():
        if kind not in ("dialogue", "background"):
            _fail("stems", f"unknown stem {kind!r} (expected dialogue or background)")
        if not _nonempty_str(path):
            _fail(f"stems.{kind}", "expected a path")
    for i, region in enumerate(doc.get("speech", [])):
        if not (isinstance(region, list) and len(region) == 2 and all(map(_nonneg_int, region))
                and region[0] < region[1] <= duration):
            _fail(f"speech[{i}]", f"expected [start, end] samples inside the clip, got {region!r}"[:200])
    seen: set[str] = set()
    for i, seg in enumerate(doc["segments"]):
        where = f"segments[{i}]"
        _check_fields(seg, where, _SEGMENT)
        if seg["id"] in seen:
            _fail(f"{where}.id", f"duplicate id {seg['id']!r}")
        seen.add(seg["id"])
        if seg["end"] <= seg["start"]:
            _fail(where, f"end ({seg['end']}) must be after start ({seg['start']})")
        if seg["end"] > duration:
            _fail(f"{where}.end", f"{seg['end']} is past the clip's end ({duration} samples)")
        roi = seg.get("spot_roi")
        width, height = doc["media_info"].get("width"), doc["media_info"].get("height")
        if roi is not None and width and height and (roi[0] + roi[2] > width
                                                     or roi[1] + roi[3] > height):
            _fail(f"{where}.spot_roi", f"{roi!r} is outside the {width}x{height} frame")
        for j, marker in enumerate(seg.get("markers", [])):
            _check_fields(marker, f"{where}.markers[{j}]", _MARKER)
            if marker["time"] > duration:
                _fail(f"{where}.markers[{j}].time", f"{marker['time']} is past the clip's end")
        take_ids: set[str] = set()
        for j, take in enumerate(seg.get("takes", [])):
            _check_fields(take, f"{where}.takes[{j}]", _TAKE)
            if take["id"] in take_ids or take["id"] in seen:
                _fail(f"{where}.takes[{j}].id", f"duplicate id {take['id']!r}")
            take_ids.add(take["id"])
        active = seg.get("active_take")
        if active is not None and active not in take_ids:
            _fail(f"{where}.active_take", f"{active!r} is not one of the segment's takes")


# ---------------------------------------------------------------------------------- migrations

def _v0_to_v1(doc: dict) -> dict:
    """Prototype files: seconds -> samples, bare take paths -> Take objects with ids."""
    if not isinstance(doc.get("video"), str):
        _fail("video", "expected the clip's path (version 0 file)")
    duration = doc.get("duration")
    if not _is_num(duration) or duration <= 0:
        _fail("duration", "expected the clip's duration in seconds (version 0 file)")
    fps = doc.get("fps")
    fps_text = None
    if _is_num(fps) and fps > 0:
        # v0 stored 29.97 and friends as floats: recover the NTSC rationals.
        ntsc = {23.976: "24000/1001", 29.97: "30000/1001", 59.94: "60000/1001"}
        fps_text = ntsc.get(round(float(fps), 3)) or (str(int(fps)) if float(fps).is_integer() else None)
    if not isinstance(doc.get("segments") or [], list):
        _fail("segments", "expected a list (version 0 file)")
    if not isinstance(doc.get("name", ""), str) or not isinstance(doc.get("model", ""), str):
        _fail("name", "expected text (version 0 file)")
    segments = []
    for i, seg in enumerate(doc.get("segments") or [], start=1):
        if not isinstance(seg, dict):
            _fail(f"segments[{i - 1}]", "expected an object (version 0 file)")
        try:
            start = round(float(seg["start_s"]) * SAMPLE_RATE)
            end = round(float(seg["end_s"]) * SAMPLE_RATE)
        except (KeyError, TypeError, ValueError):
            _fail(f"segments[{i - 1}]", "expected start_s and end_s in seconds (version 0 file)")
        seed = seg.get("seed")
        if not isinstance(seg.get("takes") or [], list):
            _fail(f"segments[{i - 1}].takes", "expected a list of paths (version 0 file)")
        takes = []
        for j, p in enumerate(seg.get("takes") or [], start=1):
            if not isinstance(p, str):
                _fail(f"segments[{i - 1}].takes[{j - 1}]", "expected a path (version 0 file)")
            takes.append({"id": f"take-v0-{i}-{j}", "path": p,
                          "seed": (seed + j - 1) if _is_int(seed) and seed >= 0 else 0,
                          "model": doc.get("model", "")})
        segments.append({
            "id": f"seg-v0-{i}", "start": start, "end": end, "prompt": seg.get("prompt", ""),
            "negative": seg.get("negative"), "seed": seed if _is_int(seed) and seed >= 0 else None,
            "variations": max(1, len(takes)), "takes": takes,
            # v0 played the newest take.
            "active_take": takes[-1]["id"] if takes else None,
        })
    return {
        "format_version": 1,
        "name": doc.get("name", ""),
        "media": doc["video"],
        "media_info": {"duration_samples": round(float(duration) * SAMPLE_RATE), "fps": fps_text,
                       "timecode": None, "drop_frame": False, "audio_channels": 2},
        "segments": segments,
        "stems": {},
        "settings": {},
    }


_MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _v0_to_v1}


def version_of(doc: Any) -> int:
    if not isinstance(doc, dict):
        raise ProjectError("invalid project file: expected a JSON object at the top level")
    if "format_version" in doc:
        v = doc["format_version"]
    elif "version" in doc and "video" in doc:  # version-0 prototype files
        v = doc["version"]
    else:
        raise ProjectError("not a Foley Desktop project: no \"format_version\" field")
    if not _is_int(v) or v < 0:
        raise ProjectError(f"invalid project file: format_version {v!r} is not a version number")
    return v


def migrate(doc: Any) -> dict:
    """Return `doc` lifted to `FORMAT_VERSION` (a new dict; the input is left as it was)."""
    v = version_of(doc)
    if v > FORMAT_VERSION:
        raise ProjectError(
            f"this project was saved by a newer Foley Desktop (file format {v}; this version "
            f"reads up to {FORMAT_VERSION}): update the app to open it")
    doc = copy.deepcopy(doc)
    while v < FORMAT_VERSION:
        doc = _MIGRATIONS[v](doc)
        v = doc["format_version"]
    return doc
