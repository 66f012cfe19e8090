#!/usr/bin/env python3
"""Fetch the real recorded speech that Debian main ships, for separation training/evaluation.

`apt-get download`s each package (no install, no dependencies) into
~/.cache/foley-desktop/speech/debs (FOLEY_SPEECH_DIR to move it), unpacks it with
`dpkg-deb -x` into .../speech/root, and prints how many utterances each package gives
(foley_desktop/separation/corpus.py lists and decodes them). Idempotent: packages already
unpacked are skipped. Nothing of it goes into git. `--verify` then decodes every utterance of
the named packages and prints their hours (for beneath-a-steel-sky this unpacks every speech
file of sky.dsk and checks its RNC CRCs: about 40 s, pure Python).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter

from foley_desktop.errors import MediaError
from foley_desktop.separation import corpus


def verify(packages: list[str]) -> int:
    """Decode every utterance of `packages` at its own rate; print hours and time taken."""
    bad = 0
    for pkg in packages:
        utts = [u for u in corpus.list_utterances() if u.package == pkg]
        t0 = time.perf_counter()
        samples = 0
        for u in utts:
            try:
                samples += len(corpus.load(u, sr=u.rate)) * 48000 // u.rate
            except MediaError as exc:
                bad += 1
                print(f"{u.uid}: {exc}", file=sys.stderr)
        print(f"{pkg}: {len(utts)} utterances decoded, {samples / 48000 / 3600:.2f} h, "
              f"{time.perf_counter() - t0:.1f} s")
    return 1 if bad else 0


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
    ap.add_argument("--verify", action="store_true",
                    help="decode every utterance (checks the RNC CRCs of sky.dsk)")
    args = ap.parse_args()
    unknown = [p for p in args.packages if p not in corpus.PACKAGES]
    if unknown:
        print(f"unknown package(s) {', '.join(unknown)}; known: {', '.join(corpus.PACKAGES)}",
              file=sys.stderr)
        return 2
    rc = fetch(args.packages)
    if rc == 0 and args.verify:
        rc = verify(args.packages)
    return rc


if __name__ == "__main__":
    sys.exit(main())
