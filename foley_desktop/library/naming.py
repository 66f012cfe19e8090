"""Words out of sound-effect file and folder names, and UCS file names.

Libraries name files `CatID_FXName_CreatorID_SourceID[_UserData]` (Universal Category System),
or after the game or sampler they came from (`default_gravel_footstep.2.ogg`, `DoorCreak.wav`).
Either way the words a search needs are inside the name, glued by underscores, CamelCase or
numbers; this module unglues them and resolves UCS abbreviations with the table in
`resources/library/ucs_abbreviations.csv` (a partial table: see docs/library.md).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from foley_desktop.paths import resources_dir

STARTER_FOLDER = "starter-library"

# Parts of names that say nothing about the sound (folder plumbing, format words). Dropped
# from the text that is embedded so they do not pull every sound towards every query.
GENERIC = frozenset((
    "default", "sounds", "sound", "sfx", "fx", "audio", "data", "media", "samples", "sample",
    "files", "file", "wav", "wave", "flac", "ogg", "mp3", "aif", "aiff", "bwf", "mono", "stereo",
    "final", "new", "copy", "usr", "share", "games", "game", "mods", "mod", "lib", "library",
    "libraries", "the", "of", "and", "a", "an"))

# CatID: an upper-case category prefix then a capitalised subcategory ("DOORWood",
# "METLImpt", "AMBRoom"); UCS allows "-UserCategory" after it.
_CATID = re.compile(r"^([A-Z]{2,8}?)([A-Z][a-z][A-Za-z0-9]*)(?:-[A-Za-z0-9]+)?$")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@dataclass(frozen=True)
class UcsName:
    cat_id: str
    category: str | None        # "doors" (None when the prefix is not in the table)
    subcategory: str | None     # "wood"; the raw suffix lower-cased when not in the table
    fx_name: str                # "Heavy Oak Door Slam"
    creator_id: str | None
    source_id: str | None
    user_data: str | None


@cache
def ucs_table() -> tuple[dict[str, str], dict[str, str]]:
    """(category prefix -> name, subcategory abbreviation -> words)."""
    cats: dict[str, str] = {}
    subs: dict[str, str] = {}
    path = resources_dir() / "library" / "ucs_abbreviations.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(line for line in fh if line.strip() and not line.startswith("#"))
        next(rows)  # header
        for kind, abbrev, name in rows:
            (cats if kind == "category" else subs)[abbrev] = name
    return cats, subs


def split_words(text: str) -> list[str]:
    """'DOORWood_HeavyOakSlam-02.wav' -> ['door', 'wood', 'heavy', 'oak', 'slam']: separators,
    CamelCase and digits split; numbers dropped (take numbers, not content); lower case."""
    words = []
    for part in re.split(r"[^A-Za-z0-9]+", text):
        for w in _CAMEL.findall(part):
            if not w.isdigit():
                words.append(w.lower())
    return words


def content_words(text: str) -> list[str]:
    return [w for w in split_words(text) if w not in GENERIC and len(w) > 1]


def parse_ucs(stem: str) -> UcsName | None:
    """The UCS parts of a file name without extension, or None when it is not a UCS name.

    A name is read as UCS when its first field has the CatID shape and either the prefix is in
    the table (then three fields suffice) or it has the four fields UCS requires.
    """
    fields = stem.split("_")
    if len(fields) < 3:
        return None
    m = _CATID.match(fields[0])
    if m is None:
        return None
    cats, subs = ucs_table()
    prefix, suffix = m.group(1), m.group(2)
    category = cats.get(prefix)
    if category is None and len(fields) < 4:
        return None
    sub = subs.get(suffix) or " ".join(split_words(suffix)) or None
    fx = " ".join(split_words(fields[1])) if fields[1] else ""
    return UcsName(cat_id=fields[0].split("-")[0], category=category, subcategory=sub,
                   fx_name=fx or fields[1], creator_id=fields[2] or None,
                   source_id=fields[3] if len(fields) > 3 and fields[3] else None,
                   user_data="_".join(fields[4:]) or None)


def folder_words(path: Path, root: Path) -> list[str]:
    """Content words of the folders between `root` (included: a library folder's own name
    often says what it holds) and the file."""
    try:
        parts = path.parent.relative_to(root).parts
    except ValueError:
        parts = ()
    top: tuple[str, ...] = (root.name,)
    if root.name == STARTER_FOLDER:
        # The starter library's folders are "starter-library/<Debian package>/…": neither says
        # anything about a sound ("metal footstep starter minetest" scored 0.39 against
        # "footsteps on a metal walkway", "metal footstep" 0.57).
        top, parts = (), parts[1:]
    words: list[str] = []
    for part in (*top, *parts):
        words += content_words(part)
    return words
