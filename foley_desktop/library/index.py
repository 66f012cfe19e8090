"""The sound-effects library index: folders, an incremental scan, and text search.

Stored in one SQLite file (`user_data_dir()/library.sqlite` unless a path is given). A sound's
path is kept relative to its library folder, so a moved folder is relinked by rewriting one
row. A scan lists each folder, compares path + size + mtime with what is stored, and reads
only new or changed files (metadata, audio features, a text embedding), committing every
second so that a killed scan keeps its work. Files that cannot be used are remembered with
their reason and reported, and not read again until they change.

Search scores each sound by the cosine similarity of its text embedding with the query's (one
float32 matrix product over all sounds, the matrix loaded lazily from the SQLite blobs) plus
`KEYWORD_WEIGHT` times the share of the query's words found in the sound's words (SQLite FTS5
prefix queries; LIKE where SQLite lacks FTS5), so an exact word in a name or description lifts
a sound above ones that are only near in meaning.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from foley_desktop.errors import Cancelled, FoleyError
from foley_desktop.jobs import CancelToken, Progress, ProgressFn, ProgressMeter, check
from foley_desktop.library.features import DEFAULT_MAX_SECONDS, analyse_file
from foley_desktop.library.metadata import AUDIO_EXTENSIONS, SkipFile, read_metadata
from foley_desktop.library.naming import content_words
from foley_desktop.paths import user_data_dir

log = logging.getLogger(__name__)

KEYWORD_WEIGHT = 0.25
SCHEMA = 1
# Version of the text a sound is embedded from (embed.sound_text, naming.folder_words).
TEXT_VERSION = 2
# Stamped on every row: a sound analysed by an older feature extractor or text encoder is
# read again by the next scan even though its file did not change. Bump on any change to
# features.py's results, embed.sound_text or the encoder.
ANALYSIS = "features 2, text foley-tiny minilm-int8 mean-pooled"
COMMIT_EVERY_S = 1.0
_STOP = frozenset([
    "a", "an", "the", "on", "in", "of", "with", "and", "at", "to", "from", "into", "onto",
    "for", "by", "over", "under", "off", "someone", "something", "somebody", "some", "is",
    "are", "being",
])


class LibraryError(FoleyError):
    """A library folder or index problem the user can fix (one line)."""


@dataclass
class SoundHit:
    path: Path
    score: float
    name: str
    category: str | None
    subcategory: str | None
    fx_name: str | None
    description: str
    duration_s: float
    channels: int
    sample_rate: int
    loudness_lufs: float | None
    onsets_s: list[float]
    continuous: bool
    source: str
    credit: str | None
    peak_db: float | None = None
    centroid_hz: float | None = None
    format: str = ""
    words: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        d["score"] = round(float(self.score), 4)
        return d


@dataclass
class ScanReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "removed": self.removed, "seconds": round(self.seconds, 3),
                "skipped": [{"path": str(p), "reason": r} for p, r in self.skipped]}

    def summary(self) -> str:
        return (f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.removed} removed, {len(self.skipped)} skipped in {self.seconds:.1f} s")


def default_db_path() -> Path:
    return user_data_dir() / "library.sqlite"


_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS folders(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS sounds(
  id INTEGER PRIMARY KEY, folder_id INTEGER NOT NULL, relpath TEXT NOT NULL,
  size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, format TEXT, duration_s REAL,
  channels INTEGER, sample_rate INTEGER, name TEXT, category TEXT, subcategory TEXT,
  fx_name TEXT, cat_id TEXT, creator_id TEXT, source_id TEXT, description TEXT, tags TEXT,
  words TEXT, loudness_lufs REAL, peak_db REAL, centroid_hz REAL, continuous INTEGER,
  onsets TEXT, credit TEXT, embedding BLOB NOT NULL, analysis TEXT, UNIQUE(folder_id, relpath));
CREATE TABLE IF NOT EXISTS skipped(
  folder_id INTEGER NOT NULL, relpath TEXT NOT NULL, size INTEGER, mtime_ns INTEGER,
  reason TEXT, PRIMARY KEY(folder_id, relpath));
"""


