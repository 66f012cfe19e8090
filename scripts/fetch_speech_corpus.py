#!/usr/bin/env python3
"""Fetch the real recorded speech that Debian main ships, for separation training/evaluation.

`apt-get download`s each package (no install, no dependencies) into
~/.cache/foley-desktop/speech/debs (FOLEY_SPEECH_DIR to move it), unpacks it with
`dpkg-deb -x` into .../speech/root, and prints how many utterances each package gives
(foley_desktop/separation/corpus.py lists and decodes them). Idempotent: packages already
unpacked are skipped. Nothing of it goes into git.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter

from foley_desktop.separation import corpus


def fetch(packages: list[str]) -> int:
    root = corpus.speech_root()
    debs = root.parent / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        marker = root / "usr/share/doc" / pkg / "copyright"
        if marker.is_file():
            continue
        if not list(debs.glob(f"{pkg}_*.deb")):
            r = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True,
                               text=True)
            if r.returncode != 0:
                print(f"{pkg}: apt-get download failed: {r.stderr.strip()[-300:]}",
                      file=sys.stderr)
                return 2
        deb = sorted(debs.glob(f"{pkg}_*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    counts = Counter(u.package for u in corpus.list_utterances(root))
    for pkg in packages:
        print(f"{pkg}: {counts.get(pkg, 0)} utterances "
              f"(licence: {root / 'usr/share/doc' / pkg / 'copyright'})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packages", nargs="*", default=list(corpus.PACKAGES))
    args = ap.parse_args()
    unknown = [p for p in args.packages if p not in corpus.PACKAGES]
    if unknown:
        print(f"unknown package(s) {', '.join(unknown)}; known: {', '.join(corpus.PACKAGES)}",
              file=sys.stderr)
        return 2
    return fetch(args.packages)


if __name__ == "__main__":
    sys.exit(main())
