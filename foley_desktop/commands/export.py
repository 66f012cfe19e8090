"""`foley-desktop export P.foley -o DIR`: stems, per-take files and timeline files for an NLE."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from foley_desktop.errors import ExportError

HELP = "export a project's stems, takes and timeline files"


def _csv(choices):
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(bad)} (choose from "
                                             f"{', '.join(choices)})")
        return items
    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    from foley_desktop.export.export import DEFAULT_STEMS
    from foley_desktop.export.timeline import FORMATS

    parser.add_argument("project", type=Path, help="the .foley project")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="folder for the exported files (created if needed)")
    parser.add_argument("--format", default="wav24", choices=["wav24", "wav32f"],
                        help="48 kHz 24-bit PCM (default) or 32-bit float")
    parser.add_argument("--stems", type=_csv(DEFAULT_STEMS), default=list(DEFAULT_STEMS),
                        metavar="LIST", help="full-length stems, comma-separated among "
                        f"{','.join(DEFAULT_STEMS)} (default: all)")
    parser.add_argument("--timeline", type=_csv(tuple(FORMATS)), default=["otio"], metavar="LIST",
                        help=f"timeline files, comma-separated among {','.join(FORMATS)} "
                        "(default: otio). fcp7xml: Premiere/Resolve; fcpxml: Final Cut Pro/"
                        "Resolve; aaf: Avid/Pro Tools; edl: CMX 3600; kdenlive: Kdenlive/melt")
    parser.add_argument("--no-timeline", action="store_true", help="write no timeline file")
    parser.add_argument("--takes", default="active", choices=["active", "all", "none"],
                        help="per-take files: each segment's active take (default), all takes "
                        "(alternates on disabled timeline tracks) or none")
    parser.add_argument("--mux", action="store_true",
                        help="also write a copy of the clip with the mix as an extra audio track")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _progress_printer():
    if not sys.stderr.isatty():
        return None
    last = {"stage": None}

    def show(p) -> None:
        if p.stage != last["stage"] and last["stage"] is not None:
            sys.stderr.write("\n")
        last["stage"] = p.stage
        sys.stderr.write(f"\r{p.stage}: {100 * p.fraction:3.0f}%   ")
        sys.stderr.flush()

    return show


def run(args) -> int:
    from foley_desktop.export.export import export_project
    from foley_desktop.project import io

    project = io.load(args.project)
    timelines = [] if args.no_timeline else args.timeline
    if not args.stems and args.takes == "none" and not timelines:
        raise ExportError("nothing to export: no stems, no takes, no timeline")
    progress = _progress_printer()
    result = export_project(project, args.output, format=args.format, stems=args.stems,
                            timelines=timelines, takes=args.takes, mux=args.mux,
                            progress=progress)
    if progress is not None:
        sys.stderr.write("\n")
    if args.json:
        print(json.dumps({"files": [str(f) for f in result.files], "notes": result.notes}, indent=2))
        return 0
    for f in result.files:
        print(f)
    for n in result.notes:
        print(f"note: {n}", file=sys.stderr)
    return 0