def _norm(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


class LibraryIndex:
    def __init__(self, db_path: str | os.PathLike | None = None) -> None:
        self.db_path = _norm(db_path) if db_path is not None else default_db_path()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.db_path), check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")   # searches read while a scan writes
            self._db.executescript(_SCHEMA_SQL)
            self._fts = self._make_fts()
            if "analysis" not in {r[1] for r in self._db.execute("PRAGMA table_info(sounds)")}:
                self._db.execute("ALTER TABLE sounds ADD COLUMN analysis TEXT")  # first-day indexes
            self._db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA),))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES('generation', '0')")
            self._db.commit()
            stored = int(self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"cannot open the library index {self.db_path}: {exc}") from None
        except OSError as exc:
            raise LibraryError(f"cannot create the library index {self.db_path}: "
                               f"{exc.strerror or exc}") from None
        if stored > SCHEMA:
            self._db.close()
            raise LibraryError(f"the library index {self.db_path} was written by a newer Foley "
                               "Desktop; update the app or use another --db")
        # The words a sound is embedded from changed (embed.TEXT_VERSION): the next scan reads
        # every file again instead of keeping embeddings made from the old words.
        row = self._db.execute("SELECT value FROM meta WHERE key = 'text_version'").fetchone()
        if row is None or row[0] != str(TEXT_VERSION):
            with self._db:
                if row is not None or self._db.execute("SELECT 1 FROM sounds LIMIT 1").fetchone():
                    self._db.execute("UPDATE sounds SET mtime_ns = -1")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES('text_version', ?)",
                                 (str(TEXT_VERSION),))
        self._lock = threading.RLock()
        self._matrix: np.ndarray | None = None
        self._ids: np.ndarray | None = None
        self._continuous: np.ndarray | None = None
        self._loaded_generation: str | None = None
        self.matrix_load_s: float | None = None

    def _make_fts(self) -> bool:
        try:
            self._db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS sounds_fts USING fts5(words)")
            return True
        except sqlite3.OperationalError:  # SQLite built without FTS5: keyword match by LIKE
            return False

    def close(self) -> None:
        self._db.close()

    # ---- folders ------------------------------------------------------------------------

    def folders(self) -> list[Path]:
        with self._lock:
            return [Path(p) for (p,) in self._db.execute("SELECT path FROM folders ORDER BY path")]

    def _folder_rows(self) -> list[tuple[int, Path]]:
        return [(i, Path(p)) for i, p in self._db.execute("SELECT id, path FROM folders ORDER BY path")]

    def add_folder(self, path: str | os.PathLike) -> Path:
        p = _norm(path)
        if not p.is_dir():
            raise LibraryError(f"not a folder: {p}")
        with self._lock:
            for _, q in self._folder_rows():
                if q == p:
                    return p
                if q in p.parents:
                    raise LibraryError(f"{p} is inside the library folder {q}, which is already indexed")
                if p in q.parents:
                    raise LibraryError(f"{p} contains the library folder {q}; remove that one first")
            self._db.execute("INSERT INTO folders(path) VALUES(?)", (str(p),))
            self._db.commit()
        return p

    def _folder_id(self, path: str | os.PathLike) -> int:
        p = _norm(path)
        row = self._db.execute("SELECT id FROM folders WHERE path = ?", (str(p),)).fetchone()
        if row is None:
            raise LibraryError(f"not a library folder: {p} (see `foley-desktop library folders`)")
        return int(row[0])

    def remove_folder(self, path: str | os.PathLike) -> int:
        """Forget a folder and its sounds (the files are not touched); returns how many."""
        with self._lock:
            fid = self._folder_id(path)
            ids = [i for (i,) in self._db.execute("SELECT id FROM sounds WHERE folder_id = ?", (fid,))]
            self._delete_ids(ids)
            self._db.execute("DELETE FROM skipped WHERE folder_id = ?", (fid,))
            self._db.execute("DELETE FROM folders WHERE id = ?", (fid,))
            self._bump()
            self._db.commit()
            return len(ids)

    def relink(self, old_folder: str | os.PathLike, new_folder: str | os.PathLike) -> int:
        """A library folder moved: point its sounds at the new place (nothing is re-read; the
        next scan reads only files that differ there). Returns the number of sounds kept."""
        new = _norm(new_folder)
        if not new.is_dir():
            raise LibraryError(f"not a folder: {new}")
        with self._lock:
            fid = self._folder_id(old_folder)
            for other_id, q in self._folder_rows():
                if other_id != fid and (q == new or q in new.parents or new in q.parents):
                    raise LibraryError(f"{new} overlaps the library folder {q}")
            self._db.execute("UPDATE folders SET path = ? WHERE id = ?", (str(new), fid))
            self._bump()
            self._db.commit()
            return int(self._db.execute("SELECT COUNT(*) FROM sounds WHERE folder_id = ?",
                                        (fid,)).fetchone()[0])

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM sounds").fetchone()[0])

    # ---- scanning -----------------------------------------------------------------------

    def scan(self, progress: ProgressFn | None = None, cancel: CancelToken | None = None,
             max_seconds: float = DEFAULT_MAX_SECONDS) -> ScanReport:
        t0 = time.monotonic()
        report = ScanReport()
        todo = self._list_changes(report, progress, cancel)
        self._process(todo, report, progress, cancel, max_seconds)
        report.seconds = time.monotonic() - t0
        return report

    def _list_changes(self, report: ScanReport, progress: ProgressFn | None,
                      cancel: CancelToken | None) -> list[tuple]:
        todo: list[tuple] = []
        listed = 0
        with self._lock:
            folders = self._folder_rows()
        # The walk holds no lock: a search from another thread goes on while a large library
        # is listed; only the reads and writes of the index take it.
        for fid, root in folders:
            if not root.is_dir():
                # Keep its sounds: an unplugged drive or a moved folder is relinked, not re-read.
                report.skipped.append((root, ("library folder not found (unplugged or moved? "
                                              "`foley-desktop library relink OLD NEW`)")))
                continue
            with self._lock:
                known = {r: (i, s, m, a) for i, r, s, m, a in self._db.execute(
                    "SELECT id, relpath, size, mtime_ns, analysis FROM sounds WHERE folder_id = ?", (fid,))}
                bad = {r: (s, m, why) for r, s, m, why in self._db.execute(
                    "SELECT relpath, size, mtime_ns, reason FROM skipped WHERE folder_id = ?", (fid,))}
            seen: set[str] = set()
            for dirpath, dirnames, filenames in os.walk(root):
                check(cancel)
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for d in dirnames:
                    if os.path.splitext(d)[1].lower() in AUDIO_EXTENSIONS:
                        report.skipped.append((Path(dirpath, d), "is a folder, not a file"))
                for name in sorted(filenames):
                    if name.startswith(".") or os.path.splitext(name)[1].lower() not in AUDIO_EXTENSIONS:
                        continue
                    full = Path(dirpath, name)
                    rel = full.relative_to(root).as_posix()
                    try:
                        st = full.stat()
                    except OSError as exc:
                        report.skipped.append((full, "vanished during the scan" if isinstance(
                            exc, FileNotFoundError) else f"cannot read: {exc.strerror or exc}"))
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        report.skipped.append((full, "not a regular file"))
                        continue
                    seen.add(rel)
                    listed += 1
                    if progress is not None and listed % 500 == 0:
                        progress(Progress("listing files", listed, 0))
                    k = known.get(rel)
                    if k is not None and k[1] == st.st_size and k[2] == st.st_mtime_ns and k[3] == ANALYSIS:
                        report.unchanged += 1
                        continue
                    b = bad.get(rel)
                    if b is not None and b[0] == st.st_size and b[1] == st.st_mtime_ns:
                        report.skipped.append((full, b[2]))
                        continue
                    todo.append((fid, root, rel, k[0] if k else None))
            gone = [k[0] for r, k in known.items() if r not in seen]
            with self._lock:
                self._delete_ids(gone)
                self._db.executemany("DELETE FROM skipped WHERE folder_id = ? AND relpath = ?",
                                     [(fid, r) for r in bad if r not in seen])
            report.removed += len(gone)
        with self._lock:
            if report.removed:
                self._bump()
            self._db.commit()
        return todo

    def _process(self, todo: list[tuple], report: ScanReport, progress: ProgressFn | None,
                 cancel: CancelToken | None,
                 max_seconds: float) -> None:
        from foley_desktop.library.embed import embedder, sound_text
        from foley_desktop.library.starter import credit_for

        meter = ProgressMeter(progress, "scanning", len(todo))
        meter.update(0)
        enc = embedder() if todo else None  # loads the text encoder only when there is work
        last_commit = time.monotonic()
        try:
            for n, (fid, root, rel, old_id) in enumerate(todo):
                check(cancel)
                path = root / rel
                try:
                    meta = read_metadata(path)
                    feats = analyse_file(path, max_seconds=max_seconds, cancel=cancel)
                except SkipFile as exc:
                    self._skip(fid, path, rel, str(exc), report)
                    continue
                except Cancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - one odd file must not stop a 100k scan
                    self._skip(fid, path, rel, f"could not be analysed ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:120]})", report)
                    continue
                text = sound_text(meta, root)
                if enc is None:
                    enc = embedder()
                emb = enc.embed(text)
                u = meta.ucs
                words = " ".join(dict.fromkeys(
                    text.split() + content_words(path.stem)
                    + ([w.lower() for w in (u.cat_id, u.creator_id, u.source_id) if w] if u else [])))
                row = {"folder_id": fid, "relpath": rel, "size": meta.size, "mtime_ns": meta.mtime_ns,
                       "format": meta.format, "duration_s": meta.duration_s, "channels": meta.channels,
                       "sample_rate": meta.sample_rate, "name": path.name,
                       "category": u.category if u else None, "subcategory": u.subcategory if u else None,
                       "fx_name": u.fx_name if u else None, "cat_id": u.cat_id if u else None,
                       "creator_id": u.creator_id if u else None, "source_id": u.source_id if u else None,
                       "description": meta.description, "tags": json.dumps(meta.tags), "words": words,
                       "loudness_lufs": feats.loudness_lufs, "peak_db": feats.peak_db,
                       "centroid_hz": feats.centroid_hz, "continuous": int(feats.continuous),
                       "onsets": json.dumps([round(t, 4) for t in feats.onsets_s]),
                       "credit": credit_for(path),
                       "embedding": emb.astype(np.float16).tobytes(), "analysis": ANALYSIS}
                with self._lock:
                    if old_id is not None:
                        self._delete_ids([old_id])
                    cols = ", ".join(row)
                    cur = self._db.execute(f"INSERT INTO sounds({cols}) VALUES({', '.join('?' * len(row))})",
                                           tuple(row.values()))
                    if self._fts:
                        self._db.execute("INSERT INTO sounds_fts(rowid, words) VALUES(?, ?)",
                                         (cur.lastrowid, words))
                    self._db.execute("DELETE FROM skipped WHERE folder_id = ? AND relpath = ?", (fid, rel))
                if old_id is None:
                    report.added += 1
                else:
                    report.updated += 1
                meter.update(n + 1)
                if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    self._commit_batch()
                    last_commit = time.monotonic()
        finally:
            # Cancelled, killed by an error, or done: what was read so far is kept.
            self._commit_batch()

    def _commit_batch(self) -> None:
        with self._lock:
            self._bump()
            self._db.commit()

    def _skip(self, fid: int, path: Path, rel: str, reason: str, report: ScanReport) -> None:
        report.skipped.append((path, reason))
        log.info("library scan skips %s: %s", path, reason)
        try:
            st = path.stat()
        except OSError:
            return  # vanished: nothing to remember it by
        with self._lock:
            old = self._db.execute("SELECT id FROM sounds WHERE folder_id = ? AND relpath = ?",
                                   (fid, rel)).fetchone()
            if old is not None:       # it was a good sound and has gone bad: drop it
                self._delete_ids([old[0]])
                report.removed += 1
            self._db.execute("INSERT OR REPLACE INTO skipped VALUES(?, ?, ?, ?, ?)",
                             (fid, rel, st.st_size, st.st_mtime_ns, reason))

    def _delete_ids(self, ids: list[int]) -> None:
        if not ids:
            return
        self._db.executemany("DELETE FROM sounds WHERE id = ?", [(i,) for i in ids])
        if self._fts:
            self._db.executemany("DELETE FROM sounds_fts WHERE rowid = ?", [(i,) for i in ids])

    def _bump(self) -> None:
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # ---- search -------------------------------------------------------------------------

    def _generation(self) -> str:
        return self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]

    def _load_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings [n, D], sound ids [n], continuous [n]), read again when the index changed."""
        gen = self._generation()
        if (self._matrix is not None and self._ids is not None and self._continuous is not None
                and gen == self._loaded_generation):
            return self._matrix, self._ids, self._continuous
        t0 = time.perf_counter()
        rows = self._db.execute("SELECT id, continuous, embedding FROM sounds ORDER BY id").fetchall()
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), np.int64, n)
        cont = np.fromiter((bool(r[1]) for r in rows), bool, n)
        buf = b"".join(r[2] for r in rows)
        mat = np.frombuffer(buf, np.float16).reshape(n, -1).astype(np.float32) if n else np.zeros((0, 1), np.float32)
        self._matrix, self._ids, self._continuous = mat, ids, cont
        self._loaded_generation = gen
        self.matrix_load_s = time.perf_counter() - t0
        return mat, ids, cont

    def search(self, text: str, limit: int = 20, continuous: bool | None = None) -> list[SoundHit]:
        if not text or not text.strip():
            raise LibraryError("the search text is empty: describe the sound")
        if limit <= 0:
            raise LibraryError(f"the limit must be positive, not {limit}")
        from foley_desktop.engine.prompt_reading import read_prompt
        from foley_desktop.library.embed import embedder

        # A description in Chinese, Spanish … is searched as its English reading (the
        # encoder and most libraries' names are English); English comes back unchanged.
        text = read_prompt(text).text_en
        with self._lock:
            mat, ids, cont = self._load_matrix()
            if not len(ids):
                return []
            q = embedder().embed(" ".join(text.split()))
            if q.shape[0] != mat.shape[1]:
                raise LibraryError("the index was built with another text encoder: rescan it")
            # einsum, not `mat @ q`: OpenBLAS threads its matrix-vector product, and on a busy
            # machine its threads wait on each other (3k sounds: 12 ms threaded vs 0.2 ms here;
            # 100k: 44 vs 28 ms, measured on the 2-core development machine under load).
            score = np.einsum("ij,j->i", mat, q)
            terms = query_terms(text)
            if terms:
                # Each matched word counts by its rarity in the library (inverse document
                # frequency): in "footsteps on a metal walkway", "metal" says more than
                # "footsteps", which half the footstep recordings share.
                hits = np.zeros(len(ids), np.float32)
                total = 0.0
                for term in terms:
                    matched = self._keyword_ids(term)
                    if not len(matched):
                        continue
                    weight = math.log((len(ids) + 1) / (len(matched) + 1)) + 1.0
                    total += weight
                    pos = np.searchsorted(ids, matched)
                    ok = (pos < len(ids))
                    pos = pos[ok]
                    pos = pos[ids[pos] == matched[ok]]
                    hits[pos] += weight
                if total > 0:
                    score = score + KEYWORD_WEIGHT * hits / total
            if continuous is not None:
                score = np.where(cont == continuous, score, -np.inf)
            k = min(limit, int(np.isfinite(score).sum()))
            if k <= 0:
                return []
            top = np.argpartition(-score, k - 1)[:k]
            top = top[np.argsort(-score[top], kind="stable")]
            return [self._hit(int(ids[i]), float(score[i])) for i in top]

    def _keyword_ids(self, term: str) -> np.ndarray:
        if self._fts:
            rows = self._db.execute("SELECT rowid FROM sounds_fts WHERE sounds_fts MATCH ? ORDER BY rowid",
                                    (f'"{term}"*',)).fetchall()
        else:
            rows = self._db.execute("SELECT id FROM sounds WHERE ' ' || words LIKE ? ORDER BY id",
                                    (f"% {term}%",)).fetchall()
        return np.fromiter((r[0] for r in rows), np.int64, len(rows))

    _COLS = ("id, folder_id, relpath, name, category, subcategory, fx_name, description, duration_s, "
             "channels, sample_rate, loudness_lufs, onsets, continuous, credit, peak_db, centroid_hz, "
             "format, words")

    def _hit(self, sound_id: int, score: float) -> SoundHit:
        r = self._db.execute(f"SELECT {self._COLS} FROM sounds WHERE id = ?", (sound_id,)).fetchone()
        return self._row_hit(r, score)

    def _row_hit(self, r: Sequence[Any], score: float) -> SoundHit:
        folder = self._db.execute("SELECT path FROM folders WHERE id = ?", (r[1],)).fetchone()[0]
        return SoundHit(path=Path(folder) / r[2], score=score, name=r[3], category=r[4],
                        subcategory=r[5], fx_name=r[6], description=r[7] or "", duration_s=r[8],
                        channels=r[9], sample_rate=r[10], loudness_lufs=r[11],
                        onsets_s=json.loads(r[12] or "[]"), continuous=bool(r[13]), source=folder,
                        credit=r[14], peak_db=r[15], centroid_hz=r[16], format=r[17] or "",
                        words=r[18] or "")

    def info(self, path: str | os.PathLike) -> SoundHit | None:
        p = _norm(path)
        with self._lock:
            for fid, root in self._folder_rows():
                if root in p.parents:
                    r = self._db.execute(f"SELECT {self._COLS} FROM sounds WHERE folder_id = ? AND relpath = ?",
                                         (fid, p.relative_to(root).as_posix())).fetchone()
                    return self._row_hit(r, 1.0) if r is not None else None
        return None

    def skipped(self) -> list[tuple[Path, str]]:
        """Files the last scans could not use, with the reason."""
        with self._lock:
            rows = self._db.execute("SELECT f.path, s.relpath, s.reason FROM skipped s "
                                    "JOIN folders f ON f.id = s.folder_id ORDER BY 1, 2").fetchall()
        return [(Path(f) / r, why) for f, r, why in rows]


def query_terms(text: str) -> list[str]:
    """The query's content words, reduced to a stem that prefix-matches other forms
    ("footsteps" -> "footstep", "crackling" -> "crackl", "doors" -> "door")."""
    out: list[str] = []
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        if w in _STOP or len(w) < 2 or w.isdigit():
            continue
        if (w.endswith("ing") and len(w) > 5) or (w.endswith("ies") and len(w) > 4):
            w = w[:-3]
        elif w.endswith(("ses", "xes", "ches", "shes")) and len(w) > 4:
            w = w[:-2]
        elif w.endswith("s") and not w.endswith("ss") and len(w) > 3:
            w = w[:-1]
        elif w.endswith("ed") and len(w) > 4:
            w = w[:-2]
        if w not in out:
            out.append(w)
    return out
