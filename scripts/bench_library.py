#!/usr/bin/env python3
"""Benchmark of the sound-effects library index (prints a table; not a test).

1. Scan throughput and index size: N files (default 10 000) written into a temp folder as
   short excerpts of the real recordings in the test media (minetest-data, scratch,
   sonic-pi-samples, etw-data), 16-bit WAV at their own rate, under UCS-style and plain names
   in nested folders; then `LibraryIndex.scan()` over them, timed (metadata, features,
   embedding, SQLite).
2. Search latency at N sounds: queries typed by hand, each timed (query embedding + matrix
   product + FTS keyword match + rows), median and p95, after a warm-up; the one-time load of
   the embedding matrix is reported apart.
3. Search latency at 100 000 sounds: the N real rows replicated (new ids, same words) with
   their float16 embeddings perturbed by Gaussian noise (sigma 0.02 per dimension, then
   renormalised) until the index holds 100 000 rows. Synthetic rows: they exercise the same
   code and data sizes, not new content.

    python scripts/bench_library.py [--files 10000] [--big 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foley_desktop.library.index import LibraryIndex
from foley_desktop.library.naming import split_words
from foley_desktop.library.starter import PACKAGES, media_root

QUERIES = ["footsteps on gravel", "a door slams shut", "fire crackling", "water dripping in a cave",
           "crowd cheering in a stadium", "glass breaking", "dog barking", "metal impact",
           "wind through trees", "explosion with debris", "wooden door creak", "someone walks on snow",
           "car passing by", "bubbles in water", "horse galloping", "typing on a keyboard",
           "heavy thud on the floor", "rain on a roof", "bird chirping", "a bell tolls"]
CATIDS = ["FEETHmn", "DOORWood", "DOORMetl", "METLImpt", "WATRDrip", "WATRFlow", "FIREBurn",
          "GLASBrk", "WOODImpt", "AMBForst", "CROWDGen", "EXPLReal", "ANMLMisc", "VEHMisc"]


def _sources() -> list[tuple[Path, np.ndarray, int]]:
    root = media_root()
    out = []
    for pkg in PACKAGES:
        base = root / pkg.root
        for pat in pkg.patterns:
            for f in sorted(base.glob(pat)):
                try:
                    x, sr = sf.read(str(f), dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError):
                    continue
                if len(x) > sr // 10:
                    out.append((f, x.mean(axis=1), sr))
    if not out:
        sys.exit(f"no test media under {root}: run scripts/fetch_test_media.sh first")
    return out


def make_files(folder: Path, n: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    src = _sources()
    total = 0
    for i in range(n):
        f, x, sr = src[i % len(src)]
        length = min(len(x), int(sr * rng.uniform(0.25, 2.0)))
        start = rng.randrange(0, max(1, len(x) - length))
        words = [w.capitalize() for w in split_words(f.stem)] or ["Sound"]
        if i % 2:
            name = f"{rng.choice(CATIDS)}_{' '.join(words)} {i}_BENCH_LIB{i % 7}.wav"
        else:
            name = f"{f.stem}_{i:05d}.wav"
        sub = folder / f"vol{i % 10}" / (f.parent.name or "misc")
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(str(sub / name), x[start:start + length], sr, subtype="PCM_16")
        total += (sub / name).stat().st_size
    return total


def _db_size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def time_searches(lib: LibraryIndex, rounds: int = 3) -> tuple[float, float, float]:
    """(matrix load s, median ms, p95 ms) over `rounds` passes of QUERIES."""
    lib._matrix = None                                # force the one-time load
    lib.search("warm up", limit=20)
    load = lib.matrix_load_s or 0.0
    times = []
    for _ in range(rounds):
        for q in QUERIES:
            t = time.perf_counter()
            lib.search(q, limit=20)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return load, statistics.median(times), times[int(0.95 * (len(times) - 1))]


def grow(db: Path, target: int, seed: int = 0) -> int:
    """Replicate rows (perturbed embeddings) until the index holds `target` sounds."""
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(str(db))
    cols = [r[1] for r in con.execute("PRAGMA table_info(sounds)") if r[1] != "id"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM sounds").fetchall()
    n = con.execute("SELECT COUNT(*) FROM sounds").fetchone()[0]
    ei, ri, wi = cols.index("embedding"), cols.index("relpath"), cols.index("words")
    copy = 0
    while n < target:
        copy += 1
        batch = []
        for r in rows[: target - n]:
            r = list(r)
            e = np.frombuffer(r[ei], np.float16).astype(np.float32)
            e = e + rng.normal(0, 0.02, e.shape).astype(np.float32)
            r[ei] = (e / np.linalg.norm(e)).astype(np.float16).tobytes()
            r[ri] = f"synthetic{copy}/{r[ri]}"
            batch.append(r)
        for r in batch:
            cur = con.execute(f"INSERT INTO sounds({', '.join(cols)}) VALUES({', '.join('?' * len(cols))})", r)
            con.execute("INSERT INTO sounds_fts(rowid, words) VALUES(?, ?)", (cur.lastrowid, r[wi]))
        n += len(batch)
    con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    con.commit()
    con.close()
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="foley-bench-library-"))
    work.mkdir(parents=True, exist_ok=True)
    folder, db = work / "SFX", work / "library.sqlite"
    rows = []
    try:
        if not folder.is_dir():
            t = time.perf_counter()
            size = make_files(folder, a.files)
            print(f"wrote {a.files} files ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        lib = LibraryIndex(db)
        lib.add_folder(folder)
        report = lib.scan()
        scanned = report.added + report.updated
        rows.append(("scan", f"{scanned} files in {report.seconds:.1f} s",
                     f"{scanned / max(report.seconds, 1e-9):.1f} files/s"))
        rows.append(("skipped", str(len(report.skipped)), ""))
        t = time.perf_counter()
        again = lib.scan()
        rows.append(("rescan (nothing changed)", f"{again.unchanged} unchanged",
                     f"{time.perf_counter() - t:.2f} s"))
        lib._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        per = _db_size(db) / max(lib.count(), 1) / 1024
        rows.append(("index size", f"{lib.count()} sounds", f"{_db_size(db) / 1e6:.1f} MB ({per:.1f} KiB/sound)"))
        load, med, p95 = time_searches(lib)
        rows.append((f"search at {lib.count()}", f"median {med:.1f} ms, p95 {p95:.1f} ms",
                     f"matrix load {load * 1000:.0f} ms"))
        lib.close()
        big = work / "library-big.sqlite"
        shutil.copyfile(db, big)
        n = grow(big, a.big)
        lib = LibraryIndex(big)
        load, med, p95 = time_searches(lib)
        rows.append((f"search at {n} (synthetic)", f"median {med:.1f} ms, p95 {p95:.1f} ms",
                     f"matrix load {load * 1000:.0f} ms"))
        lib._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows.append(("index size", f"{n} sounds", f"{_db_size(big) / 1e6:.1f} MB"))
        lib.close()
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    w = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    print(f"library benchmark ({os.cpu_count()} CPUs)")
    for r in rows:
        print(f"  {r[0]:<{w}}  {r[1]:<{w2}}  {r[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
