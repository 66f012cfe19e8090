"""`foley-desktop library ...`: index and search the editor's sound-effects library.

    library add DIR | --starter     add a folder (or the starter library) and scan it
    library scan                    re-read what changed in every folder
    library search "TEXT" [--limit N] [--continuous | --hits] [--json]
    library info FILE [--json]
    library folders | remove DIR | relink OLD NEW
Every verb takes --db PATH (default: the user data folder's library.sqlite).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from foley_desktop.jobs import Progress

HELP = "index and search your sound-effects library (add, scan, search, info, folders, remove, relink)"


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", help="index file (default: library.sqlite in the "
                        "user data folder; FOLEY_DESKTOP_DATA moves that folder)")
    sub = parser.add_subparsers(dest="library_verb", metavar="VERB", required=True)

    p = sub.add_parser("add", parents=[common], help="add a folder of sounds and scan it")
    p.add_argument("folder", nargs="?", help="folder of WAV/BWF/FLAC/AIFF/OGG/MP3 files")
    p.add_argument("--starter", action="store_true",
                   help="add the starter library (recordings from Debian packages; run "
                        "scripts/fetch_starter_library.sh first)")
    p.add_argument("--no-scan", action="store_true", help="add only; scan later")
    p.add_argument("--json", action="store_true", help="print the scan report as JSON")

    p = sub.add_parser("scan", parents=[common], help="read new and changed files in every folder")
    p.add_argument("--json", action="store_true", help="print the scan report as JSON")

    p = sub.add_parser("search", parents=[common], help="find sounds by text")
    p.add_argument("text", help='what it sounds like, e.g. "footsteps on gravel"')
    p.add_argument("--limit", type=int, default=20, help="how many results (default 20)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--continuous", action="store_true", help="only sustained textures (rain, fire …)")
    g.add_argument("--hits", action="store_true", help="only discrete hits (steps, impacts …)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("info", parents=[common], help="what the index knows about one file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("folders", parents=[common], help="list the library folders")

    p = sub.add_parser("remove", parents=[common], help="forget a folder (its files stay)")
    p.add_argument("folder")

    p = sub.add_parser("relink", parents=[common], help="a library folder moved: point the index at its new place")
    p.add_argument("old")
    p.add_argument("new")


def _progress(p: Progress) -> None:
    if not sys.stderr.isatty():
        return
    if p.total > 0:
        eta = f", {p.eta_s:.0f} s left" if p.eta_s else ""
        sys.stderr.write(f"\r{p.stage}: {int(p.done)}/{int(p.total)}{eta}   ")
    else:
        sys.stderr.write(f"\r{p.stage}: {int(p.done)}   ")
    sys.stderr.flush()


def _print(text: str) -> None:
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:      # `... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _scan_and_report(lib, args) -> int:
    report = lib.scan(progress=_progress)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if getattr(args, "json", False):
        _print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return 0
    _print(f"scan: {report.summary()}; {lib.count()} sounds in the index")
    for path, why in report.skipped[:20]:
        _print(f"  skipped {path}: {why}")
    if len(report.skipped) > 20:
        _print(f"  … and {len(report.skipped) - 20} more (--json lists them all)")
    return 0


def run(args) -> int:
    from foley_desktop.library.index import LibraryError, LibraryIndex

    lib = LibraryIndex(args.db)
    verb = args.library_verb
    if verb == "add":
        if args.starter == bool(args.folder):
            raise LibraryError("give a folder to add, or --starter (not both)")
        if args.starter:
            from foley_desktop.library.starter import install_starter

            folder = install_starter(progress=_progress)
        else:
            folder = args.folder
        added = lib.add_folder(folder)
        if not args.json:
            _print(f"library folder: {added}")
        return 0 if args.no_scan else _scan_and_report(lib, args)
    if verb == "scan":
        if not lib.folders():
            raise LibraryError("no library folders yet: `foley-desktop library add DIR`")
        return _scan_and_report(lib, args)
    if verb == "search":
        cont = True if args.continuous else False if args.hits else None
        hits = lib.search(args.text, limit=args.limit, continuous=cont)
        if args.json:
            _print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        elif not hits:
            _print("no sounds in the index" if not lib.count() else "no match")
        else:
            for h in hits:
                kind = "bed" if h.continuous else f"{len(h.onsets_s)} hit" + ("s" if len(h.onsets_s) != 1 else "")
                cat = "/".join(x for x in (h.category, h.subcategory) if x) or "-"
                _print(f"{h.score:6.3f}  {h.duration_s:7.2f} s  {kind:8s}  {cat:20s}  {h.path}")
        return 0
    if verb == "info":
        hit = lib.info(args.file)
        if hit is None:
            raise LibraryError(f"not in the library index: {args.file}")
        if args.json:
            _print(json.dumps(hit.to_dict(), indent=2, ensure_ascii=False))
            return 0
        rows = [("file", str(hit.path)), ("folder", hit.source), ("format", hit.format),
                ("duration", f"{hit.duration_s:.3f} s"), ("channels", str(hit.channels)),
                ("sample rate", f"{hit.sample_rate} Hz"),
                ("category", "/".join(x for x in (hit.category, hit.subcategory) if x) or "-"),
                ("FX name", hit.fx_name or "-"), ("description", hit.description or "-"),
                ("words", hit.words),
                ("loudness", "-" if hit.loudness_lufs is None else f"{hit.loudness_lufs:.1f} LUFS (approx.)"),
                ("peak", "-" if hit.peak_db is None else f"{hit.peak_db:.1f} dBFS"),
                ("centroid", "-" if hit.centroid_hz is None else f"{hit.centroid_hz:.0f} Hz"),
                ("kind", "continuous (bed)" if hit.continuous else "hits"),
                ("onsets", ", ".join(f"{t:.3f}" for t in hit.onsets_s[:16])
                 + (" …" if len(hit.onsets_s) > 16 else "") or "-"),
                ("credit", hit.credit or "-")]
        width = max(len(k) for k, _ in rows)
        _print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
        return 0
    if verb == "folders":
        folders = lib.folders()
        _print("\n".join(f"{f}{'' if f.is_dir() else '  (not found: relink it)'}" for f in folders)
               if folders else "no library folders yet: `foley-desktop library add DIR`")
        return 0
    if verb == "remove":
        n = lib.remove_folder(args.folder)
        _print(f"removed {args.folder} ({n} sounds forgotten; the files are untouched)")
        return 0
    if verb == "relink":
        n = lib.relink(args.old, args.new)
        _print(f"relinked {args.old} -> {args.new} ({n} sounds kept; `library scan` reads only changes)")
        return 0
    raise LibraryError(f"unknown library verb {verb!r}")
