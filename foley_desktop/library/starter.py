"""The starter library: recorded sound effects from Debian packages whose licences allow it,
so that library mode works before an editor adds their own sounds.

`scripts/fetch_test_media.sh` unpacks the packages (apt-get download + dpkg-deb -x, no
install); `install_starter()` copies (hard-links where it can) the recordings into
`user_data_dir()/starter-library/<package>/`, with each package's Debian `copyright` file and
a `credits.json` (file -> package, author, licence) read from those copyright files (DEP-5
machine-readable format) and, for minetest-data's per-sound authors, from
`resources/library/starter_credits.csv`. A file whose licence cannot be established is left
out. `credit_for(path)` is the one-line credit that renders and exports show.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foley_desktop.errors import FoleyError
from foley_desktop.fsutil import atomic_write
from foley_desktop.jobs import CancelToken, ProgressFn, ProgressMeter, check
from foley_desktop.paths import resources_dir, user_data_dir

# Licences under which a recording may ship in the starter library (redistribution allowed;
# attribution and share-alike are honoured by the credits).
ALLOWED = ("CC0", "CC-BY", "CC-BY-SA", "GPL-2", "GPL-3", "public-domain")


@dataclass(frozen=True)
class StarterPackage:
    name: str
    root: str                         # where its sounds are, inside the unpacked package
    patterns: tuple[str, ...]         # which files, relative to `root`
    copyright: str                    # the package's Debian copyright file
    source_path: Callable[[str], str]  # a sound's path in the upstream tree (DEP-5 "Files:")
    dest: Callable[[str], str]        # its path inside starter-library/<package>/


PACKAGES = (
    StarterPackage("minetest-data", "usr/share/games/minetest/games/minetest_game/mods",
                   ("*/sounds/*.ogg",), "usr/share/doc/minetest-data/copyright",
                   lambda rel: f"mtg/mods/{rel}",
                   lambda rel: rel.replace("/sounds/", "/")),
    StarterPackage("scratch", "usr/share/scratch/Media/Sounds", ("*/*.wav", "*/*.mp3"),
                   "usr/share/doc/scratch/copyright",
                   lambda rel: f"Media/Sounds/{rel}", lambda rel: rel),
    StarterPackage("sonic-pi-samples", "usr/share/sonic-pi/samples", ("*.flac",),
                   "usr/share/doc/sonic-pi-samples/copyright",
                   lambda rel: f"etc/samples/{rel}", lambda rel: rel),
    StarterPackage("etw-data", "usr/share/games/etw", ("crowd/*.wav", "snd/crowd.wav", "snd/dog.wav"),
                   "usr/share/doc/etw-data/copyright", lambda rel: rel, lambda rel: rel),
)


def starter_dir() -> Path:
    return user_data_dir() / "starter-library"


def media_root() -> Path:
    base = Path(os.environ.get("FOLEY_MEDIA_DIR", Path.home() / ".cache/foley-desktop/media"))
    return base / "root"


# ---- Debian copyright files (DEP-5) ----------------------------------------------------------

@dataclass(frozen=True)
class Stanza:
    files: tuple[str, ...]
    copyright: str
    license: str


def parse_dep5(text: str) -> list[Stanza]:
    """The `Files:` stanzas of a machine-readable Debian copyright file, in order."""
    stanzas = []
    for para in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in para.split("\n"):
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            stanzas.append(Stanza(tuple(fields["files"].split()),
                                  " ".join(fields.get("copyright", "").split()),
                                  fields["license"].split("\n")[0].strip()))
    return stanzas


def dep5_match(stanzas: list[Stanza], path: str) -> Stanza | None:
    """The stanza that governs `path`: the last one with a matching pattern (DEP-5 rule)."""
    found = None
    for s in stanzas:
        if any(fnmatch.fnmatchcase(path, pat) for pat in s.files):
            found = s
    return found


def _allowed(license_: str) -> bool:
    return any(license_.upper().startswith(a.upper()) for a in ALLOWED)


def _author_table() -> list[tuple[str, str, str, str]]:
    path = resources_dir() / "library" / "starter_credits.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(line for line in fh if line.strip() and not line.startswith("#"))
        next(rows)
        table = []
        for r in rows:
            if len(r) != 4:
                raise ValueError(f"{path}: {r!r} has {len(r)} columns, not 4")
            table.append((r[0], r[1], r[2], r[3]))
        return table


# ---- install ---------------------------------------------------------------------------------

def install_starter(root: Path | None = None, dest: Path | None = None,
                    progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Path:
    """Copy the starter recordings from the unpacked packages under `root` into `dest`
    (default `starter_dir()`); returns `dest`. Packages not unpacked are left out; none at
    all is an error that says how to fetch them."""
    root = root or media_root()
    dest = dest or starter_dir()
    present = [p for p in PACKAGES if (root / p.copyright).is_file() and (root / p.root).is_dir()]
    if not present:
        raise FoleyError(f"the starter recordings are not downloaded (nothing under {root}): "
                         "run scripts/fetch_starter_library.sh")
    authors = _author_table()
    plan: list[tuple[StarterPackage, Path, str, dict]] = []
    for pkg in present:
        stanzas = parse_dep5((root / pkg.copyright).read_text(encoding="utf-8", errors="replace"))
        base = root / pkg.root
        files = sorted({f for pat in pkg.patterns for f in base.glob(pat) if f.is_file()})
        for f in files:
            rel = f.relative_to(base).as_posix()
            stanza = dep5_match(stanzas, pkg.source_path(rel))
            if stanza is None or (stanza.files == ("*",) and pkg.name == "sonic-pi-samples"):
                # sonic-pi's catch-all stanza is the program's MIT licence, not a sample's: a
                # sample without a stanza of its own has no stated licence and is left out.
                continue
            author, lic = stanza.copyright, stanza.license
            for p_name, pattern, a, li in authors:
                if p_name == pkg.name and fnmatch.fnmatchcase(f.name, pattern):
                    author, lic = a, li
                    break
            if not _allowed(lic):
                continue
            plan.append((pkg, f, pkg.dest(rel), {"package": pkg.name, "author": author,
                                                 "license": lic, "file": f.name}))
    meter = ProgressMeter(progress, "copying the starter library", len(plan))
    credits: dict[str, dict] = {}
    for n, (pkg, src, rel, credit) in enumerate(plan):
        check(cancel)
        target = dest / pkg.name / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.exists() and target.stat().st_size == src.stat().st_size):
            _link_or_copy(src, target)
        credits[f"{pkg.name}/{rel}"] = credit
        meter.update(n + 1)
    for pkg in present:
        (dest / pkg.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / pkg.copyright, dest / pkg.name / "copyright")
    with atomic_write(dest / "credits.json", "w") as fh:
        json.dump(credits, fh, indent=1, ensure_ascii=False)
    _credits_cache.clear()
    return dest


def _link_or_copy(src: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)            # same file system: no second copy on disk
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# ---- credits ---------------------------------------------------------------------------------

_credits_cache: dict[Path, tuple[int, dict]] = {}


def _credits(base: Path) -> dict:
    path = base / "credits.json"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    cached = _credits_cache.get(path)
    if cached is None or cached[0] != mtime:
        try:
            cached = (mtime, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            cached = (mtime, {})
        _credits_cache[path] = cached
    return cached[1]


def credit_for(path: str | os.PathLike) -> str | None:
    """"default_gravel_footstep.1.ogg: Mito551, CC-BY-SA-3.0 (Debian package minetest-data)",
    or None for a file outside the starter library."""
    p = Path(os.path.abspath(path))
    base = Path(os.path.abspath(starter_dir()))
    # The starter folder may have been relinked elsewhere: find "starter-library" in the path.
    if base not in p.parents:
        parts = p.parts
        if "starter-library" not in parts:
            return None
        i = len(parts) - 1 - parts[::-1].index("starter-library")
        base = Path(*parts[: i + 1])
    c = _credits(base).get(p.relative_to(base).as_posix())
    if c is None:
        return None
    return f"{c['file']}: {c['author']}, {c['license']} (Debian package {c['package']})"
